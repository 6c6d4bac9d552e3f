package broker

import (
	"context"

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
// Transactions are not implemented yet. A transactional id is answered
// with TRANSACTIONAL_ID_AUTHORIZATION_FAILED: every client treats it as
// fatal and reports it at once, where NOT_COORDINATOR or
// COORDINATOR_NOT_AVAILABLE would leave a transactional producer retrying
// FindCoordinator until its timeout. The transaction coordinator will
// replace this branch.
func (b *Broker) handleInitProducerID(ctx context.Context, _ *ConnContext, req *protocol.Request) (Response, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return Response{Msg: resp}, nil
	}
	id, err := b.pids.nextID(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return Response{}, ctx.Err()
		}
		b.log.Warn("allocating a producer id block failed")
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Response{Msg: resp}, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return Response{Msg: resp}, nil
}
