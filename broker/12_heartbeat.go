package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat (key 12) is answered by the group coordinator (groups.go).
const heartbeatMaxVersion int16 = 4

func (b *Broker) handleHeartbeat(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.HeartbeatRequest)
	if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, r.Group) {
		resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	return network.Response{Msg: b.groups.coord.Heartbeat(ctx, r)}, nil
}
