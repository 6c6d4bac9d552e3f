package broker

import (
	"context"

	"github.com/runnel/runnel/coordinator/sharepart"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterShareGroupOffsets (key 91, KIP-932): sets the start offset of
// share-partitions of an empty share group (NON_EMPTY_GROUP otherwise),
// dropping their in-flight state. Asked of the group's coordinator; READ
// on the group and on each topic. The new state is written with the next
// state epoch (share_state.go), so a partition leader still holding the
// old state reloads it before its next change.
const alterShareGroupOffsetsMaxVersion int16 = 0

func (b *Broker) handleAlterShareGroupOffsets(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.AlterShareGroupOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	if err, msg := b.checkEmptyShareGroup(cc, kmsg.ACLOperationRead, r.GroupID); err != nil {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return network.Response{Msg: resp}, nil
	}
	snap := b.ctrl.Snapshot()
	for _, t := range r.Topics {
		rt := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		rt.Topic = t.Topic
		mt := snap.Topics[t.Topic]
		allowed := b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t.Topic)
		if mt != nil && allowed {
			rt.TopicID = [16]byte(mt.ID)
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case !allowed:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case mt == nil || mt.Partition(p.Partition) == nil:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.StartOffset < 0:
				rp.ErrorCode = kerr.InvalidRequest.Code
			default:
				k := sharepart.Key{Group: r.GroupID, TopicID: [16]byte(mt.ID), Partition: p.Partition}
				rp.ErrorCode = errorCode(b.shares.state.adminWrite(ctx, k, p.StartOffset))
			}
			if rp.ErrorCode != 0 {
				msg := kerr.ErrorForCode(rp.ErrorCode).Error()
				rp.ErrorMessage = &msg
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return network.Response{Msg: resp}, nil
}
