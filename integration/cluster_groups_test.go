package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterCoordinatorFailover (issue 6): on three brokers with
// offsets.topic.replication.factor=3, a franz-go group consumer commits
// offsets; the broker leading the group's __consumer_offsets partition
// (the coordinator) is killed with SIGKILL; a new consumer in the same
// group, served by the new coordinator, resumes exactly at the committed
// offsets — no committed offset is lost.
func TestClusterCoordinatorFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	const topic, group = "cg-topic", "cg"
	const partitions, perPartition = 3, 100
	c := startCluster(t, 3, "min.insync.replicas=2", "default.replication.factor=3", "offsets.topic.replication.factor=3")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.client(kgo.MetadataMinAge(100 * time.Millisecond)))
	if _, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	c.waitFullISR(ctx, adm, topic)

	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// First member: consume about half, commit what it polled, leave.
	c1 := c.client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(2000))
	consumed := 0
	for consumed < partitions*perPartition/2 {
		fs := c1.PollRecords(ctx, 40)
		if ctx.Err() != nil {
			t.Fatalf("first consumer: %d records: %v", consumed, fs.Errors())
		}
		consumed += fs.NumRecords()
	}
	if err := c1.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil || committed.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, committed.Error())
	}
	want := map[int32]int64{}
	var sum int64
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			want[o.Partition] = o.At
			sum += o.At
		}
	})
	if sum == 0 {
		t.Fatalf("nothing committed: %v", want)
	}
	t.Logf("committed %v (%d of %d records consumed)", want, consumed, partitions*perPartition)
	c1.Close()

	// Kill the coordinator.
	old := adm.FindGroupCoordinators(ctx, group)[group]
	if old.Err != nil {
		t.Fatalf("find coordinator: %v", old.Err)
	}
	killed := time.Now()
	c.node(old.NodeID).b.kill9()
	t.Logf("killed coordinator %d", old.NodeID)

	// A new member of the group starts at the committed offsets.
	c2 := c.client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 200 * time.Millisecond }))
	first := map[int32]int64{}
	seen := map[int32]int64{}
	rest := 0
	for rest < partitions*perPartition-int(sum) {
		fs := c2.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("second consumer: %d of %d records, first offsets %v, committed %v", rest, partitions*perPartition-int(sum), first, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
				if len(first) == 1 {
					t.Logf("first record after the kill: %v", time.Since(killed).Round(time.Millisecond))
				}
			}
			if r.Offset < want[r.Partition] {
				t.Fatalf("partition %d: offset %d below the committed %d: a commit was lost", r.Partition, r.Offset, want[r.Partition])
			}
			if prev, ok := seen[r.Partition]; ok && r.Offset != prev+1 {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			seen[r.Partition] = r.Offset
			rest++
		})
	}
	for p := int32(0); p < partitions; p++ {
		if want[p] < perPartition && first[p] != want[p] {
			t.Fatalf("partition %d: resumed at %d, committed %d", p, first[p], want[p])
		}
	}
	// A fresh admin client seeded with the live brokers only: adm may
	// still hold the killed broker as the group's coordinator, and its
	// address still accepts connections (the proxy closes them at once).
	var live []string
	for _, nd := range c.nodes {
		if nd.id != old.NodeID {
			live = append(live, nd.front.addr())
		}
	}
	adm2 := kadm.NewClient(c.client(kgo.SeedBrokers(live...)))
	fc2 := adm2.FindGroupCoordinators(ctx, group)
	if fc2[group].Err != nil {
		t.Fatalf("find coordinator after failover: %v", fc2[group].Err)
	}
	if fc2[group].NodeID == old.NodeID {
		t.Fatalf("coordinator still %d after it was killed", old.NodeID)
	}
	var after kadm.OffsetResponses
	for {
		var err error
		after, err = adm2.FetchOffsets(ctx, group)
		if err == nil && after.Error() == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("fetch offsets after failover: %v %v", err, after.Error())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for p, o := range want {
		if got, ok := after.Lookup(topic, p); !ok || got.At != o {
			t.Fatalf("partition %d: committed offset %+v after failover, want %d", p, got, o)
		}
	}
	t.Logf("new coordinator %d; resumed at %v", fc2[group].NodeID, first)
}
