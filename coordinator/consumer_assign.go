package coordinator

// Server-side assignors of KIP-848 groups and the partition sets they work
// on. Both take the members (sorted by id) with the topic ids each
// subscribes to, the partition count of every subscribed topic, and the
// previous target assignment; both are deterministic.
//
//   - uniform (the default, Kafka's UniformAssignor): every partition of
//     every subscribed topic goes to one member subscribed to it, the
//     counts balanced — within one of each other when all members
//     subscribe to the same topics; otherwise no partition could move to a
//     subscribed member holding two or more fewer — and sticky: a
//     partition stays with its previous owner unless balance needs it
//     elsewhere, so a rebalance moves as few partitions as it can.
//   - range (Kafka's RangeAssignor): per topic, the subscribed members in
//     member-id order get contiguous ranges, the first partitions%members
//     of them one more; members subscribed to topics with equal partition
//     counts get the same partition numbers of each (co-partitioning).
//     It is not sticky.

import (
	"bytes"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionSet is topic id → sorted, distinct partitions; no empty lists.
type partitionSet map[[16]byte][]int32

type tpKey struct {
	t [16]byte
	p int32
}

func compareIDs(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) }

func (s partitionSet) contains(t [16]byte, p int32) bool {
	_, ok := slices.BinarySearch(s[t], p)
	return ok
}

func (s partitionSet) add(t [16]byte, p int32) {
	ps := s[t]
	i, ok := slices.BinarySearch(ps, p)
	if !ok {
		s[t] = slices.Insert(ps, i, p)
	}
}

func (s partitionSet) count() int {
	n := 0
	for _, ps := range s {
		n += len(ps)
	}
	return n
}

func (s partitionSet) equal(o partitionSet) bool {
	if len(s) != len(o) {
		return false
	}
	for t, ps := range s {
		if !slices.Equal(ps, o[t]) {
			return false
		}
	}
	return true
}

func (s partitionSet) subsetOf(o partitionSet) bool {
	for t, ps := range s {
		for _, p := range ps {
			if !o.contains(t, p) {
				return false
			}
		}
	}
	return true
}

func (s partitionSet) intersects(o partitionSet) bool {
	for t, ps := range s {
		for _, p := range ps {
			if o.contains(t, p) {
				return true
			}
		}
	}
	return false
}

// setFromTopics is the owned partitions a heartbeat lists.
func setFromTopics(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) partitionSet {
	s := partitionSet{}
	for _, t := range ts {
		for _, p := range t.Partitions {
			if p >= 0 {
				s.add(t.TopicID, p)
			}
		}
	}
	return s
}

// heartbeatAssignment is the set as a ConsumerGroupHeartbeat response
// carries it, topics in id order.
func (s partitionSet) heartbeatAssignment() *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := new(kmsg.ConsumerGroupHeartbeatResponseAssignment)
	a.Default()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, t := range slices.SortedFunc(maps.Keys(s), compareIDs) {
		rt := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		rt.TopicID = t
		rt.Partitions = slices.Clone(s[t])
		a.Topics = append(a.Topics, rt)
	}
	return a
}

// describeAssignment is the set as ConsumerGroupDescribe carries it.
func (s partitionSet) describeAssignment(names map[[16]byte]string) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, t := range slices.SortedFunc(maps.Keys(s), compareIDs) {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID = t
		tp.Topic = names[t]
		tp.Partitions = slices.Clone(s[t])
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return a
}

type assignMember struct {
	id, instanceID string
	topics         [][16]byte // sorted
}

type assignSpec struct {
	members    []assignMember // sorted by id
	partitions map[[16]byte]int32
	current    map[string]partitionSet
}

func (spec assignSpec) topicIDs() [][16]byte {
	return slices.SortedFunc(maps.Keys(spec.partitions), compareIDs)
}

// subscribers is, per topic, the members subscribed to it (in id order).
func (spec assignSpec) subscribers() map[[16]byte][]string {
	out := make(map[[16]byte][]string)
	for _, m := range spec.members {
		for _, t := range m.topics {
			if _, ok := spec.partitions[t]; ok {
				out[t] = append(out[t], m.id)
			}
		}
	}
	return out
}

func assignUniform(spec assignSpec) map[string]partitionSet {
	subs := spec.subscribers()
	subscribed := make(map[string]map[[16]byte]bool, len(spec.members))
	for _, m := range spec.members {
		subscribed[m.id] = make(map[[16]byte]bool, len(m.topics))
		for _, t := range m.topics {
			subscribed[m.id][t] = true
		}
	}
	owner := make(map[tpKey]string)
	counts := make(map[string]int, len(spec.members))
	// 1. Stickiness: previous owners keep what they may still have.
	for _, m := range spec.members {
		prev := spec.current[m.id]
		for _, t := range slices.SortedFunc(maps.Keys(prev), compareIDs) {
			if !subscribed[m.id][t] {
				continue
			}
			for _, p := range prev[t] {
				k := tpKey{t, p}
				if p < spec.partitions[t] && owner[k] == "" {
					owner[k] = m.id
					counts[m.id]++
				}
			}
		}
	}
	leastLoaded := func(ms []string) string {
		best := ms[0]
		for _, id := range ms[1:] {
			if counts[id] < counts[best] {
				best = id
			}
		}
		return best
	}
	topics := spec.topicIDs()
	// 2. Every other partition to the least loaded subscriber.
	for _, t := range topics {
		ms := subs[t]
		if len(ms) == 0 {
			continue
		}
		for p := int32(0); p < spec.partitions[t]; p++ {
			k := tpKey{t, p}
			if owner[k] == "" {
				id := leastLoaded(ms)
				owner[k] = id
				counts[id]++
			}
		}
	}
	// 3. Balance: move a partition to a subscriber holding two or more
	// fewer. Each move lowers the sum of squared counts, so this ends.
	for moved := true; moved; {
		moved = false
		for _, t := range topics {
			ms := subs[t]
			if len(ms) < 2 {
				continue
			}
			for p := spec.partitions[t] - 1; p >= 0; p-- {
				k := tpKey{t, p}
				from := owner[k]
				to := leastLoaded(ms)
				if counts[from]-counts[to] > 1 {
					owner[k] = to
					counts[from]--
					counts[to]++
					moved = true
				}
			}
		}
	}
	out := make(map[string]partitionSet, len(spec.members))
	for _, m := range spec.members {
		out[m.id] = partitionSet{}
	}
	for k, id := range owner {
		out[id].add(k.t, k.p)
	}
	return out
}

func assignRange(spec assignSpec) map[string]partitionSet {
	out := make(map[string]partitionSet, len(spec.members))
	for _, m := range spec.members {
		out[m.id] = partitionSet{}
	}
	subs := spec.subscribers()
	for _, t := range spec.topicIDs() {
		ms := subs[t]
		if len(ms) == 0 {
			continue
		}
		n := spec.partitions[t]
		k := int32(len(ms))
		per, extra := n/k, n%k
		start := int32(0)
		for i, id := range ms {
			cnt := per
			if int32(i) < extra {
				cnt++
			}
			for p := start; p < start+cnt; p++ {
				out[id].add(t, p)
			}
			start += cnt
		}
	}
	return out
}
