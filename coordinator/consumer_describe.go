package coordinator

import (
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe handles ConsumerGroupDescribe (KIP-848): the group
// epoch, the target assignment epoch, the assignor, and every member with
// its epoch, subscription, current and target assignment. A group that
// does not exist, or is a classic group, is GROUP_ID_NOT_FOUND.
func (c *Coordinator) ConsumerGroupDescribe(_ context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.SetVersion(req.GetVersion())
	var names map[[16]byte]string
	topicNames := func() map[[16]byte]string {
		if names == nil {
			names = make(map[[16]byte]string)
			for name, info := range c.topicsNow() {
				names[info.ID] = name
			}
		}
		return names
	}
	for _, id := range req.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = id
		g, err := c.lookup(id, false)
		switch {
		case err != nil:
			rg.ErrorCode = err.(*kerr.Error).Code
		case g == nil || g.state == Dead:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			rg.ErrorMessage = &msg
		case g.kind != consumerKind:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " is not a consumer group."
			rg.ErrorMessage = &msg
		default:
			g.cg.describe(&rg, topicNames(), req.GetVersion())
		}
		if g != nil {
			g.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (cg *consumerGroup) describe(rg *kmsg.ConsumerGroupDescribeResponseGroup, names map[[16]byte]string, version int16) {
	rg.State = cg.g.state.String()
	rg.Epoch = cg.epoch
	rg.AssignmentEpoch = cg.assignmentEpoch
	rg.AssignorName = cg.assignor
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		m := cg.members[id]
		rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		rm.MemberID = m.id
		rm.InstanceID = strPtr(m.instanceID)
		rm.RackID = strPtr(m.rackID)
		rm.MemberEpoch = m.epoch
		rm.ClientID = m.clientID
		rm.ClientHost = m.clientHost
		rm.SubscribedTopics = append([]string{}, m.topicNames...)
		regex := m.regex // "" without one, as Kafka answers, not null
		rm.SubscribedTopicRegex = &regex
		rm.Assignment = m.assigned.describeAssignment(names)
		rm.TargetAssignment = cg.target[m.id].describeAssignment(names)
		if version >= 1 {
			rm.MemberType = 1 // a consumer-protocol member
		}
		rg.Members = append(rg.Members, rm)
	}
}
