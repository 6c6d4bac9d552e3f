package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe (key 69, KIP-848) is answered by the group
// coordinator (groups.go).
const consumerGroupDescribeMaxVersion int16 = 1

func (b *Broker) handleConsumerGroupDescribe(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	// Groups the client may not DESCRIBE are answered
	// GROUP_AUTHORIZATION_FAILED; the others by the coordinator.
	allowed := *r
	allowed.Groups = nil
	for _, g := range r.Groups {
		if b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g) {
			allowed.Groups = append(allowed.Groups, g)
		}
	}
	described := b.groups.coord.ConsumerGroupDescribe(ctx, &allowed)
	if len(allowed.Groups) == len(r.Groups) && b.authorizer() == nil {
		return network.Response{Msg: described}, nil
	}
	byName := map[string]kmsg.ConsumerGroupDescribeResponseGroup{}
	for _, g := range described.Groups {
		byName[g.Group] = g
	}
	resp := *described
	resp.Groups = nil
	for _, name := range r.Groups {
		g, ok := byName[name]
		if !ok {
			g = kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group, g.ErrorCode = name, kerr.GroupAuthorizationFailed.Code
			g.AuthorizedOperations = authorizedOperationsOmitted
		} else if g.ErrorCode == 0 && !b.mayDescribeAssignedTopics(cc, &g) {
			// Kafka hides the whole group rather than let its
			// assignments name topics the client may not describe.
			msg := "The group has described topic(s) that the client is not authorized to describe."
			g = kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group, g.ErrorCode, g.ErrorMessage = name, kerr.TopicAuthorizationFailed.Code, &msg
			g.AuthorizedOperations = authorizedOperationsOmitted
		} else if r.IncludeAuthorizedOperations {
			g.AuthorizedOperations = b.authorizedOperations(cc, kmsg.ACLResourceTypeGroup, name)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return network.Response{Msg: &resp}, nil
}

// mayDescribeAssignedTopics reports whether the client may describe every
// topic in the group's members' current and target assignments.
func (b *Broker) mayDescribeAssignedTopics(cc *network.ConnContext, g *kmsg.ConsumerGroupDescribeResponseGroup) bool {
	for _, m := range g.Members {
		for _, a := range [][]kmsg.AssignmentTopicPartition{m.Assignment.TopicPartitions, m.TargetAssignment.TopicPartitions} {
			for _, t := range a {
				if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Topic) {
					return false
				}
			}
		}
	}
	return true
}
