package broker

import (
	"context"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups (key 16) is answered by the group coordinator (groups.go).
const listGroupsMaxVersion int16 = 5

func (b *Broker) handleListGroups(ctx context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
	r := req.Body.(*kmsg.ListGroupsRequest)
	return Response{Msg: b.groups.coord.ListGroups(ctx, r)}, nil
}
