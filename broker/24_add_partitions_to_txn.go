package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator/txn"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddPartitionsToTxn (key 24), v0–v5. v0–v3 carry one transaction from a
// producer; v4+ batch several (brokers send them) and may be verify-only
// (KIP-890 part 1: a partition leader asking whether a partition is in the
// producer's ongoing transaction, answered per partition with NONE or
// INVALID_TXN_STATE). As in Kafka, when any partition of a transaction is
// unknown that partition answers UNKNOWN_TOPIC_OR_PARTITION and the others
// OPERATION_NOT_ATTEMPTED; otherwise the coordinator's answer applies to
// every partition.
const addPartitionsToTxnMaxVersion int16 = 5

func (b *Broker) handleAddPartitionsToTxn(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	snap := b.ctrl.Snapshot()
	mayWrite := func(rt kmsg.ACLResourceType, name string) bool {
		return b.authorize(cc, kmsg.ACLOperationWrite, rt, name)
	}
	if r.Version >= 4 && !b.authorizeCluster(cc, kmsg.ACLOperationClusterAction) {
		// Batched (v4+) requests come from brokers verifying a
		// transactional produce: Kafka requires CLUSTER_ACTION.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	if r.Version < 4 {
		topics := make(map[string][]int32, len(r.Topics))
		var order []string
		for _, t := range r.Topics {
			if _, ok := topics[t.Topic]; !ok {
				order = append(order, t.Topic)
			}
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		codes := b.addPartitionsOne(ctx, snap, mayWrite, r.Version, r.TransactionalID, r.ProducerID, r.ProducerEpoch, false, false, topics)
		for _, t := range order {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t
			for _, p := range topics[t] {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[txn.TopicPartition{Topic: t, Partition: p}]
				if r.Version < 2 && rp.ErrorCode == kerr.ProducerFenced.Code {
					// PRODUCER_FENCED came with v2; older clients know
					// INVALID_PRODUCER_EPOCH (Kafka's response mapping).
					rp.ErrorCode = kerr.InvalidProducerEpoch.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return network.Response{Msg: resp}, nil
	}
	for _, tr := range r.Transactions {
		topics := make(map[string][]int32, len(tr.Topics))
		var order []string
		for _, t := range tr.Topics {
			if _, ok := topics[t.Topic]; !ok {
				order = append(order, t.Topic)
			}
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		codes := b.addPartitionsOne(ctx, snap, func(kmsg.ACLResourceType, string) bool { return true }, r.Version, tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly, true, topics)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tr.TransactionalID
		for _, t := range order {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t
			for _, p := range topics[t] {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[txn.TopicPartition{Topic: t, Partition: p}]
				if r.Version < 2 && rp.ErrorCode == kerr.ProducerFenced.Code {
					// PRODUCER_FENCED came with v2; older clients know
					// INVALID_PRODUCER_EPOCH (Kafka's response mapping).
					rp.ErrorCode = kerr.InvalidProducerEpoch.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return network.Response{Msg: resp}, nil
}

// addPartitionsOne adds (or verifies) one transaction's partitions and
// returns each partition's error code.
//
// mayWrite answers for the client (WRITE on the transactional id, then on
// each topic, as Kafka checks a v3- request); a refusal of the id refuses
// every partition, a refused topic its partitions, and the rest are then
// OPERATION_NOT_ATTEMPTED.
func (b *Broker) addPartitionsOne(ctx context.Context, snap *controller.Snapshot, mayWrite func(kmsg.ACLResourceType, string) bool, version int16, id string, pid int64, epoch int16, verify, batched bool, topics map[string][]int32) map[txn.TopicPartition]int16 {
	codes := make(map[txn.TopicPartition]int16)
	var parts []txn.TopicPartition
	if !mayWrite(kmsg.ACLResourceTypeTransactionalId, id) {
		for t, ps := range topics {
			for _, p := range ps {
				codes[txn.TopicPartition{Topic: t, Partition: p}] = kerr.TransactionalIDAuthorizationFailed.Code
			}
		}
		return codes
	}
	unknown := false
	for t, ps := range topics {
		st := snap.Topics[t]
		writable := mayWrite(kmsg.ACLResourceTypeTopic, t)
		for _, p := range ps {
			tp := txn.TopicPartition{Topic: t, Partition: p}
			parts = append(parts, tp)
			if !writable {
				codes[tp] = kerr.TopicAuthorizationFailed.Code
				unknown = true
			} else if st == nil || p < 0 || int(p) >= len(st.Partitions) {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
				unknown = true
			}
		}
	}
	if unknown {
		for _, tp := range parts {
			if codes[tp] == 0 {
				codes[tp] = kerr.OperationNotAttempted.Code
			}
		}
		return codes
	}
	all := func(code int16) map[txn.TopicPartition]int16 {
		for _, tp := range parts {
			codes[tp] = code
		}
		return codes
	}
	if verify {
		res, err := b.txns.coord.Verify(id, pid, epoch, parts)
		if err != nil {
			return all(errorCode(err))
		}
		for _, tp := range parts {
			if !res[tp] {
				// v5 knows TRANSACTION_ABORTABLE (KIP-890); v4 gets
				// INVALID_TXN_STATE, as Kafka answers it.
				codes[tp] = kerr.InvalidTxnState.Code
				if version >= 5 {
					codes[tp] = kerr.TransactionAbortable.Code
				}
			}
		}
		return codes
	}
	// Clients (v3-) add partitions under transaction version 0; a broker's
	// batched add (v4+, not verify-only) is a Produce v12+ or
	// TxnOffsetCommit v5+ of a TV2 producer adding its partition
	// implicitly (KIP-890 part 2).
	tv := int16(0)
	if batched {
		tv = 2
	}
	return all(errorCode(b.txns.coord.AddPartitions(ctx, id, pid, epoch, parts, tv)))
}
