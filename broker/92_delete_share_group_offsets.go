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
	fail := func(err *kerr.Error, msg string) (network.Response, error) {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return network.Response{Msg: resp}, nil
	}
	if !b.shareEnabled() {
		return fail(kerr.UnsupportedVersion, "")
	}
	if !b.authorize(cc, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, r.GroupID) {
		return fail(kerr.GroupAuthorizationFailed, "")
	}
	st, err := b.groups.coord.ShareGroupStatus(r.GroupID)
	switch {
	case err != nil:
		return fail(err.(*kerr.Error), "")
	case st.OtherType:
		return fail(kerr.GroupIDNotFound, "Group "+r.GroupID+" is not a share group.")
	case st.HasMembers:
		return fail(kerr.NonEmptyGroup, "The group is not empty.")
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
