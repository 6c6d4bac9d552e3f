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
