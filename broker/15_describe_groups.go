package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (key 15) is answered by the group coordinator (groups.go).
const describeGroupsMaxVersion int16 = 6

func (b *Broker) handleDescribeGroups(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	return network.Response{Msg: b.groups.coord.DescribeGroups(ctx, r)}, nil
}
