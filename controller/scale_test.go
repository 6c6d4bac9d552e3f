package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kerr"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// partialWatch subscribes to c and records every snapshot in which a
// topic is present with a partition count other than the one it was
// created or grown to (want), or with partitions out of order: a partial
// topic. Call check at the end.
type partialWatch struct {
	mu     sync.Mutex
	want   map[string]map[int]bool // topic → acceptable partition counts
	bad    []string
	cancel func()
}

func watchPartial(c *Controller, want map[string]map[int]bool) *partialWatch {
	w := &partialWatch{want: want}
	w.cancel = c.Subscribe(func(s *Snapshot) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for name, ok := range w.want {
			t := s.Topics[name]
			if t == nil {
				continue
			}
			if !ok[len(t.Partitions)] {
				w.bad = append(w.bad, fmt.Sprintf("rev %d: %s with %d partitions", s.Revision, name, len(t.Partitions)))
			}
			for i, p := range t.Partitions {
				if p.Index != int32(i) {
					w.bad = append(w.bad, fmt.Sprintf("rev %d: %s partition %d at %d", s.Revision, name, p.Index, i))
					break
				}
			}
		}
	})
	return w
}

func (w *partialWatch) check(t *testing.T) {
	t.Helper()
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bad) > 0 {
		t.Fatalf("partial topics seen (%d), first: %v", len(w.bad), w.bad[:min(5, len(w.bad))])
	}
}

