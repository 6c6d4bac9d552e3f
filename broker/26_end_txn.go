package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn (key 26), v0–v4: commits or aborts the producer's transaction.
// The answer comes once PrepareCommit/PrepareAbort is durable in
// __transaction_state; the markers follow in the background. v5 (KIP-890
// part 2, an epoch bump per transaction) is not offered: Runnel does not
// advertise transaction.version 2.
const endTxnMaxVersion int16 = 4

func (b *Broker) handleEndTxn(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.EndTxnRequest)
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	if !b.authorize(cc, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, r.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	resp.ErrorCode = errorCode(b.txns.coord.EndTxn(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit))
	return network.Response{Msg: resp}, nil
}
