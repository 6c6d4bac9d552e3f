package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/IBM/sarama"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProduceTimestampValidation checks KIP-937 end to end with franz-go
// and sarama: under CreateTime a record stamped too far in the past or the
// future gets INVALID_TIMESTAMP and nothing of its batch is written, a
// current one succeeds; the bounds come from the broker defaults
// (log.message.timestamp.*.max.ms) or a topic's own configs set with
// CreateTopics, IncrementalAlterConfigs (kadm) or AlterConfigs (sarama),
// and DescribeConfigs shows them; LogAppendTime topics skip the check.
func TestProduceTimestampValidation(t *testing.T) {
	const hour = time.Hour
	b := startBroker(t, withOverride("log.message.timestamp.before.max.ms", "3600000"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	b.createTopic(t, "ts-default", 1)
	b.createTopic(t, "ts-strict", 1, "message.timestamp.before.max.ms", "60000", "message.timestamp.after.max.ms", "60000")
	b.createTopic(t, "ts-lat", 1, "message.timestamp.type", "LogAppendTime")

	adm := b.admin(t)
	described := describeTopicConfigs(ctx, t, b.franz(t), "ts-default", "ts-strict")
	for _, c := range []struct {
		topic, key, value string
		source            kmsg.ConfigSource
	}{
		{"ts-default", "message.timestamp.before.max.ms", "3600000", kmsg.ConfigSourceStaticBrokerConfig},
		{"ts-default", "message.timestamp.after.max.ms", "3600000", kmsg.ConfigSourceDefaultConfig},
		{"ts-strict", "message.timestamp.before.max.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig},
		{"ts-strict", "message.timestamp.after.max.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig},
	} {
		e, ok := described[c.topic][c.key]
		if !ok || e.Value == nil || *e.Value != c.value || e.Source != c.source || e.Documentation == nil || *e.Documentation == "" {
			t.Errorf("%s %s: %+v (want %s from %v, documented)", c.topic, c.key, e, c.value, c.source)
		}
	}

	// franz-go: one record per produce, each with its own timestamp.
	cl := b.franz(t)
	produce := func(topic string, ts time.Time, value string) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Timestamp: ts, Value: []byte(value)}).FirstErr()
	}
	now := time.Now()
	for _, c := range []struct {
		topic string
		ts    time.Time
		ok    bool
	}{
		{"ts-default", now.Add(-2 * hour), false},
		{"ts-default", now.Add(2 * hour), false},
		{"ts-default", now.Add(-30 * time.Minute), true},
		{"ts-strict", now.Add(-5 * time.Minute), false},
		{"ts-strict", now.Add(5 * time.Minute), false},
		{"ts-strict", now, true},
		{"ts-lat", now.Add(-48 * hour), true},
		{"ts-lat", now.Add(48 * hour), true},
	} {
		err := produce(c.topic, c.ts, "franz")
		if c.ok && err != nil {
			t.Fatalf("%s at %v: %v", c.topic, c.ts.Sub(now), err)
		}
		if !c.ok && !errors.Is(err, kerr.InvalidTimestamp) {
			t.Fatalf("%s at %v: got %v, want INVALID_TIMESTAMP", c.topic, c.ts.Sub(now), err)
		}
	}

	// sarama, through its own connection and version negotiation.
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_6_0_0
	scfg.Producer.Return.Successes = true
	scfg.Producer.RequiredAcks = sarama.WaitForAll
	scfg.Producer.Retry.Max = 0
	sp, err := sarama.NewSyncProducer([]string{b.addr()}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	ssend := func(topic string, ts time.Time) error {
		_, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("sarama"), Timestamp: ts})
		return err
	}
	for _, ts := range []time.Time{now.Add(-2 * hour), now.Add(2 * hour)} {
		if err := ssend("ts-default", ts); !errors.Is(err, sarama.ErrInvalidTimestamp) {
			t.Fatalf("sarama at %v: got %v, want INVALID_TIMESTAMP", ts.Sub(now), err)
		}
	}
	if err := ssend("ts-default", time.Now()); err != nil {
		t.Fatalf("sarama, current timestamp: %v", err)
	}

	// Per-record errors (Produce v8+): a three-record batch with one
	// record too old and one too new names both, and writes nothing.
	var bb storage.BatchBuilder
	ms := time.Now().UnixMilli()
	bb.Add(ms, nil, []byte("fine"))
	bb.Add(ms-2*hour.Milliseconds(), nil, []byte("old"))
	bb.Add(ms+2*hour.Milliseconds(), nil, []byte("new"))
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	tds, err := adm.ListTopics(ctx, "ts-default")
	if err != nil {
		t.Fatal(err)
	}
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "ts-default", tds["ts-default"].ID // v13+ name topics by id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = bb.Build()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, b.franz(t, kgo.DisableIdempotentWrite()))
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if kerr.ErrorForCode(p.ErrorCode) != kerr.InvalidTimestamp || len(p.ErrorRecords) != 2 ||
		p.ErrorRecords[0].RelativeOffset != 1 || p.ErrorRecords[1].RelativeOffset != 2 ||
		p.ErrorMessage == nil || *p.ErrorMessage != "One or more records have been rejected due to invalid timestamp" {
		t.Fatalf("v%d partition response: %+v", resp.Version, p)
	}
	t.Logf("record error: %s", *p.ErrorRecords[0].ErrorMessage)

	// Loosened with IncrementalAlterConfigs (kadm) and AlterConfigs
	// (sarama), the strict topic takes what it refused.
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.timestamp.after.max.ms", Value: kadm.StringPtr("10800000")}}, "ts-strict")
	if err == nil {
		for _, r := range rs {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	sa, err := sarama.NewClusterAdmin([]string{b.addr()}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	before := "86400000"
	after := "10800000" // AlterConfigs replaces the whole set: keep after.max.ms
	if err := sa.AlterConfig(sarama.TopicResource, "ts-strict", map[string]*string{"message.timestamp.before.max.ms": &before, "message.timestamp.after.max.ms": &after}, false); err != nil {
		t.Fatal(err)
	}
	described = describeTopicConfigs(ctx, t, b.franz(t), "ts-strict")
	if v := described["ts-strict"]["message.timestamp.before.max.ms"].Value; v == nil || *v != before {
		t.Fatalf("before.max.ms after AlterConfigs: %v", v)
	}
	// Topic configs reach the partition through the metadata watch: wait
	// for them rather than assume.
	testenv.Eventually(t, "the loosened strict topic to accept", func() bool {
		return produce("ts-strict", time.Now().Add(2*hour), "later") == nil
	})
	if err := ssend("ts-strict", time.Now().Add(-5*hour)); err != nil {
		t.Fatalf("sarama, 5 h old record after loosening: %v", err)
	}

	// Only the accepted records were written.
	ends, err := adm.ListEndOffsets(ctx, "ts-default", "ts-strict", "ts-lat")
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int64{"ts-default": 2, "ts-strict": 3, "ts-lat": 2} {
		if o, _ := ends.Lookup(topic, 0); o.Err != nil || o.Offset != want {
			t.Errorf("%s: end offset %d (%v), want %d", topic, o.Offset, o.Err, want)
		}
	}
}

// describeTopicConfigs returns each topic's DescribeConfigs entries by
// name, with their documentation (asked for on the wire: kadm does not).
func describeTopicConfigs(ctx context.Context, t *testing.T, cl *kgo.Client, topics ...string) map[string]map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	for _, topic := range topics {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		req.Resources = append(req.Resources, r)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, r := range resp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			t.Fatalf("describe %s: %v", r.ResourceName, err)
		}
		out[r.ResourceName] = map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, c := range r.Configs {
			out[r.ResourceName][c.Name] = c
		}
	}
	return out
}
