package broker

import (
	"context"
	"sort"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions (key 65), v0: the state of transactional ids whose
// coordinator this broker is (others: NOT_COORDINATOR; unknown ids:
// TRANSACTIONAL_ID_NOT_FOUND).
const describeTransactionsMaxVersion int16 = 0

func (b *Broker) handleDescribeTransactions(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeTransactionsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range r.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
			// As in Kafka, an entry with an error carries only its code:
			// producer id, epoch and start time stay 0.
			st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		d, err := b.txns.coord.Describe(id)
		if err != nil {
			st.ErrorCode = errorCode(err)
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State = d.State.String()
		st.TimeoutMillis = int32(d.Timeout.Milliseconds())
		st.StartTimestamp = -1
		if !d.StartTime.IsZero() {
			st.StartTimestamp = d.StartTime.UnixMilli()
		}
		st.ProducerID, st.ProducerEpoch = d.ProducerID, d.Epoch
		byTopic := map[string][]int32{}
		for _, tp := range d.Partitions {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
		}
		names := make([]string, 0, len(byTopic))
		for t := range byTopic {
			// Kafka lists only the topics the client may describe.
			if b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t) {
				names = append(names, t)
			}
		}
		sort.Strings(names)
		for _, t := range names {
			tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			tt.Topic, tt.Partitions = t, byTopic[t]
			st.Topics = append(st.Topics, tt)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return network.Response{Msg: resp}, nil
}
