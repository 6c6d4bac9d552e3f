package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAutoCreateFollowsKafkaEnvironment starts the broker configured the way
// a docker-compose file configures Kafka (KAFKA_* variables) and lets kcat
// create a topic by producing to it.
func TestAutoCreateFollowsKafkaEnvironment(t *testing.T) {
	b := startBroker(t, withEnv("KAFKA_NUM_PARTITIONS", "4"), withEnv("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true"))
	kcat(t, "one\ntwo\nthree\n", "-b", b.addr(), "-P", "-t", "made-by-kcat")
	out := kcat(t, "", "-b", b.addr(), "-L", "-t", "made-by-kcat")
	if !strings.Contains(out, `topic "made-by-kcat" with 4 partitions`) {
		t.Fatalf("kcat -L:\n%s", out)
	}
	got := kcat(t, "", "-b", b.addr(), "-C", "-t", "made-by-kcat", "-o", "beginning", "-e", "-f", "%s\n")
	if n := len(strings.Fields(got)); n != 3 {
		t.Fatalf("read %d records back: %q", n, got)
	}
}

// TestTopicAdminWithTwoClients creates, configures and deletes topics with
// kadm and sarama's ClusterAdmin and checks each sees the other's changes.
func TestTopicAdminWithTwoClients(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := b.admin(t)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	sa, err := sarama.NewClusterAdmin([]string{b.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()

	retention := "3600000"
	if err := sa.CreateTopic("by-sarama", &sarama.TopicDetail{NumPartitions: 5, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &retention}}, false); err != nil {
		t.Fatalf("sarama create: %v", err)
	}
	details, err := adm.ListTopics(ctx, "by-sarama")
	if err != nil || len(details["by-sarama"].Partitions) != 5 {
		t.Fatalf("kadm sees %+v, %v", details, err)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "by-sarama")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("by-sarama", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sawRetention, sawDefault bool
	for _, e := range c.Configs {
		if e.Key == "retention.ms" && e.MaybeValue() == retention && e.Source == kmsg.ConfigSourceDynamicTopicConfig {
			sawRetention = true
		}
		if e.Key == "segment.bytes" && e.Source == kmsg.ConfigSourceDefaultConfig && e.MaybeValue() == "1073741824" {
			sawDefault = true
		}
	}
	if !sawRetention || !sawDefault {
		t.Fatalf("describe configs: override seen %v, default seen %v: %+v", sawRetention, sawDefault, c.Configs)
	}

	// Invalid input gets Kafka's errors.
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("sometimes")}, "bad-config")
	if err == nil {
		err = resp.Err
	}
	if err != kerr.InvalidConfig {
		t.Fatalf("bad config: %v, want INVALID_CONFIG", err)
	}
	resp, err = adm.CreateTopic(ctx, 1, 1, nil, "bad/name")
	if err == nil {
		err = resp.Err
	}
	if err != kerr.InvalidTopicException {
		t.Fatalf("bad name: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	if err := sa.CreateTopic("by-sarama", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate create: %v", err)
	}

	// Alter with one client, read with the other.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("7200000")}}, "by-sarama"); err != nil {
		t.Fatal(err)
	}
	entries, err := sa.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "by-sarama"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "retention.ms" {
			found = e.Value == "7200000"
		}
	}
	if !found {
		t.Fatalf("sarama does not see the altered retention.ms")
	}

	if err := sa.CreatePartitions("by-sarama", 8, nil, false); err != nil {
		t.Fatalf("sarama create partitions: %v", err)
	}
	if err := sa.DeleteTopic("by-sarama"); err != nil {
		t.Fatalf("sarama delete: %v", err)
	}
	details, err = adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if details.Has("by-sarama") {
		t.Fatal("deleted topic still listed")
	}
}

// TestListOffsetsByTimestamp writes records with known timestamps and looks
// offsets up by time with kadm and with kcat.
func TestListOffsetsByTimestamp(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "by-time", 1)
	cl := b.franz(t, kgo.DefaultProduceTopic("by-time"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	target := base.Add(4*time.Minute + 30*time.Second)
	lo, err := b.admin(t).ListOffsetsAfterMilli(ctx, target.UnixMilli(), "by-time")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := lo.Lookup("by-time", 0)
	if o.Err != nil || o.Offset != 5 {
		t.Fatalf("kadm: offset for %v = %d (%v), want 5", target, o.Offset, o.Err)
	}
	out := kcat(t, "", "-b", b.addr(), "-C", "-t", "by-time", "-o", fmt.Sprintf("s@%d", target.UnixMilli()), "-c", "1", "-e", "-f", "%o\n")
	if strings.TrimSpace(out) != "5" {
		t.Fatalf("kcat -o s@: %q, want 5", out)
	}
}

// TestIdempotentRetryIsNotDuplicated sends the same idempotent batch twice,
// as a producer retrying after a lost response would, and checks the second
// append returns the first one's offset and writes nothing.
func TestIdempotentRetryIsNotDuplicated(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "idem", 1)
	cl := b.franz(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	initResp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err != nil || initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %+v", err, initResp)
	}
	batch := idempotentBatch(initResp.ProducerID, initResp.ProducerEpoch, 0, 3)
	var offsets []int64
	for attempt := 0; attempt < 2; attempt++ {
		offsets = append(offsets, produceRaw(t, ctx, cl, "idem", batch))
	}
	if offsets[0] != offsets[1] {
		t.Fatalf("retry got offset %d, first append %d", offsets[1], offsets[0])
	}
	end, err := b.admin(t).ListEndOffsets(ctx, "idem")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("idem", 0); o.Offset != 3 {
		t.Fatalf("log end %d after a duplicate, want 3", o.Offset)
	}
	// A gap in sequence numbers is refused.
	gap := idempotentBatch(initResp.ProducerID, initResp.ProducerEpoch, 10, 1)
	if code := produceRawCode(t, ctx, cl, "idem", gap); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", code)
	}
}

func idempotentBatch(pid int64, epoch int16, firstSeq int32, n int) []byte {
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{
		Magic:           2,
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		FirstSequence:   firstSeq,
		NumRecords:      int32(n),
		LastOffsetDelta: int32(n - 1),
		FirstTimestamp:  now,
		MaxTimestamp:    now,
	}
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(fmt.Sprintf("v%d", i))}
		// Length is a varint of what follows it: encode once with length
		// 0 (one byte) to learn the size, then for real.
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = append(recs, r.AppendTo(nil)...)
	}
	rb.Records = recs
	return finishBatch(rb)
}

// finishBatch encodes a RecordBatch with its length and CRC filled in.
func finishBatch(rb kmsg.RecordBatch) []byte {
	raw := rb.AppendTo(nil)
	// Length counts from the partition leader epoch to the end.
	rb.Length = int32(len(raw) - 12)
	raw = rb.AppendTo(nil)
	rb.CRC = int32(crc32c(raw[21:]))
	return rb.AppendTo(nil)
}

func produceRaw(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, batch []byte) int64 {
	t.Helper()
	resp := produceRawResp(t, ctx, cl, topic, batch)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("produce: error %d", p.ErrorCode)
	}
	return p.BaseOffset
}

func produceRawCode(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, batch []byte) int16 {
	return produceRawResp(t, ctx, cl, topic, batch).Topics[0].Partitions[0].ErrorCode
}

func produceRawResp(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, batch []byte) *kmsg.ProduceResponse {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	// Produce v13 names topics by id (KIP-516); older versions by name.
	topics, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rt.TopicID = topics[topic].ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp
}
