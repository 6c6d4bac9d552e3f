package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups (key 16) is answered by the group coordinator (groups.go).
const listGroupsMaxVersion int16 = 5

func (b *Broker) handleListGroups(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ListGroupsRequest)
	return network.Response{Msg: b.groups.coord.ListGroups(ctx, r)}, nil
}
