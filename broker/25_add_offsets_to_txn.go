package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/coordinator/placement"

	"github.com/runnel/runnel/coordinator/txn"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddOffsetsToTxn (key 25), v0–v4: adds the group's __consumer_offsets
// partition to the producer's transaction, so that its commit or abort
// marker also lands there and settles the offsets the producer commits
// with TxnOffsetCommit.
const addOffsetsToTxnMaxVersion int16 = 4

func (b *Broker) handleAddOffsetsToTxn(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !b.authorize(cc, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, r.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	case !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, r.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	tp := txn.TopicPartition{Topic: txnOffsetsTopic, Partition: b.offsetsPartitionFor(r.Group)}
	resp.ErrorCode = errorCode(b.txns.coord.AddPartitions(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, []txn.TopicPartition{tp}, 0))
	return network.Response{Msg: resp}, nil
}

// offsetsPartitionFor is the __consumer_offsets partition of a group: the
// same hash as a transactional id's, over the topic's partition count (or
// offsets.topic.num.partitions before it exists).
func (b *Broker) offsetsPartitionFor(group string) int32 {
	n := b.cfg.OffsetsTopicNumPartitions
	if t := b.ctrl.Snapshot().Topics[txnOffsetsTopic]; t != nil && len(t.Partitions) > 0 {
		n = int32(len(t.Partitions))
	}
	return placement.Partition(group, n)
}
