package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// rawBroker is a connection to the test broker for hand-made requests,
// capped at the last Produce and Fetch versions that name topics (v13 of
// both switch to topic ids).
func rawBroker(t *testing.T, tb *testBroker) *kgo.Broker {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 12)
	v.SetMaxKeyVersion(1, 12)
	return tb.client(t, kgo.MaxVersions(v)).SeedBrokers()[0]
}

// acksBroker is rawBroker for produce requests with acks 0 or 1: kgo
// rewrites a request's acks to the client's.
func acksBroker(t *testing.T, tb *testBroker, acks int16) *kgo.Broker {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 12)
	v.SetMaxKeyVersion(1, 12)
	a := kgo.LeaderAck()
	if acks == 0 {
		a = kgo.NoAck()
	}
	return tb.client(t, kgo.MaxVersions(v), kgo.RequiredAcks(a), kgo.DisableIdempotentWrite()).SeedBrokers()[0]
}

// testBatch builds an uncompressed batch of n records with values
// "<prefix>-<i>" and timestamps ts, ts+1, ….
func testBatch(prefix string, n int, ts int64) []byte {
	var bb storage.BatchBuilder
	for i := range n {
		bb.Add(ts+int64(i), nil, fmt.Appendf(nil, "%s-%d", prefix, i))
	}
	return bb.Build()
}

// rawProduce sends one partition's records with the acks of br's client
// (-1 for rawBroker, see acksBroker).
func rawProduce(t *testing.T, br *kgo.Broker, topic string, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), br)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) == 0 { // acks=0: kgo's stand-in response
		return kmsg.ProduceResponseTopicPartition{}
	}
	return resp.Topics[0].Partitions[0]
}

func TestProduceAssignsOffsets(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "p", 2, nil)
	br := rawBroker(t, tb)

	p := rawProduce(t, br, "p", 1, testBatch("a", 3, 1000))
	if p.ErrorCode != 0 || p.BaseOffset != 0 || p.LogStartOffset != 0 || p.LogAppendTime != -1 {
		t.Fatalf("first produce: %+v", p)
	}
	p = rawProduce(t, acksBroker(t, tb, 1), "p", 1, testBatch("b", 2, 2000))
	if p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("second produce: %+v", p)
	}
	// Two batches in one partition entry are refused, as Kafka does
	// (TestProduceErrors); offsets go on after the last accepted batch.
	p = rawProduce(t, br, "p", 1, testBatch("c", 3, 3000))
	if p.ErrorCode != 0 || p.BaseOffset != 5 {
		t.Fatalf("third produce: %+v", p)
	}
	if hw := localReplica(tb, "p", 1).log.HighWatermark(); hw != 8 {
		t.Fatalf("HW %d, want 8", hw)
	}
}

