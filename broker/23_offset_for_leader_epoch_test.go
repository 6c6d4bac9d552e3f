package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetForLeaderEpoch(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "oe", 1, nil)
	br := rawBroker(t, tb)
	rawProduce(t, br, "oe", 0, testBatch("x", 4, 1))

	for _, c := range []struct {
		current, epoch int32
		wantErr        error
		wantEpoch      int32
		wantEnd        int64
	}{
		{-1, 0, nil, 0, 4},  // the latest epoch ends at the log end
		{0, 3, nil, -1, -1}, // an epoch beyond the latest is unknown, as in Kafka
		{-1, -1, nil, -1, -1},
		{1, 0, kerr.UnknownLeaderEpoch, -1, -1},
	} {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "oe"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = c.current, c.epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testCtx(t), br)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if kerr.ErrorForCode(p.ErrorCode) != c.wantErr || p.LeaderEpoch != c.wantEpoch || p.EndOffset != c.wantEnd {
			t.Errorf("%+v: got %v epoch %d end %d", c, kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset)
		}
	}
}

// bumpLeaderEpoch starts a new leader epoch of topic-0 on the same leader,
// as a controller-driven re-election would.
func bumpLeaderEpoch(t *testing.T, tb *testBroker, topic string) {
	t.Helper()
	ctx := testCtx(t)
	p := *tb.ctrl.Snapshot().Topics[topic].Partition(0)
	p.LeaderEpoch++
	rev, err := tb.ctrl.UpdatePartition(ctx, topic, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.ctrl.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	tb.replicas.Apply(tb.ctrl.Snapshot())
}

// Across a leader epoch change: OffsetForLeaderEpoch answers where the old
// epoch ended, ListOffsets reports each offset's epoch, and clients with
// the old epoch are fenced.
func TestLeaderEpochChange(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "ep", 1, nil)
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	rawProduce(t, br, "ep", 0, testBatch("a", 3, 1000)) // epoch 0: offsets 0-2
	bumpLeaderEpoch(t, tb, "ep")
	rawProduce(t, br, "ep", 0, testBatch("b", 2, 2000)) // epoch 1: offsets 3-4

	oe := func(current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "ep"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, br)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := oe(1, 0); p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset != 3 {
		t.Fatalf("epoch 0: %+v", p)
	}
	if p := oe(1, 1); p.ErrorCode != 0 || p.LeaderEpoch != 1 || p.EndOffset != 5 {
		t.Fatalf("epoch 1: %+v", p)
	}
	if p := oe(0, 0); kerr.ErrorForCode(p.ErrorCode) != kerr.FencedLeaderEpoch {
		t.Fatalf("stale current epoch: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	for _, c := range []struct {
		ts    int64
		off   int64
		epoch int32
	}{{-2, 0, 0}, {-1, 5, 1}, {1001, 1, 0}, {2000, 3, 1}, {-3, 4, 1}} {
		if p := listOffset(t, br, "ep", 0, c.ts, 0); p.Offset != c.off || p.LeaderEpoch != c.epoch {
			t.Errorf("ListOffsets %d: offset %d epoch %d, want %d %d", c.ts, p.Offset, p.LeaderEpoch, c.off, c.epoch)
		}
	}

	f := newFetch("ep", 0, 0)
	f.epoch = 0
	if p := onlyPartition(t, f.do(ctx, t, br)); kerr.ErrorForCode(p.ErrorCode) != kerr.FencedLeaderEpoch || p.CurrentLeader.LeaderEpoch != 1 || p.CurrentLeader.LeaderID != tb.ID() {
		t.Fatalf("fetch with the old epoch: %+v", p)
	}
	f.epoch = 1
	if p := onlyPartition(t, f.do(ctx, t, br)); p.ErrorCode != 0 || len(fetchedValues(t, "ep", p, 0)) != 5 {
		t.Fatalf("fetch with the new epoch: %+v", p)
	}
}
