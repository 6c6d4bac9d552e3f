package controller

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kerr"
)

// One embedded etcd, a second Controller attached through its unix socket.
func TestEmbeddedTopicsCASAndWait(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	a := openEmbedded(t, dir, 1)
	defer a.Close()
	b, err := Open(testCtx(t), Options{Endpoints: []string{a.emb.endpoint}, BrokerID: 2, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	register(t, a, "")
	register(t, b, "")
	testenv.Eventually(t, "a sees both brokers", func() bool { return len(a.Snapshot().Brokers) == 2 })
	ctx := testCtx(t)

	var mu sync.Mutex
	var seen []int64
	cancel := b.Subscribe(func(s *Snapshot) {
		mu.Lock()
		seen = append(seen, s.Revision)
		mu.Unlock()
	})
	defer cancel()

	// validation
	for _, tc := range []struct {
		spec TopicSpec
		want *kerr.Error
	}{
		{TopicSpec{Name: "", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{TopicSpec{Name: "x", NumPartitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{TopicSpec{Name: "x", NumPartitions: -2, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{TopicSpec{Name: "x", NumPartitions: 1, ReplicationFactor: 0}, kerr.InvalidReplicationFactor},
		{TopicSpec{Name: "x", NumPartitions: 1, ReplicationFactor: 3}, kerr.InvalidReplicationFactor},
		{TopicSpec{Name: "x", NumPartitions: 2, Assignments: map[int32][]int32{0: {1}}}, kerr.InvalidRequest},
		{TopicSpec{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}, 2: {2}}}, kerr.InvalidReplicaAssignment},
		{TopicSpec{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 1}}}, kerr.InvalidReplicaAssignment},
		{TopicSpec{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 7}}}, kerr.InvalidReplicaAssignment},
		{TopicSpec{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 2}, 1: {1}}}, kerr.InvalidReplicaAssignment},
		{TopicSpec{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {}}}, kerr.InvalidReplicaAssignment},
	} {
		if _, _, err := a.CreateTopic(ctx, tc.spec, false); !errors.Is(err, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.spec, err, tc.want)
		}
	}

	// validateOnly writes nothing
	vt, rev, err := a.CreateTopic(ctx, TopicSpec{Name: "v", NumPartitions: -1, ReplicationFactor: -1}, true)
	if err != nil || rev != 0 || len(vt.Partitions) != 1 {
		t.Fatalf("validateOnly: %+v %d %v", vt, rev, err)
	}

	_, rev, err = a.CreateTopic(ctx, TopicSpec{Name: "t", NumPartitions: 2, ReplicationFactor: 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Snapshot().Topics["v"]; ok {
		t.Fatal("validateOnly topic was created")
	}
	p := b.Snapshot().Topics["t"].Partitions[0]

	// CAS: the first writer wins, the stale one changes nothing.
	p1 := p
	p1.ISR = []int32{p.Leader}
	rev1, err := a.UpdatePartition(ctx, "t", p1)
	if err != nil {
		t.Fatal(err)
	}
	p2 := p
	p2.Leader, p2.LeaderEpoch = p.Replicas[1], p.LeaderEpoch+1
	if _, err := b.UpdatePartition(ctx, "t", p2); !errors.Is(err, ErrStalePartition) || !errors.Is(err, kerr.InvalidUpdateVersion) {
		t.Fatalf("stale update: %v", err)
	}
	if err := b.WaitRevision(ctx, rev1); err != nil {
		t.Fatal(err)
	}
	got := b.Snapshot().Topics["t"].Partitions[0]
	if got.Leader != p.Leader || !slices.Equal(got.ISR, []int32{p.Leader}) || got.PartitionEpoch != p.PartitionEpoch+1 || got.ModRevision != rev1 {
		t.Fatalf("after CAS: %+v (was %+v)", got, p)
	}
	if _, err := a.UpdatePartition(ctx, "t", Partition{Index: 9, ModRevision: 1}); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing partition: %v", err)
	}

	// configs
	rev, err = a.SetTopicConfigs(ctx, "t", map[string]string{"cleanup.policy": "compact"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if c := b.Snapshot().Topics["t"].Configs; len(c) != 1 || c["cleanup.policy"] != "compact" {
		t.Fatalf("topic configs %v", c)
	}
	if _, err := a.SetTopicConfigs(ctx, "nope", nil); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("configs of missing topic: %v", err)
	}
	if _, err := a.SetBrokerConfigs(ctx, "", map[string]string{"log.retention.ms": "5"}); err != nil {
		t.Fatal(err)
	}
	rev, err = a.SetBrokerConfigs(ctx, "2", map[string]string{"log.cleaner.threads": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	bc := b.Snapshot().BrokerConfigs
	if bc[""]["log.retention.ms"] != "5" || bc["2"]["log.cleaner.threads"] != "2" {
		t.Fatalf("broker configs %v", bc)
	}
	rev, _ = a.SetBrokerConfigs(ctx, "2", nil)
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Snapshot().BrokerConfigs["2"]; ok {
		t.Fatal("empty broker configs not removed")
	}

	// CreatePartitions errors
	if _, err := a.CreatePartitions(ctx, "t", 2, nil, false); !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("same count: %v", err)
	}
	if _, err := a.CreatePartitions(ctx, "t", 1, nil, false); !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("fewer: %v", err)
	}
	if _, err := a.CreatePartitions(ctx, "t", 4, [][]int32{{1, 2}}, false); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("short assignment: %v", err)
	}
	if _, err := a.CreatePartitions(ctx, "nope", 4, nil, false); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing topic: %v", err)
	}
	rev, err = a.CreatePartitions(ctx, "t", 3, [][]int32{{2, 1}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if p := b.Snapshot().Topics["t"].Partitions[2]; !slices.Equal(p.Replicas, []int32{2, 1}) || p.Leader != 2 {
		t.Fatalf("new partition %+v", p)
	}

	// WaitRevision for a write outside the prefix returns through a
	// progress notification.
	resp, err := b.Client().Put(ctx, "/elsewhere", "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if err := b.WaitRevision(cctx, resp.Header.Revision+100); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}

	// Subscribe saw snapshots in revision order.
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 5 || !slices.IsSorted(seen) {
		t.Fatalf("subscriber saw %v", seen)
	}
}

func TestTopicNamesAreOpaque(t *testing.T) {
	c := openEmbedded(t, testenv.ShortTempDir(t), 1)
	defer c.Close()
	register(t, c, "")
	ctx := testCtx(t)
	// "a" and "a/b" must not mix in key prefixes.
	for _, n := range []string{"a", "a/b", "a%2Fb", "ünï cödé"} {
		if _, _, err := c.CreateTopic(ctx, TopicSpec{Name: n, NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
			t.Fatalf("%q: %v", n, err)
		}
	}
	rev, err := c.DeleteTopic(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	s := c.Snapshot()
	for _, n := range []string{"a/b", "a%2Fb", "ünï cödé"} {
		if tp := s.Topics[n]; tp == nil || len(tp.Partitions) != 2 {
			t.Fatalf("%q after deleting a: %+v", n, tp)
		}
	}
	if _, ok := s.Topics["a"]; ok {
		t.Fatal("a still there")
	}
}
