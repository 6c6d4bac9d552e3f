package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (key 15) is answered by the group coordinator (groups.go).
const describeGroupsMaxVersion int16 = 6

func (b *Broker) handleDescribeGroups(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	// Groups the client may not DESCRIBE are answered
	// GROUP_AUTHORIZATION_FAILED; the others by the coordinator.
	allowed := *r
	allowed.Groups = nil
	for _, g := range r.Groups {
		if b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g) {
			allowed.Groups = append(allowed.Groups, g)
		}
	}
	described := b.groups.coord.DescribeGroups(ctx, &allowed)
	if len(allowed.Groups) == len(r.Groups) && b.authorizer() == nil {
		return network.Response{Msg: described}, nil
	}
	byName := map[string]kmsg.DescribeGroupsResponseGroup{}
	for _, g := range described.Groups {
		byName[g.Group] = g
	}
	resp := *described
	resp.Groups = nil
	for _, name := range r.Groups {
		g, ok := byName[name]
		if !ok {
			g = kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = name, kerr.GroupAuthorizationFailed.Code
			g.AuthorizedOperations = authorizedOperationsOmitted
		} else if r.IncludeAuthorizedOperations {
			g.AuthorizedOperations = b.authorizedOperations(cc, kmsg.ACLResourceTypeGroup, name)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return network.Response{Msg: &resp}, nil
}
