package controller

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A single node with the embedded etcd, leading thousands of partitions,
// is killed and restarted: the new process registers with a new broker
// epoch, which fences every leadership of the old one, and the
// controller elects it again. Every partition gets exactly one new leader
// epoch (the bump that fences the dead process's writers) and the new
// broker epoch, in a handful of large transactions rather than one per
// hundred partitions; then the history before it is compacted.
func TestRestartReelectsInLargeTransactions(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	open := func() *Controller {
		c := openEmbeddedTTL(t, dir, longTTL)
		if err := c.RegisterBroker(testCtx(t), brokerInfo(1, "dir-A")); err != nil {
			t.Fatal(err)
		}
		c.Campaign(testCtx(t))
		return c
	}
	c1 := open()
	ctx := testCtx(t)
	const topics, per = 3, 2000
	for i := range topics {
		_, rev, err := c1.CreateTopic(ctx, TopicSpec{Name: fmt.Sprintf("t%d", i), NumPartitions: per, ReplicationFactor: 1}, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := c1.WaitRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	e1 := c1.Snapshot().Brokers[1].Epoch
	before := map[string]Partition{}
	for _, tp := range c1.Snapshot().Topics {
		for _, p := range tp.Partitions {
			if p.Leader != 1 || p.LeaderBrokerEpoch != e1 {
				t.Fatalf("created %s-%d: %+v", tp.Name, p.Index, p)
			}
			before[fmt.Sprint(tp.Name, "-", p.Index)] = p
		}
	}
	crash(c1)

	c2 := open()
	defer c2.Close()
	e2 := c2.Snapshot().Brokers[1].Epoch
	if e2 <= e1 {
		t.Fatalf("new broker epoch %d, old %d", e2, e1)
	}
	led := func() bool {
		for _, tp := range c2.Snapshot().Topics {
			for _, p := range tp.Partitions {
				if p.LeaderBrokerEpoch != e2 {
					return false
				}
			}
		}
		return true
	}
	testenv.Eventually(t, "every partition led under the new broker epoch", led)
	revs := map[int64]bool{}
	for _, tp := range c2.Snapshot().Topics {
		for _, p := range tp.Partitions {
			old := before[fmt.Sprint(tp.Name, "-", p.Index)]
			if p.Leader != 1 || p.LeaderEpoch != old.LeaderEpoch+1 || p.PartitionEpoch != old.PartitionEpoch+1 || len(p.ISR) != 1 {
				t.Fatalf("%s-%d after the restart: %+v; before: %+v", tp.Name, p.Index, p, old)
			}
			revs[p.ModRevision] = true
		}
	}
	// The history before the re-election is compacted once it is
	// written (the next start rebuilds etcd's index from what is kept).
	testenv.Eventually(t, "history before the restart compacted", func() bool {
		_, err := c2.Client().Get(ctx, "/runnel/cluster_id", clientv3.WithRev(e1))
		return errors.Is(err, rpctypes.ErrCompacted)
	})
	// 6,000 states: at the old 100 per transaction that was 60; now
	// chunks of 64, 128, … up to about 1,500.
	if len(revs) > 10 {
		t.Fatalf("the re-election took %d transactions", len(revs))
	}
}

// Chunks of partition states fit the etcd they go to: an external etcd
// with its default limits (128 ops, 1.5 MiB; chunkOps and chunkBytes
// leave room below them) and the embedded one (embeddedTxnPuts states,
// which embed.go leaves room for); each chunk keeps the order of the
// changes; the first chunk is small, so that the first (urgent) states
// land within one short round trip.
func TestPartitionChunksFitTheLimits(t *testing.T) {
	changes := make([]PartitionUpdate, 0, 20_000)
	for i := range 20_000 {
		topic := fmt.Sprintf("topic-%d", i/3000)
		if i%7000 == 0 {
			topic += string(make([]byte, 200)) // a long name now and then
		}
		changes = append(changes, PartitionUpdate{Topic: topic, State: Partition{Index: int32(i % 3000), Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}})
	}
	ext := &Controller{k: keys{pfx: "/runnel"}}
	emb := &Controller{k: keys{pfx: "/runnel"}, emb: &embedded{}}
	for _, tc := range []struct {
		name   string
		c      *Controller
		guards int
		maxOps int
	}{
		{"external", ext, 1, chunkOps - 1},
		{"embedded", emb, 1, embeddedTxnPuts},
	} {
		chunks := tc.c.partitionChunks(changes, tc.guards)
		n := 0
		biggest := 0
		for _, ch := range chunks {
			if len(ch) > tc.maxOps || len(ch)+tc.guards > 128 && tc.c.emb == nil {
				t.Fatalf("%s: a chunk of %d states", tc.name, len(ch))
			}
			size := 0
			for _, u := range ch {
				if u.Topic != changes[n].Topic || u.State.Index != changes[n].State.Index {
					t.Fatalf("%s: chunks out of order at %d", tc.name, n)
				}
				v := marshal(recordOf(u.State))
				size += partitionTxnBytes(tc.c.k.partition(u.Topic, u.State.Index), len(v))
				n++
			}
			if size > chunkBytes {
				t.Fatalf("%s: a chunk of %d bytes", tc.name, size)
			}
			biggest = max(biggest, len(ch))
		}
		if n != len(changes) {
			t.Fatalf("%s: %d states chunked, want %d", tc.name, n, len(changes))
		}
		if len(chunks[0]) != firstPartitionChunk {
			t.Fatalf("%s: the first chunk holds %d states", tc.name, len(chunks[0]))
		}
		if tc.c.emb != nil && biggest < 1000 {
			t.Fatalf("embedded: chunks of at most %d states", biggest)
		}
	}
}

// A restarted broker that is the last in-sync replica leads again under
// its new broker epoch: the leader is the same broker id, and that write
// is as urgent as a leader change (the partition is unavailable until it
// lands), so it goes before ISR-only changes.
func TestLeaderMovesCountsANewBrokerEpoch(t *testing.T) {
	s := &Snapshot{Topics: map[string]*Topic{"t": {Name: "t", Partitions: []Partition{
		{Index: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderBrokerEpoch: 10},
		{Index: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderBrokerEpoch: 10},
	}}}}
	same := PartitionUpdate{Topic: "t", State: Partition{Index: 0, Leader: 1, LeaderBrokerEpoch: 20}}
	if !leaderMoves(s, same) {
		t.Fatal("re-election under a new broker epoch not counted as a leader move")
	}
	isrOnly := PartitionUpdate{Topic: "t", State: Partition{Index: 1, Leader: 1, LeaderBrokerEpoch: 10, ISR: []int32{1}}}
	if leaderMoves(s, isrOnly) {
		t.Fatal("an ISR shrink counted as a leader move")
	}
}

func openEmbeddedTTL(t *testing.T, dir string, ttl time.Duration) *Controller {
	t.Helper()
	c, err := Open(testCtx(t), Options{DataDir: dir, BrokerID: 1, Logger: testLogger(t), SessionTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The embedded etcd snapshots every embeddedSnapshotEntries entries, so
// that a restart replays a short WAL (by default etcd snapshots every
// 10,000 entries: at 100k partitions hundreds of MB, read back at every
// start). The state survives a reopen from the snapshot and the WAL after
// it.
func TestEmbeddedSnapshotsOften(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	c := openEmbedded(t, dir, 1)
	ctx := testCtx(t)
	for i := range 2*embeddedSnapshotEntries + 10 {
		if _, err := c.SetBrokerConfigs(ctx, "", map[string]string{"log.retention.ms": fmt.Sprint(1000 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	snaps := 0
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".snap") {
			snaps++
		}
		return nil
	})
	if snaps == 0 {
		t.Fatalf("no etcd snapshot after %d writes", 2*embeddedSnapshotEntries+10)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openEmbedded(t, dir, 1)
	defer c.Close()
	if got := c.Snapshot().BrokerConfigs[""]["log.retention.ms"]; got != fmt.Sprint(1000+2*embeddedSnapshotEntries+9) {
		t.Fatalf("after reopening: log.retention.ms %q", got)
	}
}
