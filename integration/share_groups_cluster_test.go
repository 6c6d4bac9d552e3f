package integration

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterShareGroupLeaderKill: three brokers, a share group of three
// franz-go consumers on one partition with three replicas; the partition's
// leader is killed (SIGKILL) during consumption. The new leader reloads the
// share-partition's state from __share_group_state (replicated, its own
// leader possibly moved too) and carries on: every record is delivered, a
// record delivered twice came back with a higher delivery count (it had not
// been accepted), and at the end the share-partition start offset is past
// every record.
func TestClusterShareGroupLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	const topic, group, n = "share-kill", "share-kill-g", 3000
	c := startCluster(t, 3, "group.share.enable=true", "min.insync.replicas=2", "default.replication.factor=3",
		"offsets.topic.replication.factor=3", "share.coordinator.state.topic.replication.factor=3")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := c.replicatedTopic(ctx, topic, 1)
	prod := c.failoverProducer()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i))})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// share.auto.offset.reset=earliest for the group.
	v := "earliest"
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Op, cfg.Name, cfg.Value = kmsg.IncrementalAlterConfigOpSet, "share.auto.offset.reset", &v
	res.Configs = append(res.Configs, cfg)
	req.Resources = append(req.Resources, res)
	if resp, err := req.RequestWith(ctx, c.client()); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("group config: %v %+v", err, resp)
	}

	var mu sync.Mutex
	deliveries := map[string][]int32{}
	killAt := n / 3
	killed := make(chan int32, 1)
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.client(kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ShareMaxRecords(20),
				kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
				kgo.DialTimeout(2*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
			for rctx.Err() == nil {
				cl.PollRecords(rctx, 20).EachRecord(func(r *kgo.Record) {
					mu.Lock()
					defer mu.Unlock()
					v := string(r.Value)
					deliveries[v] = append(deliveries[v], r.DeliveryCount())
					if len(deliveries) == n {
						rcancel()
					}
				})
				// Kill the leader once a third of the records went out.
				mu.Lock()
				kill := len(deliveries) >= killAt && len(killed) == 0
				if kill {
					td, _, err := c.metadata(ctx, adm, topic)
					if err == nil {
						leader := td.Partitions[0].Leader
						c.node(leader).b.kill9()
						killed <- leader
						t.Logf("killed leader %d after %d records", leader, len(deliveries))
					}
				}
				mu.Unlock()
			}
			// The last poll's records are accepted at the next poll;
			// there is none, so accept them now.
			cl.MarkAcks(kgo.AckAccept)
			fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer fcancel()
			if err := cl.FlushAcks(fctx); err != nil {
				t.Errorf("flush acks: %v", err)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("%d of %d records delivered before the deadline", len(deliveries), n)
	}
	if len(killed) == 0 {
		t.Fatal("the leader was never killed")
	}
	redelivered := 0
	for i := 0; i < n; i++ {
		d := deliveries[strconv.Itoa(i)]
		if len(d) == 0 {
			t.Errorf("record %d never delivered", i)
			continue
		}
		for j := 1; j < len(d); j++ {
			if d[j] <= d[j-1] {
				t.Errorf("record %d delivered %v: a repeat without a higher delivery count (accepted twice)", i, d)
			}
		}
		if len(d) > 1 {
			redelivered++
		}
	}
	t.Logf("%d records delivered again after the failover", redelivered)

	// Every record accepted: the start offset reaches the end.
	var live []string
	dead := <-killed
	for _, nd := range c.nodes {
		if nd.id != dead {
			live = append(live, nd.front.addr())
		}
	}
	adm2 := kadm.NewClient(c.client(kgo.SeedBrokers(live...)))
	deadline := time.Now().Add(30 * time.Second)
	for {
		described, err := adm2.DescribeShareGroupOffsets(ctx, group)
		start := int64(-2)
		if err == nil {
			if o, ok := described[group].Offsets.Lookup(topic, 0); ok && o.Err == nil {
				start = o.StartOffset
			}
		}
		if start == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("share-partition start offset %d, want %d: %v", start, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
