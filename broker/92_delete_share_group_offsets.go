package broker

import (
	"context"

	"github.com/runnel/runnel/coordinator/sharepart"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteShareGroupOffsets (key 92, KIP-932): forgets the share-partition
// state of whole topics in an empty share group (NON_EMPTY_GROUP
// otherwise); the group starts on them afresh, by share.auto.offset.reset.
// Asked of the group's coordinator; DELETE on the group, READ on each
// topic.
const deleteShareGroupOffsetsMaxVersion int16 = 0

func (b *Broker) handleDeleteShareGroupOffsets(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DeleteShareGroupOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	if err, msg := b.checkEmptyShareGroup(cc, kmsg.ACLOperationDelete, r.GroupID); err != nil {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return network.Response{Msg: resp}, nil
	}
	snap := b.ctrl.Snapshot()
	for _, t := range r.Topics {
		rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		rt.Topic = t.Topic
		mt := snap.Topics[t.Topic]
		switch {
		case !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t.Topic):
			rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		case mt == nil:
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			rt.TopicID = [16]byte(mt.ID)
			for p := range mt.Partitions {
				k := sharepart.Key{Group: r.GroupID, TopicID: [16]byte(mt.ID), Partition: int32(p)}
				if err := b.shares.state.adminWrite(ctx, k, sharepart.UninitializedStart); err != nil {
					rt.ErrorCode = errorCode(err)
					break
				}
			}
		}
		if rt.ErrorCode != 0 {
			msg := kerr.ErrorForCode(rt.ErrorCode).Error()
			rt.ErrorMessage = &msg
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return network.Response{Msg: resp}, nil
}
