package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup (key 11) is answered by the group coordinator (groups.go).
const joinGroupMaxVersion int16 = 9

func (b *Broker) handleJoinGroup(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.JoinGroupRequest)
	if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, r.Group) {
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.GroupAuthorizationFailed.Code, -1, r.MemberID
		return network.Response{Msg: resp}, nil
	}
	if b.groups.coord.IsShareGroup(r.Group) {
		// A share group's id cannot be joined with the classic protocol.
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.InconsistentGroupProtocol.Code, -1, r.MemberID
		return network.Response{Msg: resp}, nil
	}
	return network.Response{Msg: b.groups.coord.JoinGroup(ctx, groupClient(cc, req.ClientID), r)}, nil
}
