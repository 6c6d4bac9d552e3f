package broker

import (
	"context"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat (key 12) is answered by the group coordinator (groups.go).
const heartbeatMaxVersion int16 = 4

func (b *Broker) handleHeartbeat(ctx context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
	r := req.Body.(*kmsg.HeartbeatRequest)
	return Response{Msg: b.groups.coord.Heartbeat(ctx, r)}, nil
}
