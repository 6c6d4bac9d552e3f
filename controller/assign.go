package controller

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Replica assignment follows the semantics of Kafka's
// AdminUtils.assignReplicasToBrokers (written here from its description,
// not its code):
//
//   - Brokers are ordered by id. Without rack information, partition p's
//     first replica is broker (start+p) mod n, and its other replicas follow
//     it at distance 1+((shift+j) mod (n-1)) for j = 0..rf-2, where start and
//     shift are random and shift grows by one every n partitions, so that
//     followers of one leader spread over the other brokers.
//   - With a rack on every broker, the broker list is first interleaved by
//     rack (first broker of each rack, then the second of each, …), the
//     first replica is chosen the same way, and each further replica is the
//     next candidate (walking as above, with the shift multiplied by the
//     number of racks) whose rack holds no replica yet — unless every rack
//     already holds one — and which is not itself a replica yet — unless
//     every broker already is.
//   - When only some brokers have a rack, racks are ignored.
//
// rand is a source of random ints in [0,n); tests make it deterministic.

type assigner struct {
	ids   []int32 // arranged broker list
	racks map[int32]string
	nRack int
}

func newAssigner(brokers map[int32]BrokerInfo) assigner {
	ids := make([]int32, 0, len(brokers))
	allRacks := true
	for id, b := range brokers {
		ids = append(ids, id)
		if b.Rack == "" {
			allRacks = false
		}
	}
	slices.Sort(ids)
	a := assigner{ids: ids}
	if !allRacks || len(ids) == 0 {
		return a
	}
	a.racks = map[int32]string{}
	byRack := map[string][]int32{}
	var rackNames []string
	for _, id := range ids {
		r := brokers[id].Rack
		a.racks[id] = r
		if _, ok := byRack[r]; !ok {
			rackNames = append(rackNames, r)
		}
		byRack[r] = append(byRack[r], id)
	}
	slices.Sort(rackNames)
	a.nRack = len(rackNames)
	arranged := make([]int32, 0, len(ids))
	for i := 0; len(arranged) < len(ids); i++ {
		for _, r := range rackNames {
			if i < len(byRack[r]) {
				arranged = append(arranged, byRack[r][i])
			}
		}
	}
	a.ids = arranged
	return a
}

func replicaIndex(first, shift, j, n int) int {
	return (first + 1 + (shift+j)%(n-1)) % n
}

// assign returns replica lists for partitions startPartition..startPartition+count-1.
// start < 0 picks a random start index.
func (a assigner) assign(count int, rf int, startPartition int, start int, intn func(int) int) ([][]int32, error) {
	n := len(a.ids)
	if rf <= 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0", kerr.InvalidReplicationFactor)
	}
	if rf > n {
		return nil, fmt.Errorf("%w: replication factor %d larger than available brokers %d", kerr.InvalidReplicationFactor, rf, n)
	}
	if intn == nil {
		intn = rand.IntN
	}
	if start < 0 {
		start = intn(n)
	}
	shift := intn(n)
	out := make([][]int32, 0, count)
	for i := range count {
		p := startPartition + i
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		leader := a.ids[first]
		replicas := []int32{leader}
		if a.racks == nil {
			for j := 0; j < rf-1; j++ {
				replicas = append(replicas, a.ids[replicaIndex(first, shift, j, n)])
			}
			out = append(out, replicas)
			continue
		}
		racksUsed := map[string]bool{a.racks[leader]: true}
		used := map[int32]bool{leader: true}
		k := 0
		for len(replicas) < rf {
			b := a.ids[replicaIndex(first, shift*a.nRack, k, n)]
			k++
			if (!racksUsed[a.racks[b]] || len(racksUsed) == a.nRack) && (!used[b] || len(used) == n) {
				replicas = append(replicas, b)
				racksUsed[a.racks[b]] = true
				used[b] = true
			}
		}
		out = append(out, replicas)
	}
	return out, nil
}
