package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/storage"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Round trips through real clients: franz-go and kafka-go, every codec,
// each client reading what the other wrote.

var testCodecs = []struct {
	name    string
	kgo     kgo.CompressionCodec
	kafkago kafka.Compression
}{
	{"none", kgo.NoCompression(), 0},
	{"gzip", kgo.GzipCompression(), kafka.Gzip},
	{"snappy", kgo.SnappyCompression(), kafka.Snappy},
	{"lz4", kgo.Lz4Compression(), kafka.Lz4},
	{"zstd", kgo.ZstdCompression(), kafka.Zstd},
}

// clientTopic creates a topic through the admin API.
func clientTopic(t *testing.T, tb *testBroker, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := tb.admin(t).CreateTopic(testCtx(t), partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("creating %s: %v %v", name, err, resp.Err)
	}
}

// keyedRecords are n records over 7 keys; each value is "<key>:<seq>" with
// seq counting up per key, so per-key order can be checked.
func keyedRecords(topic string, n int) []*kgo.Record {
	seq := map[string]int{}
	var out []*kgo.Record
	for i := range n {
		k := "key-" + strconv.Itoa(i%7)
		out = append(out, &kgo.Record{Topic: topic, Key: []byte(k), Value: fmt.Appendf(nil, "%s:%d", k, seq[k])})
		seq[k]++
	}
	return out
}

// consumeAll reads n records of topic from the start with franz-go.
func consumeAll(t *testing.T, tb *testBroker, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := tb.client(t, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	return pollN(t, cl, n)
}

// pollN polls n records from a consuming client.
func pollN(t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

// checkKeyed checks that every key's values arrive in order, that offsets
// are dense per partition, and that a key stays on one partition.
func checkKeyed(t *testing.T, recs []*kgo.Record, key func(r *kgo.Record) string, value func(r *kgo.Record) string) {
	t.Helper()
	next := map[string]int{}
	part := map[string]int32{}
	offs := map[int32][]int64{}
	for _, r := range recs {
		k := key(r)
		want := fmt.Sprintf("%s:%d", k, next[k])
		if v := value(r); v != want {
			t.Fatalf("partition %d offset %d: value %q, want %q", r.Partition, r.Offset, v, want)
		}
		next[k]++
		if p, ok := part[k]; ok && p != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", k, p, r.Partition)
		}
		part[k] = r.Partition
		offs[r.Partition] = append(offs[r.Partition], r.Offset)
	}
	for p, os := range offs {
		slices.Sort(os)
		for i, o := range os {
			if o != int64(i) {
				t.Fatalf("partition %d: offsets %v are not dense from 0", p, os)
			}
		}
	}
}

func TestFranzGoRoundTrip(t *testing.T) {
	tb := startTestBroker(t)
	for _, c := range testCodecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "franz-" + c.name
			clientTopic(t, tb, topic, 3, nil)
			// franz-go produces idempotently by default (InitProducerId).
			prod := tb.client(t, kgo.ProducerBatchCompression(c.kgo), kgo.ProducerLinger(0))
			recs := keyedRecords(topic, 500)
			if err := prod.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cons := tb.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := pollN(t, cons, len(recs))
			checkKeyed(t, got, func(r *kgo.Record) string { return string(r.Key) }, func(r *kgo.Record) string { return string(r.Value) })
			// franz-go consumers fetch with KIP-227 sessions: records
			// produced now reach the open session incrementally.
			if err := prod.ProduceSync(testCtx(t), keyedRecords(topic, 10)...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			pollN(t, cons, 10)
			if e := maxSessionEpoch(tb); e < 2 {
				t.Fatalf("no incremental fetch was served (highest next session epoch %d)", e)
			}
		})
	}
}

// maxSessionEpoch is the highest next-epoch among the cached fetch
// sessions: 2 or more means an incremental fetch succeeded.
func maxSessionEpoch(tb *testBroker) int32 {
	var e int32
	for _, n := range tb.fetchSessions.NextEpochs() {
		e = max(e, n)
	}
	return e
}

// kafkaGoTransport is a kafka-go transport of the test's own (the default
// one caches metadata across tests), closed at the end.
func kafkaGoTransport(t *testing.T) *kafka.Transport {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func TestKafkaGoRoundTrip(t *testing.T) {
	tb := startTestBroker(t)
	for _, c := range testCodecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "kgo-" + c.name
			clientTopic(t, tb, topic, 1, nil)
			ctx := testCtx(t)
			w := &kafka.Writer{
				Addr:         kafka.TCP(tb.addr),
				Topic:        topic,
				Balancer:     &kafka.Hash{},
				RequiredAcks: kafka.RequireAll,
				Compression:  c.kafkago,
				BatchSize:    50,
				Transport:    kafkaGoTransport(t),
			}
			defer w.Close()
			var msgs []kafka.Message
			for _, r := range keyedRecords(topic, 300) {
				msgs = append(msgs, kafka.Message{Key: r.Key, Value: r.Value})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatal(err)
			}

			// kafka-go reads what kafka-go wrote …
			rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{tb.addr}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
			defer rd.Close()
			var got []*kgo.Record
			for range msgs {
				m, err := rd.ReadMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, &kgo.Record{Key: m.Key, Value: m.Value, Partition: int32(m.Partition), Offset: m.Offset})
			}
			checkKeyed(t, got, func(r *kgo.Record) string { return string(r.Key) }, func(r *kgo.Record) string { return string(r.Value) })
			// … and so does franz-go.
			checkKeyed(t, consumeAll(t, tb, topic, len(msgs)), func(r *kgo.Record) string { return string(r.Key) }, func(r *kgo.Record) string { return string(r.Value) })
		})
	}
}

