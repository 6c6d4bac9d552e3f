package broker

import (
	"context"
	"sort"
	"time"

	"github.com/runnel/runnel/coordinator/sharepart"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareAcknowledge (key 79, KIP-932), v1 (Kafka 4.1) and v2 (KIP-1222:
// RENEW). The session epoch must be the session's (a ShareAcknowledge
// cannot open one); -1 applies the acknowledgements and closes the
// session, releasing what the member still holds on this broker. Each
// partition's acknowledgements are applied whole or not at all
// (INVALID_RECORD_STATE when one of the records is not the member's).
const shareAcknowledgeMaxVersion int16 = 2

func (b *Broker) handleShareAcknowledge(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ShareAcknowledgeRequest)
	resp := r.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	fail := func(err *kerr.Error) (network.Response, error) {
		resp.ErrorCode = err.Code
		return network.Response{Msg: resp}, nil
	}
	group, member, kerrv := b.shareRequestGroup(cc, r.GroupID, r.MemberID)
	if kerrv != nil {
		return fail(kerrv)
	}
	sk := sharepart.SessionKey{Group: group, Member: member}
	if r.ShareSessionEpoch != sharepart.FinalEpoch {
		if _, serr := b.shares.sessions.Acknowledge(sk, r.ShareSessionEpoch, time.Now()); serr != sharepart.SessionOK {
			return fail(sessionErrorCode(serr))
		}
	}
	snap := b.ctrl.Snapshot()
	resp.AcquisitionLockTimeoutMillis = int32(b.shares.settings(group).lim.LockDuration / time.Millisecond)
	endpoints := map[int32]kmsg.ShareFetchResponseNodeEndpoint{}
	for _, t := range r.Topics {
		rt := kmsg.NewShareAcknowledgeResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			rp.Partition = p.Partition
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
			acks := make([]ackBatch, 0, len(p.AcknowledgementBatches))
			for _, a := range p.AcknowledgementBatches {
				acks = append(acks, ackBatch{first: a.FirstOffset, last: a.LastOffset, types: a.AcknowledgeTypes})
			}
			rp.ErrorCode = b.shareAck(ctx, cc, snap, group, member, t.TopicID, p.Partition, acks, r.Version >= 2, func(_, _ int32, name string) {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = shareLeaderHint(snap, name, p.Partition, cc.Listener, endpoints)
			})
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if r.ShareSessionEpoch == sharepart.FinalEpoch {
		closed, serr := b.shares.sessions.Acknowledge(sk, sharepart.FinalEpoch, time.Now())
		if serr != sharepart.SessionOK {
			resp.ErrorCode = sessionErrorCode(serr).Code
		}
		if closed {
			b.shares.releaseMember(ctx, group, member)
		}
	}
	for _, ep := range endpoints {
		ne := kmsg.NewShareAcknowledgeResponseNodeEndpoint()
		ne.NodeID, ne.Host, ne.Port, ne.Rack = ep.NodeID, ep.Host, ep.Port, ep.Rack
		resp.NodeEndpoints = append(resp.NodeEndpoints, ne)
	}
	sort.Slice(resp.NodeEndpoints, func(i, j int) bool { return resp.NodeEndpoints[i].NodeID < resp.NodeEndpoints[j].NodeID })
	return network.Response{Msg: resp}, nil
}
