package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (key 42) is answered by the group coordinator (groups.go).
const deleteGroupsMaxVersion int16 = 2

func (b *Broker) handleDeleteGroups(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	return network.Response{Msg: b.groups.coord.DeleteGroups(ctx, r)}, nil
}
