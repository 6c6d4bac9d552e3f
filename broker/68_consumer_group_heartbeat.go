package broker

import (
	"context"
	"slices"
	"strings"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupHeartbeat (key 68, KIP-848) is answered by the group
// coordinator (groups.go, groups_848.go). v1 is KIP-1082's: the client
// brings its member id, and regex subscriptions.
const consumerGroupHeartbeatMaxVersion int16 = 1

func (b *Broker) handleConsumerGroupHeartbeat(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	if !slices.Contains(b.cfg.GroupRebalanceProtocols, "consumer") {
		// group.coordinator.rebalance.protocols leaves the consumer
		// protocol out: clients (franz-go, Java) fall back to classic
		// on UNSUPPORTED_VERSION, as with Kafka.
		resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return network.Response{Msg: resp}, nil
	}
	if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, r.Group) {
		resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	// Kafka 4: subscribing by name to a topic the member may not
	// describe fails the heartbeat, naming the topics.
	var hidden []string
	for _, t := range r.SubscribedTopicNames {
		if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t) {
			hidden = append(hidden, t)
		}
	}
	if len(hidden) > 0 {
		resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		msg := "The following topics are not authorized: " + strings.Join(hidden, ", ")
		resp.ErrorCode, resp.ErrorMessage = kerr.TopicAuthorizationFailed.Code, &msg
		return network.Response{Msg: resp}, nil
	}
	if b.groups.coord.IsShareGroup(r.Group) {
		resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		msg := "Group " + r.Group + " is not a consumer group."
		resp.ErrorCode, resp.ErrorMessage = kerr.GroupIDNotFound.Code, &msg
		return network.Response{Msg: resp}, nil
	}
	cl := groupClient(cc, req.ClientID)
	who := requester(cc)
	cl.MayDescribe = func(topic string) bool {
		a := b.authorizer() // the ACLs current when the regex is resolved
		return a == nil || a.Authorize(who, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, topic)
	}
	return network.Response{Msg: b.groups.coord.ConsumerGroupHeartbeat(ctx, cl, r)}, nil
}