// Big topics against an external etcd with its default limits (128 ops
// per transaction, 1.5 MiB per request): creation of 127, 1,000 and
// 10,000 partitions, growth from 1 to 5,000, and a second broker's
// snapshots never show any of them partially.
func TestBigTopicsExternalEtcd(t *testing.T) {
	url := testenv.StartEtcd(t)
	a := openExternal(t, url, 1, 0)
	defer a.Close()
	b := openExternal(t, url, 2, 0)
	defer b.Close()
	register(t, a, "")
	register(t, b, "")
	testenv.Eventually(t, "both brokers", func() bool { return len(a.Snapshot().Brokers) == 2 })
	ctx := testCtx(t)

	sizes := map[string]int{"p127": 127, "p1000": 1000, "p10000": 10_000}
	want := map[string]map[int]bool{"grow": {1: true, 5000: true}}
	for n, size := range sizes {
		want[n] = map[int]bool{size: true}
	}
	w := watchPartial(b, want)

	for name, size := range sizes {
		tp, rev, err := a.CreateTopic(ctx, TopicSpec{Name: name, NumPartitions: int32(size), ReplicationFactor: 2}, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(tp.Partitions) != size {
			t.Fatalf("%s: %d partitions returned", name, len(tp.Partitions))
		}
		if err := b.WaitRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
		got := b.Snapshot().Topics[name]
		if got == nil || len(got.Partitions) != size || got.ID != tp.ID {
			t.Fatalf("%s on b: %+v", name, got)
		}
		for i, p := range got.Partitions {
			if p.ModRevision != tp.Partitions[i].ModRevision || p.Leader != tp.Partitions[i].Leader {
				t.Fatalf("%s-%d on b: %+v, created %+v", name, i, p, tp.Partitions[i])
			}
		}
	}
	if _, _, err := a.CreateTopic(ctx, TopicSpec{Name: "p10000", NumPartitions: 10_000, ReplicationFactor: 1}, false); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("re-creating a big topic: %v", err)
	}

	// A leader change on a partition of the big topic is still one cheap
	// compare-and-swap.
	p := b.Snapshot().Topics["p10000"].Partitions[9999]
	p.Leader, p.LeaderEpoch, p.ISR = p.Replicas[1], p.LeaderEpoch+1, p.Replicas[1:]
	rev, err := a.UpdatePartition(ctx, "p10000", p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.UpdatePartition(ctx, "p10000", b.Snapshot().Topics["p10000"].Partitions[9999]); !errors.Is(err, ErrStalePartition) {
		t.Fatalf("stale CAS: %v", err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot().Topics["p10000"].Partitions[9999]; got.Leader != p.Leader || got.ModRevision != rev {
		t.Fatalf("after CAS: %+v", got)
	}

	// Growth 1 → 5,000 in one CreatePartitions.
	if _, _, err := a.CreateTopic(ctx, TopicSpec{Name: "grow", NumPartitions: 1, ReplicationFactor: 2}, false); err != nil {
		t.Fatal(err)
	}
	rev, err = a.CreatePartitions(ctx, "grow", 5000, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot().Topics["grow"]; len(got.Partitions) != 5000 || len(got.Partitions[4999].Replicas) != 2 {
		t.Fatalf("grown: %d partitions", len(got.Partitions))
	}
	if _, err := a.CreatePartitions(ctx, "grow", math.MaxInt32, nil, true); !errors.Is(err, ErrTooManyPartitions) {
		t.Fatalf("grow by 2^31: %v", err)
	}

	// Deleting the big topic is one transaction too.
	rev, err = a.DeleteTopic(ctx, "p10000")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if b.Snapshot().Topics["p10000"] != nil {
		t.Fatal("deleted topic still there")
	}
	w.check(t)

	// A fresh Controller loads the same state from one read.
	c := openExternal(t, url, 3, 0)
	defer c.Close()
	s := c.Snapshot()
	for name, size := range map[string]int{"p127": 127, "p1000": 1000, "grow": 5000} {
		if got := s.Topics[name]; got == nil || len(got.Partitions) != size {
			t.Fatalf("%s loaded with %v partitions", name, got)
		}
	}
	if s.Topics["p10000"] != nil {
		t.Fatal("deleted topic loaded")
	}
}

// A creation claim left by a creator that died (its lease expired or is
// revoked) hides the topic and blocks the name only while it lives; the
// next creation removes the partition keys it left.
func TestAbandonedCreationClaim(t *testing.T) {
	url := testenv.StartEtcd(t)
	a := openExternal(t, url, 1, 0)
	defer a.Close()
	register(t, a, "")
	ctx := testCtx(t)
	cli := a.Client()

	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	claim := string(marshal(topicRecord{ID: newUUID().String(), Count: 300, Creating: true}))
	if _, err := cli.Put(ctx, a.k.topic("t"), claim, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	for i := range int32(200) {
		if _, err := cli.Put(ctx, a.k.partition("t", i), string(marshal(partitionRecord{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}))); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cli.Put(ctx, "/elsewhere", "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitRevision(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if a.Snapshot().Topics["t"] != nil {
		t.Fatal("a pending topic is visible")
	}
	if _, _, err := a.CreateTopic(ctx, TopicSpec{Name: "t", NumPartitions: 150, ReplicationFactor: 1}, false); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("create while claimed: %v", err)
	}
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	_, rev, err := a.CreateTopic(ctx, TopicSpec{Name: "t", NumPartitions: 150, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := a.Snapshot().Topics["t"]; got == nil || len(got.Partitions) != 150 {
		t.Fatalf("after the claim expired: %+v", got)
	}
	gr, err := cli.Get(ctx, a.k.partitions("t"), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || gr.Count != 150 {
		t.Fatalf("partition keys: %v %v", gr, err)
	}
}

// Delete and re-create one name 100 times, alternating a small topic (one
// transaction) and a big one (chunked), while another Controller's
// snapshots are checked: the topic is absent or whole, never partial.
func TestDeleteRecreateLoopNeverPartial(t *testing.T) {
	url := testenv.StartEtcd(t)
	a := openExternal(t, url, 1, 0)
	defer a.Close()
	b := openExternal(t, url, 2, 0)
	defer b.Close()
	register(t, a, "")
	testenv.Eventually(t, "b sees the broker", func() bool { return len(b.Snapshot().Brokers) == 1 })
	ctx := testCtx(t)
	w := watchPartial(b, map[string]map[int]bool{"loop": {3: true, 300: true}})
	for i := range 100 {
		n := int32(3)
		if i%2 == 1 {
			n = 300
		}
		_, rev, err := a.CreateTopic(ctx, TopicSpec{Name: "loop", NumPartitions: n, ReplicationFactor: 1}, false)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if err := b.WaitRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
		if got := b.Snapshot().Topics["loop"]; got == nil || len(got.Partitions) != int(n) {
			t.Fatalf("round %d: %+v", i, got)
		}
		if rev, err = a.DeleteTopic(ctx, "loop"); err != nil {
			t.Fatal(err)
		}
		// CreateTopic refuses names its own snapshot still shows.
		if err := a.WaitRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
		if err := b.WaitRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
		if b.Snapshot().Topics["loop"] != nil {
			t.Fatalf("round %d: still there after delete", i)
		}
	}
	w.check(t)
}

// The 10,000-partition cap is checked before planning, even validate-only.
func TestPartitionCapController(t *testing.T) {
	c := openEmbedded(t, testenv.ShortTempDir(t), 1)
	defer c.Close()
	register(t, c, "")
	ctx := context.Background()
	for _, n := range []int32{math.MaxInt32, 10_001} {
		for _, vo := range []bool{true, false} {
			if _, _, err := c.CreateTopic(ctx, TopicSpec{Name: "x", NumPartitions: n, ReplicationFactor: 1}, vo); !errors.Is(err, ErrTooManyPartitions) || !errors.Is(err, kerr.PolicyViolation) {
				t.Fatalf("%d partitions (validate-only %v): %v", n, vo, err)
			}
		}
	}
	if tp, _, err := c.CreateTopic(ctx, TopicSpec{Name: "x", NumPartitions: 10_000, ReplicationFactor: 1}, true); err != nil || len(tp.Partitions) != 10_000 {
		t.Fatalf("10000 validate-only: %v", err)
	}
}

// Keys written by an older Runnel (the topic record with the whole
// assignment under "partitions", no partition_count) load as they are and
// can be grown; the record is rewritten in the new format then.
func TestOlderTopicRecordLoads(t *testing.T) {
	c := openEmbedded(t, testenv.ShortTempDir(t), 1)
	defer c.Close()
	register(t, c, "")
	ctx := testCtx(t)
	cli := c.Client()
	id := newUUID()
	old := fmt.Sprintf(`{"id":%q,"partitions":[[1],[1]]}`, id.String())
	ops := []clientv3.Op{clientv3.OpPut(c.k.topic("old"), old), clientv3.OpPut(c.k.topicConfig("old"), "{}")}
	for i := range int32(2) {
		ops = append(ops, clientv3.OpPut(c.k.partition("old", i), `{"replicas":[1],"isr":[1],"leader":1,"leader_epoch":0,"partition_epoch":0}`))
	}
	resp, err := cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if got := c.Snapshot().Topics["old"]; got == nil || got.ID != id || len(got.Partitions) != 2 {
		t.Fatalf("older record: %+v", got)
	}
	rev, err := c.CreatePartitions(ctx, "old", 4, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := c.Snapshot().Topics["old"]; len(got.Partitions) != 4 || got.ID != id {
		t.Fatalf("grown older topic: %+v", got)
	}
	gr, err := cli.Get(ctx, c.k.topic("old"))
	if err != nil || string(gr.Kvs[0].Value) != fmt.Sprintf(`{"id":%q,"partition_count":4}`, id.String()) {
		t.Fatalf("rewritten record: %s %v", gr.Kvs[0].Value, err)
	}
}

// A SCRAM batch far over etcd's 128 operations per transaction is written
// against an external etcd with its default limits.
func TestBigScramBatchExternalEtcd(t *testing.T) {
	url := testenv.StartEtcd(t)
	a := openExternal(t, url, 1, 0)
	defer a.Close()
	ctx := testCtx(t)
	cred := ScramCredential{Salt: make([]byte, 32), StoredKey: make([]byte, 64), ServerKey: make([]byte, 64), Iterations: 4096}
	var changes []ScramChange
	for i := range 1000 {
		changes = append(changes, ScramChange{User: fmt.Sprint("user-", i), Mechanism: "SCRAM-SHA-512", Credential: &cred})
	}
	rev, err := a.AlterScramCredentials(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := a.Snapshot().ScramCredentials; len(got) != 1000 {
		t.Fatalf("%d users", len(got))
	}
	for i := range changes {
		changes[i].Credential = nil
	}
	if rev, err = a.AlterScramCredentials(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := a.Snapshot().ScramCredentials; len(got) != 0 {
		t.Fatalf("%d users after deleting all", len(got))
	}
}

// max.broker.partitions (MaxBrokerPartitions) bounds the replicas per
// broker for creations and extensions, validate-only too.
func TestMaxBrokerPartitions(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	c, err := Open(testCtx(t), Options{DataDir: dir, BrokerID: 1, Logger: testLogger(t), MaxBrokerPartitions: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	register(t, c, "")
	ctx := testCtx(t)
	if _, _, err := c.CreateTopic(ctx, TopicSpec{Name: "a", NumPartitions: 11, ReplicationFactor: 1}, true); !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("11 on a 10-limit broker: %v", err)
	}
	_, rev, err := c.CreateTopic(ctx, TopicSpec{Name: "a", NumPartitions: 6, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateTopic(ctx, TopicSpec{Name: "b", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}, 1: {1}, 2: {1}, 3: {1}, 4: {1}}}, false); !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("explicit assignment over the limit: %v", err)
	}
	if _, err := c.CreatePartitions(ctx, "a", 11, nil, true); !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("growing over the limit: %v", err)
	}
	if _, err := c.CreatePartitions(ctx, "a", 10, nil, false); err != nil {
		t.Fatalf("growing to the limit: %v", err)
	}
}

// TestUncommittedChunksCallNoSubscriber: a 5,000-partition topic is written
// as a claim, chunks (cut by bytes: the embedded etcd takes
// embeddedTxnPuts puts a transaction) and a commit, but subscribers are
// called once for it — for the commit, which shows the whole topic — and
// the revisions in between still reach WaitRevision.
func TestUncommittedChunksCallNoSubscriber(t *testing.T) {
	a := openEmbedded(t, t.TempDir(), 1)
	defer a.Close()
	register(t, a, "")
	ctx := testCtx(t)
	start := a.Snapshot().Revision
	var mu sync.Mutex
	var seen []*Snapshot
	cancel := a.Subscribe(func(s *Snapshot) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	})
	defer cancel()
	_, rev, err := a.CreateTopic(ctx, TopicSpec{Name: "big", NumPartitions: 5000, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if rev-start < 4 {
		t.Fatalf("creation took revisions %d..%d; want a claim, 2 chunks or more and a commit", start, rev)
	}
	if err := a.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	var got []*Snapshot
	testenv.Eventually(t, "the subscriber sees the commit", func() bool {
		mu.Lock()
		defer mu.Unlock()
		got = got[:0]
		for _, s := range seen {
			if s.Revision > start && s.Revision <= rev {
				got = append(got, s)
			}
		}
		return len(got) > 0 && got[len(got)-1].Revision == rev
	})
	if len(got) != 1 {
		revs := make([]int64, len(got))
		for i, s := range got {
			revs[i] = s.Revision
		}
		t.Fatalf("subscriber called for revisions %v of creation %d..%d; want only the commit", revs, start, rev)
	}
	if p := got[0].Topics["big"]; p == nil || len(p.Partitions) != 5000 {
		t.Fatalf("commit snapshot shows %+v", p)
	}
}
