package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator (key 10), v0–v6. v0–v3 ask for one key, v4+ for a batch
// (CoordinatorKeys). A group's coordinator is the leader of its
// __consumer_offsets partition; asking creates the topic the first time
// (groups.go). A transactional id's coordinator (key type 1) is the leader
// of its __transaction_state partition (transactions.go). Other key types
// are INVALID_REQUEST.
const findCoordinatorMaxVersion int16 = 6

func (b *Broker) handleFindCoordinator(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) (node int32, host string, port int32, code int16, msg *string) {
		var err error
		switch r.CoordinatorType {
		case 0:
			if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, key) {
				err = kerr.GroupAuthorizationFailed
				break
			}
			node, host, port, err = b.groups.coordinatorFor(ctx, key, cc.Listener)
		case 1: // transactions.go
			if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key) {
				err = kerr.TransactionalIDAuthorizationFailed
				break
			}
			node, host, port, err = b.txnCoordinatorFor(ctx, key, cc.Listener)
		default:
			err = kerr.InvalidRequest
		}
		if err != nil {
			code = errorCode(err)
			s := err.Error()
			msg = &s
			node, host, port = -1, "", -1
		}
		return
	}
	if req.Version < 4 {
		resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = find(r.CoordinatorKey)
		return network.Response{Msg: resp}, nil
	}
	for _, key := range r.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage = find(key)
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return network.Response{Msg: resp}, nil
}
