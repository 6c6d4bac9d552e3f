package integration

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Share groups (KIP-932) driven by franz-go's share consumer and raw
// kmsg requests; the Java KafkaShareConsumer and kafka-share-groups are in
// share_groups_java_test.go.

// shareBroker starts a broker serving share groups.
func shareBroker(t *testing.T, opts ...brokerOption) *broker {
	return startBroker(t, append([]brokerOption{withOverride("group.share.enable", "true")}, opts...)...)
}

// setGroupConfig sets a GROUP config key with IncrementalAlterConfigs.
func setGroupConfig(t *testing.T, b *broker, group, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name, c.Value = kmsg.IncrementalAlterConfigOpSet, key, &value
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, b.franz(t))
	if err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("set %s=%s on group %s: %v %+v", key, value, group, err, resp)
	}
}

// produceN produces n records "0".."n-1" to partition 0 of topic.
func produceN(t *testing.T, b *broker, topic string, from, n int) {
	t.Helper()
	cl := b.franz(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i)), Partition: 0})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestShareGroupFranzConsumers: several franz-go share consumers share one
// partition; every record is delivered and accepted exactly once.
func TestShareGroupFranzConsumers(t *testing.T) {
	b := shareBroker(t)
	const topic, group, n = "share-t", "share-g", 3000
	b.createTopic(t, topic, 1)
	setGroupConfig(t, b, group, "share.auto.offset.reset", "earliest")
	produceN(t, b, topic, 0, n)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	per := make([]int, 3)
	var wg sync.WaitGroup
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := b.franz(t, kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ShareMaxRecords(50))
			for ctx.Err() == nil {
				fs := cl.PollRecords(ctx, 50)
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)]++
					per[c]++
					if len(seen) == n {
						cancel() // everyone stops
					}
					mu.Unlock()
				})
			}
			if err := cl.FlushAcks(context.Background()); err != nil {
				t.Errorf("flush acks: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d distinct records of %d delivered\n%s", len(seen), n, tail(b.logs(), 40))
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("record %s delivered %d times", v, c)
		}
	}
	t.Logf("records per consumer: %v", per)
}
