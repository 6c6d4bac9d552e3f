package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup (key 13) is answered by the group coordinator (groups.go).
const leaveGroupMaxVersion int16 = 5

func (b *Broker) handleLeaveGroup(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.LeaveGroupRequest)
	if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, r.Group) {
		resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	return network.Response{Msg: b.groups.coord.LeaveGroup(ctx, r)}, nil
}
