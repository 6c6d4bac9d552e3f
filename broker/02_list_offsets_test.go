package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func listOffset(t *testing.T, br *kgo.Broker, topic string, partition int32, ts int64, isolation int8) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), br)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestListOffsets(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "lo", 1, nil)
	br := rawBroker(t, tb)

	empty := listOffset(t, br, "lo", 0, -1, 0)
	if empty.ErrorCode != 0 || empty.Offset != 0 || empty.LeaderEpoch != 0 {
		t.Fatalf("latest of empty: %+v", empty)
	}
	if p := listOffset(t, br, "lo", 0, -3, 0); p.Offset != -1 || p.Timestamp != -1 {
		t.Fatalf("max timestamp of empty: %+v", p)
	}

	// Offsets 0-2 at 1000..1002, 3-4 at 5000..5001, 5-7 at 2000..2002.
	rawProduce(t, br, "lo", 0, testBatch("a", 3, 1000))
	rawProduce(t, br, "lo", 0, testBatch("b", 2, 5000))
	rawProduce(t, br, "lo", 0, testBatch("c", 3, 2000))

	for _, c := range []struct {
		ts         int64
		off, gotTs int64
	}{
		{-2, 0, -1},
		{-4, 0, -1},
		{-1, 8, -1},
		{-3, 4, 5001},
		{0, 0, 1000},
		{1001, 1, 1001},
		{1003, 3, 5000}, // first record at or after 1003 in offset order
		{5001, 4, 5001},
		{5002, -1, -1},
		{-5, -1, -1},
	} {
		p := listOffset(t, br, "lo", 0, c.ts, 0)
		if p.ErrorCode != 0 || p.Offset != c.off || p.Timestamp != c.gotTs {
			t.Errorf("timestamp %d: got offset %d ts %d (%v), want %d %d", c.ts, p.Offset, p.Timestamp, kerr.ErrorForCode(p.ErrorCode), c.off, c.gotTs)
		}
		if p.Offset >= 0 && p.LeaderEpoch != 0 {
			t.Errorf("timestamp %d: leader epoch %d", c.ts, p.LeaderEpoch)
		}
	}
	if p := listOffset(t, br, "lo", 0, -1, 1); p.Offset != 8 {
		t.Fatalf("latest read_committed: %+v", p)
	}
	if p := listOffset(t, br, "lo", 3, -1, 0); kerr.ErrorForCode(p.ErrorCode) != kerr.UnknownTopicOrPartition {
		t.Fatalf("unknown partition: %+v", p)
	}
}

func TestListOffsetsLeaderEpochChecks(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "le", 1, nil)
	br := rawBroker(t, tb)
	for _, c := range []struct {
		epoch int32
		want  error
	}{{-1, nil}, {0, nil}, {1, kerr.UnknownLeaderEpoch}} {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "le"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.Timestamp = c.epoch, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testCtx(t), br)
		if err != nil {
			t.Fatal(err)
		}
		if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != c.want {
			t.Errorf("epoch %d: %v, want %v", c.epoch, got, c.want)
		}
	}
}

func TestCheckCurrentLeaderEpoch(t *testing.T) {
	if checkCurrentLeaderEpoch(-1, 5) != nil || checkCurrentLeaderEpoch(5, 5) != nil {
		t.Fatal("accepted epochs refused")
	}
	if checkCurrentLeaderEpoch(4, 5) != kerr.FencedLeaderEpoch || checkCurrentLeaderEpoch(6, 5) != kerr.UnknownLeaderEpoch {
		t.Fatal("wrong errors")
	}
}

// The same lookups through kadm, and DeleteRecords moving the start.
func TestListOffsetsKadm(t *testing.T) {
	tb := startTestBroker(t)
	clientTopic(t, tb, "kadm", 1, nil)
	prod := tb.client(t, kgo.DefaultProduceTopic("kadm"))
	ctx := testCtx(t)
	for i := range 10 {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: time.UnixMilli(int64(10000 + 1000*i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := tb.admin(t)
	offset := func(l kadm.ListedOffsets, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		o, ok := l.Lookup("kadm", 0)
		if !ok || o.Err != nil {
			t.Fatalf("%+v %v", o, ok)
		}
		return o.Offset
	}
	if o := offset(adm.ListStartOffsets(ctx, "kadm")); o != 0 {
		t.Fatalf("start %d", o)
	}
	if o := offset(adm.ListEndOffsets(ctx, "kadm")); o != 10 {
		t.Fatalf("end %d", o)
	}
	if o := offset(adm.ListOffsetsAfterMilli(ctx, 13500, "kadm")); o != 4 {
		t.Fatalf("after 13500 ms: %d", o)
	}
	if o := offset(adm.ListCommittedOffsets(ctx, "kadm")); o != 10 {
		t.Fatalf("committed (read_committed end) %d", o)
	}
	del, err := adm.DeleteRecords(ctx, kadm.Offsets{"kadm": {0: kadm.Offset{Topic: "kadm", Partition: 0, At: 6}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := del.Lookup("kadm", 0); !ok || d.Err != nil || d.LowWatermark != 6 {
		t.Fatalf("delete records: %+v", d)
	}
	if o := offset(adm.ListStartOffsets(ctx, "kadm")); o != 6 {
		t.Fatalf("start after delete %d", o)
	}
}
