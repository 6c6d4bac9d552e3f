package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe (key 69, KIP-848) is answered by the group
// coordinator (groups.go).
const consumerGroupDescribeMaxVersion int16 = 1

func (b *Broker) handleConsumerGroupDescribe(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	return network.Response{Msg: b.groups.coord.ConsumerGroupDescribe(ctx, r)}, nil
}
