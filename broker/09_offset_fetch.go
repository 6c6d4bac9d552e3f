package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch (key 9) is answered by the group coordinator (groups.go).
const offsetFetchMaxVersion int16 = 10

func (b *Broker) handleOffsetFetch(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	return network.Response{Msg: b.groups.coord.OffsetFetch(ctx, r, b.groupTopicName, b.groupTopicID)}, nil
}