func TestProduceErrors(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "small", 1, map[string]string{"max.message.bytes": "200"})
	dataTopic(t, tb, "compacted", 1, map[string]string{"cleanup.policy": "compact"})
	dataTopic(t, tb, "strict", 1, map[string]string{"min.insync.replicas": "2"})
	br := rawBroker(t, tb)

	corrupt := testBatch("x", 1, 1)
	corrupt[len(corrupt)-1] ^= 0xff // breaks the CRC

	var txn storage.BatchBuilder
	txn.Transactional, txn.ProducerID, txn.ProducerEpoch, txn.Idempotent = true, 7, 0, true
	txn.Add(1, nil, []byte("t"))

	twoBatches := append(testBatch("a", 1, 1), testBatch("b", 1, 1)...)
	magic1 := testBatch("x", 1, 1)
	magic1[16] = 1

	for _, c := range []struct {
		name      string
		topic     string
		partition int32
		acks      int16
		records   []byte
		want      *kerr.Error
		// logStart: the log start offset (0) that Kafka's answer
		// carries when the leader's append itself refused the batch,
		// else -1.
		logStart int64
	}{
		{"unknown topic", "nope", 0, 1, testBatch("x", 1, 1), kerr.UnknownTopicOrPartition, -1},
		{"unknown partition", "small", 5, 1, testBatch("x", 1, 1), kerr.UnknownTopicOrPartition, -1},
		{"bad name", "bad/name", 0, 1, testBatch("x", 1, 1), kerr.InvalidTopicException, -1},
		{"too large", "small", 0, 1, testBatch(string(bytes.Repeat([]byte("v"), 300)), 1, 1), kerr.MessageTooLarge, -1},
		{"corrupt", "small", 0, 1, corrupt, kerr.CorruptMessage, -1},
		{"keyless on compacted", "compacted", 0, 1, testBatch("x", 1, 1), kerr.InvalidRecord, 0},
		// Kafka refuses transactional records without a transactional
		// id as an authorization failure of the whole request.
		{"transactional batch", "small", 0, 1, txn.Build(), kerr.TransactionalIDAuthorizationFailed, -1},
		{"two batches", "small", 0, 1, twoBatches, kerr.InvalidRecord, -1},
		{"no batch", "small", 0, 1, nil, kerr.InvalidRecord, -1},
		{"magic 1", "small", 0, 1, magic1, kerr.InvalidRecord, -1},
		{"min isr", "strict", 0, -1, testBatch("x", 1, 1), kerr.NotEnoughReplicas, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := rawProduce(t, br, c.topic, c.partition, c.records)
			if got := kerr.ErrorForCode(p.ErrorCode); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if p.BaseOffset != -1 || p.LogAppendTime != -1 || p.LogStartOffset != c.logStart {
				t.Fatalf("offsets on error: base %d, append time %d, log start %d (want %d)", p.BaseOffset, p.LogAppendTime, p.LogStartOffset, c.logStart)
			}
		})
	}
	// min.insync.replicas only binds acks=all.
	if p := rawProduce(t, acksBroker(t, tb, 1), "strict", 0, testBatch("x", 1, 1)); p.ErrorCode != 0 {
		t.Fatalf("acks=1 to strict: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

// zstd needs Produce v7 (KIP-110): an older request using it gets
// UNSUPPORTED_COMPRESSION_TYPE, and nothing is written.
func TestProduceZstdNeedsV7(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "z", 1, nil)
	var bb storage.BatchBuilder
	bb.Codec = storage.CodecZstd
	bb.Add(time.Now().UnixMilli(), nil, []byte("zstd"))

	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 6)
	old := tb.client(t, kgo.MaxVersions(v)).SeedBrokers()[0]
	if p := rawProduce(t, old, "z", 0, bb.Build()); kerr.ErrorForCode(p.ErrorCode) != kerr.UnsupportedCompressionType {
		t.Fatalf("v6 zstd: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := rawProduce(t, rawBroker(t, tb), "z", 0, bb.Build()); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("v12 zstd: %v at %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
}

// Acks other than 0, 1 and -1 fail every partition. (kgo rewrites acks,
// so this goes over a raw connection.)
func TestProduceInvalidAcks(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "a", 1, nil)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(8)
	req.Acks, req.TimeoutMillis = 2, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "a"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = testBatch("x", 1, 1)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c := wiretest.Dial(t, tb.addr)
	wiretest.Send(t, c, req, 7)
	corr, body := wiretest.ReadResponse(t, c)
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(8)
	if err := resp.ReadFrom(body); err != nil || corr != 7 {
		t.Fatal(corr, err)
	}
	if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != kerr.InvalidRequiredAcks {
		t.Fatalf("got %v", got)
	}
}

func TestProduceAcksZero(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "z", 1, nil)
	br := acksBroker(t, tb, 0)
	for range 3 {
		rawProduce(t, br, "z", 0, testBatch("z", 2, 1))
	}
	// kgo sends produce requests on their own connection, so poll until
	// the appends show (or the test's deadline fails it).
	ctx := testCtx(t)
	for {
		if off := listOffset(t, br, "z", 0, -1, 0); off.Offset == 6 {
			break
		} else if off.Offset > 6 {
			t.Fatalf("latest offset %d after three acks=0 produces of 2", off.Offset)
		}
		select {
		case <-ctx.Done():
			t.Fatal("acks=0 records never appeared")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestProduceLogAppendTime(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	p := rawProduce(t, rawBroker(t, tb), "lat", 0, testBatch("x", 1, 5))
	if p.ErrorCode != 0 || p.LogAppendTime <= 5 {
		t.Fatalf("%+v", p)
	}
}

func TestHasTransactionalBatch(t *testing.T) {
	plain := testBatch("x", 2, 1)
	var txn storage.BatchBuilder
	txn.Transactional, txn.ProducerID, txn.Idempotent = true, 1, true
	txn.Add(1, nil, nil)
	tb := txn.Build()
	if hasTransactionalBatch(plain) || hasTransactionalBatch(nil) || hasTransactionalBatch(plain[:20]) {
		t.Fatal("plain batch reported transactional")
	}
	if !hasTransactionalBatch(tb) || !hasTransactionalBatch(append(append([]byte{}, plain...), tb...)) {
		t.Fatal("transactional batch missed")
	}
	bad := append([]byte{}, plain...)
	binary.BigEndian.PutUint32(bad[8:], 1<<30) // length past the end
	if hasTransactionalBatch(append(bad, tb...)) {
		t.Fatal("read past a bad length")
	}
}

// Produce v13 and Fetch v13+ name topics by id.
func TestProduceFetchByTopicID(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "ids", 1, nil)
	id := tb.ctrl.Snapshot().Topics["ids"].ID
	br := tb.client(t).SeedBrokers()[0] // newest versions
	ctx := testCtx(t)

	produce := func(topicID [16]byte) kmsg.ProduceResponseTopic {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.TopicID = topicID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = testBatch("id", 2, 1)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, br)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version < 13 {
			t.Skipf("client sent Produce v%d", resp.Version)
		}
		return resp.Topics[0]
	}
	if rt := produce(id); rt.TopicID != id || rt.Partitions[0].ErrorCode != 0 || rt.Partitions[0].BaseOffset != 0 {
		t.Fatalf("by id: %+v", rt)
	}
	if rt := produce([16]byte{1, 2, 3}); kerr.ErrorForCode(rt.Partitions[0].ErrorCode) != kerr.UnknownTopicID {
		t.Fatalf("unknown id: %+v", rt)
	}

	fetch := func(topicID [16]byte) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, br)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := fetch(id)
	if resp.Topics[0].TopicID != id || len(fetchedValues(t, "ids", onlyPartition(t, resp), 0)) != 2 {
		t.Fatalf("fetch by id: %+v", resp)
	}
	resp = fetch([16]byte{9})
	if p := onlyPartition(t, resp); kerr.ErrorForCode(p.ErrorCode) != kerr.UnknownTopicID {
		t.Fatalf("fetch unknown id: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

// Records a batch is rejected for come back one by one from v8 (index
// within the batch and message), beside the partition's error message and
// the log start offset; nothing of the batch is written.
func TestProduceRecordErrors(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "ts", 1, map[string]string{"message.timestamp.before.max.ms": "60000", "message.timestamp.after.max.ms": "60000"})
	dataTopic(t, tb, "keys", 1, map[string]string{"cleanup.policy": "compact"})
	br := rawBroker(t, tb)

	now := time.Now().UnixMilli()
	var bb storage.BatchBuilder
	bb.Add(now, nil, []byte("ok"))
	bb.Add(now-3_600_000, nil, []byte("old"))
	bb.Add(now+3_600_000, nil, []byte("future"))
	p := rawProduce(t, br, "ts", 0, bb.Build())
	if got := kerr.ErrorForCode(p.ErrorCode); got != kerr.InvalidTimestamp {
		t.Fatalf("got %v, want INVALID_TIMESTAMP", got)
	}
	if p.ErrorMessage == nil || *p.ErrorMessage != "One or more records have been rejected due to invalid timestamp" {
		t.Fatalf("error message %v", p.ErrorMessage)
	}
	if len(p.ErrorRecords) != 2 || p.ErrorRecords[0].RelativeOffset != 1 || p.ErrorRecords[1].RelativeOffset != 2 {
		t.Fatalf("error records %+v", p.ErrorRecords)
	}
	if m := p.ErrorRecords[0].ErrorMessage; m == nil || !strings.HasPrefix(*m, fmt.Sprintf("Timestamp %d of message with offset 1 is out of range. The timestamp should be within [", now-3_600_000)) {
		t.Fatalf("record message %v", m)
	}
	if p.BaseOffset != -1 || p.LogStartOffset != 0 {
		t.Fatalf("offsets %+v", p)
	}
	if leo := localReplica(tb, "ts", 0).log.LogEndOffset(); leo != 0 {
		t.Fatalf("rejected batch written: LEO %d", leo)
	}
	if p := rawProduce(t, br, "ts", 0, testBatch("x", 2, now)); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("valid batch: %+v", p)
	}

	bb.Reset()
	bb.Add(now, []byte("k"), []byte("v"))
	bb.Add(now, nil, []byte("v"))
	p = rawProduce(t, br, "keys", 0, bb.Build())
	if got := kerr.ErrorForCode(p.ErrorCode); got != kerr.InvalidRecord || len(p.ErrorRecords) != 1 || p.ErrorRecords[0].RelativeOffset != 1 ||
		*p.ErrorRecords[0].ErrorMessage != "Compacted topic cannot accept message without key in topic partition keys-0" {
		t.Fatalf("keyless: %v %+v", got, p.ErrorRecords)
	}

	// Before v8 the response has neither field.
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(7)
	req.Acks, req.TimeoutMillis = 1, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "ts"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = testBatch("x", 1, now-3_600_000)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c := wiretest.Dial(t, tb.addr)
	wiretest.Send(t, c, req, 9)
	corr, body := wiretest.ReadResponse(t, c)
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(7)
	if err := resp.ReadFrom(body); err != nil || corr != 9 {
		t.Fatal(corr, err)
	}
	if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != kerr.InvalidTimestamp {
		t.Fatalf("v7: got %v", got)
	}
}
