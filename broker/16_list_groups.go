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
	resp := b.groups.coord.ListGroups(ctx, r)
	// DESCRIBE on the cluster lists every group; otherwise only those the
	// client may DESCRIBE, as Kafka.
	if !b.authorizeCluster(cc, kmsg.ACLOperationDescribe) {
		kept := resp.Groups[:0]
		for _, g := range resp.Groups {
			if b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.Group) {
				kept = append(kept, g)
			}
		}
		resp.Groups = kept
	}
	return network.Response{Msg: resp}, nil
}
