package broker

import (
	"context"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareGroupDescribe (key 77, KIP-932) is answered by the group
// coordinator (coordinator/share.go).
const shareGroupDescribeMaxVersion int16 = 1

func (b *Broker) handleShareGroupDescribe(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ShareGroupDescribeRequest)
	if !b.shareEnabled() {
		resp := r.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
		for _, id := range r.GroupIDs {
			g := kmsg.NewShareGroupDescribeResponseGroup()
			g.GroupID, g.ErrorCode = id, kerr.UnsupportedVersion.Code
			resp.Groups = append(resp.Groups, g)
		}
		return network.Response{Msg: resp}, nil
	}
	// Groups the client may not DESCRIBE are GROUP_AUTHORIZATION_FAILED;
	// the others are the coordinator's.
	allowed := *r
	allowed.GroupIDs = nil
	for _, g := range r.GroupIDs {
		if b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g) {
			allowed.GroupIDs = append(allowed.GroupIDs, g)
		}
	}
	described := b.groups.coord.ShareGroupDescribe(ctx, &allowed)
	byName := map[string]kmsg.ShareGroupDescribeResponseGroup{}
	for _, g := range described.Groups {
		byName[g.GroupID] = g
	}
	resp := *described
	resp.Groups = nil
	for _, name := range r.GroupIDs {
		g, ok := byName[name]
		switch {
		case !ok:
			g = kmsg.NewShareGroupDescribeResponseGroup()
			g.GroupID, g.ErrorCode = name, kerr.GroupAuthorizationFailed.Code
			g.AuthorizedOperations = authorizedOperationsOmitted
		case g.ErrorCode == 0 && !b.mayDescribeShareAssignment(cc, &g):
			// As Kafka, the whole group is hidden rather than let its
			// assignments name topics the client may not describe.
			msg := "The group has described topic(s) that the client is not authorized to describe."
			g = kmsg.NewShareGroupDescribeResponseGroup()
			g.GroupID, g.ErrorCode, g.ErrorMessage = name, kerr.TopicAuthorizationFailed.Code, &msg
			g.AuthorizedOperations = authorizedOperationsOmitted
		case g.ErrorCode == 0 && r.IncludeAuthorizedOperations:
			g.AuthorizedOperations = b.authorizedOperations(cc, kmsg.ACLResourceTypeGroup, name)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return network.Response{Msg: &resp}, nil
}

func (b *Broker) mayDescribeShareAssignment(cc *network.ConnContext, g *kmsg.ShareGroupDescribeResponseGroup) bool {
	for _, m := range g.Members {
		for _, t := range m.Assignment.TopicPartitions {
			if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Topic) {
				return false
			}
		}
	}
	return true
}
