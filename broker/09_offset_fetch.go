package broker

import (
	"context"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch (key 9) is answered by the group coordinator (groups.go),
// then authorized as Kafka does: a group the client may not DESCRIBE is
// answered GROUP_AUTHORIZATION_FAILED; of a group it may, topics it may
// not DESCRIBE are TOPIC_AUTHORIZATION_FAILED when named and left out
// when it asked for all.
const offsetFetchMaxVersion int16 = 10

// noOffsetMetadata is the metadata of a partition answered with an error:
// empty, not null, as Kafka's OffsetFetchResponse.PartitionData sends it.
// Handlers only take its address; nothing writes it.
var noOffsetMetadata = ""

func (b *Broker) handleOffsetFetch(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	mayDescribeGroup := func(g string) bool {
		return b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g)
	}
	mayDescribeTopic := func(name string) bool {
		return b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
	}
	if r.Version < 8 && !mayDescribeGroup(r.Group) {
		resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		if r.Version < 2 { // no top-level error: on every partition asked for
			for _, t := range r.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.ErrorCode = p, -1, kerr.GroupAuthorizationFailed.Code
					rp.Metadata = &noOffsetMetadata
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		return network.Response{Msg: resp}, nil
	}
	resp := b.groups.coord.OffsetFetch(ctx, r, b.groupTopicName, b.groupTopicID)
	if b.authorizer() == nil {
		return network.Response{Msg: resp}, nil
	}
	if r.Version < 8 {
		all := r.Topics == nil
		kept := resp.Topics[:0]
		for _, t := range resp.Topics {
			if !mayDescribeTopic(t.Topic) {
				if all {
					continue
				}
				for i := range t.Partitions {
					p := &t.Partitions[i]
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, &noOffsetMetadata, kerr.TopicAuthorizationFailed.Code
				}
			}
			kept = append(kept, t)
		}
		resp.Topics = kept
		return network.Response{Msg: resp}, nil
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		if !mayDescribeGroup(g.Group) {
			g.Topics, g.ErrorCode = nil, kerr.GroupAuthorizationFailed.Code
			continue
		}
		all := gi < len(r.Groups) && r.Groups[gi].Topics == nil
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			name := t.Topic
			if r.Version >= 10 {
				name = b.groupTopicName(t.TopicID)
			}
			if name != "" && !mayDescribeTopic(name) {
				if all {
					continue
				}
				for i := range t.Partitions {
					p := &t.Partitions[i]
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, &noOffsetMetadata, kerr.TopicAuthorizationFailed.Code
				}
			}
			kept = append(kept, t)
		}
		g.Topics = kept
	}
	return network.Response{Msg: resp}, nil
}
