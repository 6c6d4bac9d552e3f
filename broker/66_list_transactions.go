package broker

import (
	"context"
	"regexp"
	"time"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/coordinator/txn"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListTransactions (key 66), v0–v2: the transactional ids this broker
// coordinates, filtered by state (unknown state names are echoed in
// UnknownStateFilters), producer id, v1's minimum running time and v2's
// id pattern (a regular expression; a bad one is
// INVALID_REGULAR_EXPRESSION).
const listTransactionsMaxVersion int16 = 2

func (b *Broker) handleListTransactions(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ListTransactionsRequest)
	resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
	var f txn.ListFilter
	for _, name := range r.StateFilters {
		s, ok := txn.ParseState(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		f.States = append(f.States, s)
	}
	if len(r.StateFilters) > 0 && len(f.States) == 0 {
		return network.Response{Msg: resp}, nil // only unknown states: nothing matches
	}
	f.ProducerIDs = r.ProducerIDFilters
	if r.Version >= 1 && r.DurationFilterMillis >= 0 {
		f.MinDuration = time.Duration(r.DurationFilterMillis) * time.Millisecond
	}
	if r.Version >= 2 && r.TransactionalIDPattern != nil && *r.TransactionalIDPattern != "" {
		re, err := regexp.Compile(*r.TransactionalIDPattern)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return network.Response{Msg: resp}, nil
		}
		f.IDPattern = re
	}
	for _, d := range b.txns.coord.List(f) {
		if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, d.ID) {
			continue // Kafka lists only the ids the client may describe
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = d.ID, d.ProducerID, d.State.String()
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return network.Response{Msg: resp}, nil
}
