package broker

import (
	"context"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup (key 13) is answered by the group coordinator (groups.go).
const leaveGroupMaxVersion int16 = 5

func (b *Broker) handleLeaveGroup(ctx context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
	r := req.Body.(*kmsg.LeaveGroupRequest)
	return Response{Msg: b.groups.coord.LeaveGroup(ctx, r)}, nil
}
