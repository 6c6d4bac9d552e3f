package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func deleteRecords(t *testing.T, br *kgo.Broker, topic string, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), br)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestDeleteRecords(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "dr", 1, nil)
	dataTopic(t, tb, "drc", 1, map[string]string{"cleanup.policy": "compact"})
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	for range 5 {
		rawProduce(t, br, "dr", 0, testBatch("x", 2, 1))
	}

	if p := deleteRecords(t, br, "dr", 11); kerr.ErrorForCode(p.ErrorCode) != kerr.OffsetOutOfRange {
		t.Fatalf("above HW: %+v", p)
	}
	if p := deleteRecords(t, br, "dr", -7); kerr.ErrorForCode(p.ErrorCode) != kerr.OffsetOutOfRange {
		t.Fatalf("negative: %+v", p)
	}
	if p := deleteRecords(t, br, "dr", 3); p.ErrorCode != 0 || p.LowWatermark != 3 {
		t.Fatalf("delete to 3: %+v", p)
	}
	// Below the log start: out of range (with -1 offsets for a consumer,
	// as Kafka); at it: the batch holding 3.
	if p := onlyPartition(t, newFetch("dr", 0, 2).do(ctx, t, br)); kerr.ErrorForCode(p.ErrorCode) != kerr.OffsetOutOfRange || p.LogStartOffset != -1 {
		t.Fatalf("fetch below log start: %+v", p)
	}
	p := onlyPartition(t, newFetch("dr", 0, 3).do(ctx, t, br))
	if vals := fetchedValues(t, "dr", p, 3); p.ErrorCode != 0 || len(vals) != 7 || vals[0] != "3:x-1" {
		t.Fatalf("fetch at log start: %v %+v", vals, p)
	}
	if lo := listOffset(t, br, "dr", 0, -2, 0); lo.Offset != 3 {
		t.Fatalf("earliest after delete: %+v", lo)
	}
	// -1 means the high watermark.
	if p := deleteRecords(t, br, "dr", -1); p.ErrorCode != 0 || p.LowWatermark != 10 {
		t.Fatalf("delete to HW: %+v", p)
	}
	if p := deleteRecords(t, br, "drc", 0); kerr.ErrorForCode(p.ErrorCode) != kerr.PolicyViolation {
		t.Fatalf("compacted: %+v", p)
	}
	if p := deleteRecords(t, br, "nope", 0); kerr.ErrorForCode(p.ErrorCode) != kerr.UnknownTopicOrPartition {
		t.Fatalf("unknown: %+v", p)
	}
}
