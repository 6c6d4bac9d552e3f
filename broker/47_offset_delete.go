package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (key 47) is answered by the group coordinator (groups.go).
const offsetDeleteMaxVersion int16 = 0

func (b *Broker) handleOffsetDelete(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	return network.Response{Msg: b.groups.coord.OffsetDelete(ctx, r)}, nil
}
