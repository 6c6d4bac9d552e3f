package controller

import (
	"testing"

	"github.com/runnel/runnel/internal/testenv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// UpdatePartitions against an etcd with its default limits: hundreds of
// states in chunks written concurrently; a partition changed since it was
// read is left out of its chunk without failing the others; a failed
// guard fails every state.
func TestUpdatePartitionsStaleAndGuard(t *testing.T) {
	a := openExternal(t, testenv.StartEtcd(t), 1, 0)
	defer a.Close()
	register(t, a, "")
	ctx := testCtx(t)
	_, rev, err := a.CreateTopic(ctx, TopicSpec{Name: "t", NumPartitions: 450, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	read := a.Snapshot().Topics["t"]
	// Partitions 7 and 301 change after the read.
	for _, i := range []int32{7, 301} {
		p := *read.Partition(i)
		p.LeaderEpoch++
		if _, err := a.UpdatePartition(ctx, "t", p); err != nil {
			t.Fatal(err)
		}
	}
	var updates []PartitionUpdate
	for _, p := range read.Partitions {
		p.LeaderEpoch += 5
		updates = append(updates, PartitionUpdate{Topic: "t", State: p})
	}
	written, failed, rev := a.UpdatePartitions(ctx, updates)
	if len(written) != 448 || failed != 2 {
		t.Fatalf("written %d, failed %d; want 448 and 2", len(written), failed)
	}
	for i, w := range written {
		if w.State.Index == 7 || w.State.Index == 301 || (i > 0 && w.State.Index <= written[i-1].State.Index) {
			t.Fatalf("written out of order or stale: %d after %d", w.State.Index, written[max(i-1, 0)].State.Index)
		}
	}
	if err := a.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	now := a.Snapshot().Topics["t"]
	for _, p := range now.Partitions {
		want := read.Partition(p.Index).LeaderEpoch + 5
		if p.Index == 7 || p.Index == 301 {
			want -= 4
		}
		if p.LeaderEpoch != want {
			t.Fatalf("partition %d: leader epoch %d, want %d", p.Index, p.LeaderEpoch, want)
		}
	}

	// A guard that fails (a deposed controller's election key) fails all.
	updates = updates[:0]
	for _, p := range now.Partitions {
		p.LeaderEpoch++
		updates = append(updates, PartitionUpdate{Topic: "t", State: p})
	}
	guard := clientv3.Compare(clientv3.CreateRevision("/no/such/election/key"), "=", 12345)
	written, failed, _ = a.updatePartitions(ctx, updates, guard)
	if len(written) != 0 || failed != len(updates) {
		t.Fatalf("with a failed guard: written %d, failed %d", len(written), failed)
	}
}
