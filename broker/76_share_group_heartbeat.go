package broker

import (
	"context"
	"strings"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareGroupHeartbeat (key 76, KIP-932) is answered by the group
// coordinator (coordinator/share.go). v0 was Kafka 4.0's early access and
// is below the floor; v1 is Kafka 4.1's.
const shareGroupHeartbeatMaxVersion int16 = 1

func (b *Broker) handleShareGroupHeartbeat(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ShareGroupHeartbeatRequest)
	resp := r.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	if !b.shareEnabled() {
		// As Kafka 4.1 with share groups off: the API is refused.
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return network.Response{Msg: resp}, nil
	}
	if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, r.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	// Kafka 4.1: subscribing to a topic the member may not describe fails
	// the heartbeat, naming the topics.
	var hidden []string
	for _, t := range r.SubscribedTopicNames {
		if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t) {
			hidden = append(hidden, t)
		}
	}
	if len(hidden) > 0 {
		msg := "The following topics are not authorized: " + strings.Join(hidden, ", ")
		resp.ErrorCode, resp.ErrorMessage = kerr.TopicAuthorizationFailed.Code, &msg
		return network.Response{Msg: resp}, nil
	}
	return network.Response{Msg: b.groups.coord.ShareGroupHeartbeat(ctx, groupClient(cc, req.ClientID), r)}, nil
}
