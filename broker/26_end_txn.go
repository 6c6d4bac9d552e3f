package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn (key 26), v0–v5: commits or aborts the producer's transaction.
// The answer comes once PrepareCommit/PrepareAbort is durable in
// __transaction_state; the markers follow in the background. v5 is
// KIP-890 part 2 (a producer under transaction.version 2): the epoch is
// bumped by every commit and abort, the markers carry the bumped epoch,
// and the answer carries the producer id and epoch of the next
// transaction (a fresh producer id at epoch 0 when the epoch ran out), as
// Kafka decides on the request version alone.
const endTxnMaxVersion int16 = 5

func (b *Broker) handleEndTxn(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.EndTxnRequest)
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	if !b.authorize(cc, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, r.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	tv := int16(0)
	if req.Version >= 5 {
		tv = 2
	}
	next, err := b.txns.coord.EndTxn(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit, tv)
	resp.ErrorCode = errorCode(err)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if err == nil {
		resp.ProducerID, resp.ProducerEpoch = next.ID, next.Epoch
	}
	return network.Response{Msg: resp}, nil
}
