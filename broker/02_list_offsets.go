package broker

import (
	"context"
	"fmt"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Special ListOffsets timestamps.
const (
	listLatest         = -1 // the last fetchable offset (HW, LSO under read_committed)
	listEarliest       = -2 // the log start
	listMaxTimestamp   = -3 // the record with the largest timestamp (v7+)
	listEarliestLocal  = -4 // the local log start (v8+; no tiered storage here, so the log start)
	listLatestTiered   = -5 // the last tiered offset (v9+; none: -1)
	listEarliestTiered = -6 // the first pending-upload offset (v11+; none: -1)
)

// ListOffsets (key 2), v1 and up. For each partition, on its leader:
//
//   - -2 earliest, -4 earliest local: the log start;
//   - -1 latest: the last fetchable offset — the HW for read_uncommitted,
//     the LSO for read_committed, the log end for a replica (id >= 0);
//   - -3 max timestamp: the first record carrying the largest timestamp;
//   - a timestamp >= 0: the first record whose timestamp is >= it;
//   - any other negative timestamp (or a special one of a later
//     version): UNSUPPORTED_VERSION, as in Kafka.
//
// Lookups whose answer is not below the last fetchable offset answer
// offset -1 and timestamp -1, as Kafka does. The leader epoch answered is
// that of the batch holding the offset (the current leader epoch for
// latest). A client's current leader epoch is checked (KIP-320), and a
// consumer asking a leader whose HW has not yet reached the start of its
// own leader epoch gets OFFSET_NOT_AVAILABLE (a new leader whose followers
// have not caught up could otherwise answer an offset that goes back).
const listOffsetsMaxVersion int16 = 11

func (b *Broker) handleListOffsets(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	snap := b.ctrl.Snapshot()
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		allowed := b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic)
		seen := make(map[int32]bool, len(rt.Partitions))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			var err error
			if !allowed {
				err = kerr.TopicAuthorizationFailed
			} else if seen[rp.Partition] {
				err = fmt.Errorf("%w: partition %d listed twice", kerr.InvalidRequest, rp.Partition)
			} else {
				seen[rp.Partition] = true
				err = b.listOffset(snap, r, rt.Topic, &rp, &sp)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return network.Response{Msg: resp}, nil
}

func (b *Broker) listOffset(snap *controller.Snapshot, r *kmsg.ListOffsetsRequest, topic string, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	rep, epoch, err := b.leaderWithEpoch(snap, topic, rp.Partition, rp.CurrentLeaderEpoch)
	if err != nil {
		return err
	}
	l := rep.Log()
	consumer := r.ReplicaID < 0
	var fetchable int64
	switch {
	case !consumer:
		fetchable = l.LogEndOffset()
	case r.IsolationLevel == 1:
		fetchable = l.LastStableOffset()
	default:
		fetchable = l.HighWatermark()
	}
	if consumer && epoch >= 0 {
		if _, epochStart := l.EndOffsetForEpoch(epoch - 1); epochStart >= 0 && l.HighWatermark() < epochStart && l.LatestEpoch() == epoch {
			return fmt.Errorf("%w: the high watermark has not reached the start of leader epoch %d", kerr.OffsetNotAvailable, epoch)
		}
	}

	found := func(ts, off int64) {
		if off < 0 || (ts >= 0 && off >= fetchable) {
			return // -1, -1: nothing fetchable there
		}
		sp.Timestamp, sp.Offset = ts, off
		sp.LeaderEpoch = epochForOffset(l, off)
	}
	switch ts := rp.Timestamp; {
	case ts == listLatest:
		sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, fetchable, epoch
	case ts == listEarliest, ts == listEarliestLocal && r.Version >= 8:
		start := l.LogStartOffset()
		sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, start, epochForOffset(l, start)
	case ts == listMaxTimestamp && r.Version >= 7:
		found(l.MaxTimestamp())
	case ts == listLatestTiered && r.Version >= 9, ts == listEarliestTiered && r.Version >= 11:
		// No tiered storage: -1, -1.
	case ts >= 0:
		off, t, ok := l.OffsetForTimestamp(ts)
		if ok {
			found(t, off)
		}
	default:
		// A negative timestamp this version does not define (a special
		// one of a later version, or none at all): Kafka answers
		// UNSUPPORTED_VERSION, not INVALID_REQUEST.
		return fmt.Errorf("%w: timestamp %d is not defined at version %d", kerr.UnsupportedVersion, ts, r.Version)
	}
	return nil
}
