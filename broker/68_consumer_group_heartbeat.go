package broker

import (
	"context"
	"slices"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupHeartbeat (key 68, KIP-848) is answered by the group
// coordinator (groups.go, groups_848.go). v1 is KIP-1082's: the client
// brings its member id, and regex subscriptions.
const consumerGroupHeartbeatMaxVersion int16 = 1

func (b *Broker) handleConsumerGroupHeartbeat(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	if !slices.Contains(b.cfg.GroupRebalanceProtocols, "consumer") {
		// group.coordinator.rebalance.protocols leaves the consumer
		// protocol out: clients (franz-go, Java) fall back to classic
		// on UNSUPPORTED_VERSION, as with Kafka.
		resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return network.Response{Msg: resp}, nil
	}
	return network.Response{Msg: b.groups.coord.ConsumerGroupHeartbeat(ctx, groupClient(cc, req.ClientID), r)}, nil
}
