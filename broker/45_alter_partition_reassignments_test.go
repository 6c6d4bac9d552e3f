package broker

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitionReassignment moves an RF=1 partition to the two other
// brokers of a three-broker cluster with kadm: while the new replicas
// cannot catch up the reassignment is listed (adding and removing
// replicas), a cancellation restores the original assignment, and a second
// attempt completes once they are in the ISR: the leader moves, the old
// replica's log is deleted and every record is still there. Also the
// errors Kafka answers.
func TestPartitionReassignment(t *testing.T) {
	url := startEtcd(t)
	dir := t.TempDir()
	bs := startClusterBrokers(t, url, 3, dir, "replica.lag.time.max.ms=2000")
	var closeOnce sync.Once
	t.Cleanup(func() {
		closeOnce.Do(func() {
			for _, b := range bs {
				if err := b.Close(); err != nil {
					t.Errorf("close %d: %v", b.id, err)
				}
			}
		})
	})
	byID := map[int32]*testBroker{}
	for _, b := range bs {
		byID[b.id] = b
	}
	ctx := testCtx(t)
	adm := bs[0].admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "ra"); err != nil {
		t.Fatal(err)
	}
	waitLeadersEverywhere(t, bs, "ra", 1)
	orig := partitionState(bs[0], "ra", 0)
	src := orig.Leader
	var target []int32
	for _, b := range bs {
		if b.id != src {
			target = append(target, b.id)
		}
	}
	cl := bs[0].client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("ra"), kgo.RecordRetries(100))
	produce := func(tag string, n int) {
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s-%d", tag, i))).FirstErr(); err != nil {
				t.Fatalf("produce %s-%d: %v", tag, i, err)
			}
		}
	}
	produce("a", 30)

	alter := func(topic string, p int32, replicas []int32, cancel bool) kadm.AlterPartitionAssignmentsResponse {
		t.Helper()
		var req kadm.AlterPartitionAssignmentsReq
		if cancel {
			req.CancelAssign(topic, p)
		} else {
			req.Assign(topic, p, replicas)
		}
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res[topic][p]
	}
	list := func() kadm.ListPartitionReassignmentsResponses {
		t.Helper()
		res, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"ra": {0: {}, 7: {}}, "nope": {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// Errors.
	if r := alter("nope", 0, target, false); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %+v", r)
	}
	if r := alter("ra", 7, target, false); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown partition: %+v", r)
	}
	if r := alter("ra", 0, nil, true); !errors.Is(r.Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel with none in progress: %+v", r)
	}
	if r := alter("ra", 0, []int32{target[0], target[0]}, false); !errors.Is(r.Err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("duplicate broker: %+v", r)
	}
	if r := alter("ra", 0, []int32{99}, false); !errors.Is(r.Err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("unknown broker: %+v", r)
	}
	if r := alter("ra", 0, []int32{}, false); !errors.Is(r.Err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("empty target: %+v", r)
	}
	if res := list(); len(res) != 0 {
		t.Fatalf("reassignments listed before any: %v", res)
	}

	// The new replicas cannot fetch: the reassignment stays in progress.
	for _, id := range target {
		byID[id].replicas.PauseFetchers(true)
	}
	if r := alter("ra", 0, target, false); r.Err != nil {
		t.Fatalf("reassign: %+v", r)
	}
	lr := list()["ra"][0]
	if !slices.Equal(lr.Replicas, append(slices.Clone(target), src)) || !slices.Equal(lr.AddingReplicas, target) || !slices.Equal(lr.RemovingReplicas, []int32{src}) {
		t.Fatalf("listed %+v, want replicas %v+%d adding %v removing %d", lr, target, src, target, src)
	}
	waitUntil(t, "new replicas create their logs", func() bool {
		return localReplica(byID[target[0]], "ra", 0) != nil && localReplica(byID[target[1]], "ra", 0) != nil
	})

	// Cancel: back to the original assignment; the added replicas drop
	// their logs.
	if r := alter("ra", 0, nil, true); r.Err != nil {
		t.Fatalf("cancel: %+v", r)
	}
	if res := list(); len(res) != 0 {
		t.Fatalf("listed after cancel: %v", res)
	}
	waitUntil(t, "cancelled reassignment reverted everywhere", func() bool {
		for _, b := range bs {
			p := partitionState(b, "ra", 0)
			if !slices.Equal(p.Replicas, []int32{src}) || p.Leader != src || len(p.Adding)+len(p.Removing) != 0 {
				return false
			}
		}
		return localReplica(byID[target[0]], "ra", 0) == nil && localReplica(byID[target[1]], "ra", 0) == nil
	})
	produce("b", 10)

	// Again, with fetching allowed: it completes.
	for _, id := range target {
		byID[id].replicas.PauseFetchers(false)
	}
	if r := alter("ra", 0, target, false); r.Err != nil {
		t.Fatalf("reassign: %+v", r)
	}
	waitUntil(t, "reassignment complete", func() bool {
		for _, b := range bs {
			p := partitionState(b, "ra", 0)
			if !slices.Equal(p.Replicas, target) || !slices.Contains(target, p.Leader) || len(p.Adding)+len(p.Removing) != 0 || len(p.ISR) != 2 {
				return false
			}
		}
		return localReplica(byID[src], "ra", 0) == nil
	})
	if p := partitionState(bs[0], "ra", 0); p.LeaderEpoch <= orig.LeaderEpoch {
		t.Fatalf("leader moved without a new epoch: %+v (was %+v)", p, orig)
	}
	if res := list(); len(res) != 0 {
		t.Fatalf("listed after completion: %v", res)
	}
	produce("c", 10)

	cons := bs[0].client(t, kgo.ConsumeTopics("ra"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 50 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 50: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	var want []string
	for _, x := range []struct {
		tag string
		n   int
	}{{"a", 30}, {"b", 10}, {"c", 10}} {
		for i := 0; i < x.n; i++ {
			want = append(want, fmt.Sprintf("%s-%d", x.tag, i))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("consumed\n%v\nwant\n%v", got, want)
	}
}
