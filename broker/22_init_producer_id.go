package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId (key 22) for idempotent producers: every request without a
// transactional id gets a fresh producer id with epoch 0, as Kafka answers
// (it ignores the producer id and epoch a v3+ client sends to bump its
// epoch, KIP-360, when there is no transactional id). Ids come in blocks
// from etcd (producer_ids.go), so they are unique across the cluster.
//
// A transactional id goes to the transaction coordinator (transactions.go,
// coordinator/txn): a new id gets a fresh producer id at epoch 0, a known
// one its epoch bumped (fencing its previous producer), with KIP-360's
// producer id and epoch checked when the client sends them.
const initProducerIDMaxVersion int16 = 5

func (b *Broker) handleInitProducerID(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case r.TransactionalID != nil && !b.authorize(cc, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *r.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	case r.TransactionalID == nil && !b.authorizeCluster(cc, kmsg.ACLOperationIdempotentWrite) &&
		!b.authorizeAny(cc, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic):
		// KIP-679: an idempotent producer needs IDEMPOTENT_WRITE on the
		// cluster or WRITE on some topic.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	if r.TransactionalID != nil {
		return b.initTransactionalProducerID(ctx, r, resp) // transactions.go
	}
	id, err := b.pids.nextID(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return network.Response{}, ctx.Err()
		}
		b.log.Warn("allocating a producer id block failed")
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return network.Response{Msg: resp}, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return network.Response{Msg: resp}, nil
}