// kafka-go consumes what franz-go produced, compressed.
func TestKafkaGoReadsFranzGo(t *testing.T) {
	tb := startTestBroker(t)
	clientTopic(t, tb, "cross", 1, nil)
	prod := tb.client(t, kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.DefaultProduceTopic("cross"))
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if err := prod.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Start in the middle of whatever batch holds offset 37.
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{tb.addr}, Topic: "cross", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	if err := rd.SetOffset(37); err != nil {
		t.Fatal(err)
	}
	for i := 37; i < 100; i++ {
		m, err := rd.ReadMessage(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if m.Offset != int64(i) || string(m.Value) != strconv.Itoa(i) {
			t.Fatalf("got offset %d value %s, want %d", m.Offset, m.Value, i)
		}
	}
}

// A consumer started mid-batch with franz-go sees exactly the records from
// its offset on (the broker returns the whole batch; PITFALLS 4).
func TestFranzGoConsumeFromMiddleOfBatch(t *testing.T) {
	tb := startTestBroker(t)
	clientTopic(t, tb, "mid", 1, nil)
	br := rawBroker(t, tb)
	rawProduce(t, br, "mid", 0, testBatch("v", 10, 1))
	cl := tb.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"mid": {0: kgo.NewOffset().At(6)}}))
	var vals []string
	for len(vals) < 4 {
		fs := cl.PollFetches(testCtx(t))
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, fmt.Sprintf("%d:%s", r.Offset, r.Value)) })
	}
	if got := strings.Join(vals, " "); got != "6:v-6 7:v-7 8:v-8 9:v-9" {
		t.Fatalf("got %s", got)
	}
}

// A franz-go consumer long-polling an empty topic gets records produced
// after it started waiting.
func TestFranzGoLongPoll(t *testing.T) {
	tb := startTestBroker(t)
	clientTopic(t, tb, "later", 1, nil)
	cons := tb.client(t, kgo.ConsumeTopics("later"), kgo.FetchMaxWait(30*time.Second))
	ctx := testCtx(t)
	got := make(chan []*kgo.Record, 1)
	go func() {
		var recs []*kgo.Record
		for len(recs) == 0 && ctx.Err() == nil {
			recs = append(recs, cons.PollFetches(ctx).Records()...)
		}
		got <- recs
	}()
	prod := tb.client(t, kgo.DefaultProduceTopic("later"))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	recs := <-got
	if len(recs) != 1 || string(recs[0].Value) != "hello" {
		t.Fatalf("got %v", recs)
	}
}

// MESSAGE_TOO_LARGE reaches a franz-go producer from the topic's own
// max.message.bytes.
func TestFranzGoMessageTooLarge(t *testing.T) {
	tb := startTestBroker(t)
	small := "1000"
	clientTopic(t, tb, "tiny", 1, map[string]*string{"max.message.bytes": &small})
	prod := tb.client(t, kgo.DefaultProduceTopic("tiny"))
	big := make([]byte, 5000)
	rand.Read(big) // incompressible: franz-go compresses by default
	err := prod.ProduceSync(testCtx(t), &kgo.Record{Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("got %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := prod.ProduceSync(testCtx(t), &kgo.Record{Value: make([]byte, 100)}).FirstErr(); err != nil {
		t.Fatalf("small record: %v", err)
	}
}

// An idempotent producer's retried batch is not written twice, and a
// sequence gap is refused.
func TestIdempotentRetries(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "idem", 1, nil)
	br := rawBroker(t, tb)
	pid, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(testCtx(t), br)
	if err != nil || pid.ErrorCode != 0 {
		t.Fatal(err, pid)
	}
	batch := func(seq int32, n int) []byte {
		var bb storage.BatchBuilder
		bb.ProducerID, bb.ProducerEpoch, bb.BaseSequence, bb.Idempotent = pid.ProducerID, pid.ProducerEpoch, seq, true
		for i := range n {
			bb.Add(int64(i), nil, []byte("x"))
		}
		return bb.Build()
	}
	first := rawProduce(t, br, "idem", 0, batch(0, 3))
	retry := rawProduce(t, br, "idem", 0, batch(0, 3))
	if first.ErrorCode != 0 || retry.ErrorCode != 0 || retry.BaseOffset != first.BaseOffset {
		t.Fatalf("first %+v, retry %+v", first, retry)
	}
	// As Kafka, the retry's LogAppendTime is the first append's max
	// timestamp (2), even under CreateTime, where the first has -1.
	if first.LogAppendTime != -1 || retry.LogAppendTime != 2 || retry.LogStartOffset != 0 {
		t.Fatalf("first append time %d; retry append time %d, log start %d", first.LogAppendTime, retry.LogAppendTime, retry.LogStartOffset)
	}
	if next := rawProduce(t, br, "idem", 0, batch(3, 1)); next.ErrorCode != 0 || next.BaseOffset != 3 {
		t.Fatalf("next: %+v", next)
	}
	// A refused sequence carries the log start offset, as Kafka.
	gap := rawProduce(t, br, "idem", 0, batch(10, 1))
	if kerr.ErrorForCode(gap.ErrorCode) != kerr.OutOfOrderSequenceNumber || gap.BaseOffset != -1 || gap.LogAppendTime != -1 || gap.LogStartOffset != 0 {
		t.Fatalf("gap: %v %+v", kerr.ErrorForCode(gap.ErrorCode), gap)
	}
	if lo := listOffset(t, br, "idem", 0, -1, 0); lo.Offset != 4 {
		t.Fatalf("log end %d, want 4", lo.Offset)
	}
}
