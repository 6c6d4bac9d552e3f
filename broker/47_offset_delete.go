package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (key 47) is answered by the group coordinator (groups.go).
const offsetDeleteMaxVersion int16 = 0

func (b *Broker) handleOffsetDelete(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	if !b.authorize(cc, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, r.Group) {
		resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	// Topics the client may not READ are refused per partition; the
	// coordinator deletes the offsets of the others.
	allowed := *r
	allowed.Topics = nil
	var refused []kmsg.OffsetDeleteResponseTopic
	for _, t := range r.Topics {
		if b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t.Topic) {
			allowed.Topics = append(allowed.Topics, t)
			continue
		}
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		refused = append(refused, rt)
	}
	resp := b.groups.coord.OffsetDelete(ctx, &allowed)
	if resp.ErrorCode == 0 {
		resp.Topics = append(resp.Topics, refused...)
	}
	return network.Response{Msg: resp}, nil
}
