package broker

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit (key 28), v0–v5: a transactional producer commits a
// group's offsets inside its transaction (consume-transform-produce). The
// group coordinator (coordinator/txn_offsets.go) checks the member (v3+,
// KIP-447) and stages the offsets; they are written here to the group's
// __consumer_offsets partition as one transactional batch of the producer
// (so the partition's LSO and a replay see them as part of the
// transaction), after checking with the transaction coordinator that the
// partition was added (AddOffsetsToTxn). The commit marker makes them the
// group's offsets, an abort marker drops them (writeMarkerLocal, and
// replayTxnOffsets on load). From v5 (KIP-890 part 2, a producer under
// transaction.version 2 that skips AddOffsetsToTxn) the offsets partition
// is added to the transaction here instead of checked. v6 names topics by
// id (as OffsetCommit v10 does): an id no topic has is UNKNOWN_TOPIC_ID for
// its partitions.
const txnOffsetCommitMaxVersion int16 = 6

func (b *Broker) handleTxnOffsetCommit(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	if r.Version >= 6 {
		return network.Response{Msg: b.txnOffsetCommitByID(ctx, cc, r)}, nil
	}
	return network.Response{Msg: b.txnOffsetCommitByName(ctx, cc, r)}, nil
}

// txnOffsetCommitByID serves v6+: topic ids are resolved to names, the
// commit runs by name, and the answer goes back in the request's order
// with the ids.
func (b *Broker) txnOffsetCommitByID(ctx context.Context, cc *network.ConnContext, r *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	// The transactional id and the group are checked before the topics
	// are resolved, as Kafka does.
	if whole := b.txnOffsetCommitRefusal(cc, r); whole != 0 {
		return txnOffsetCommitAnswer(r, func(string) int16 { return whole })
	}
	snap := b.ctrl.Snapshot()
	byName := *r
	byName.Topics = nil
	for _, t := range r.Topics {
		if topic := snap.TopicsByID[controller.TopicID(t.TopicID)]; topic != nil {
			t.Topic = topic.Name
			byName.Topics = append(byName.Topics, t)
		}
	}
	codes := map[string]map[int32]int16{}
	if len(byName.Topics) > 0 {
		for _, t := range b.txnOffsetCommitByName(ctx, cc, &byName).Topics {
			if codes[t.Topic] == nil {
				codes[t.Topic] = map[int32]int16{}
			}
			for _, p := range t.Partitions {
				codes[t.Topic][p.Partition] = p.ErrorCode
			}
		}
	}
	resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.TopicID = t.TopicID
		topic := snap.TopicsByID[controller.TopicID(t.TopicID)]
		if topic != nil {
			rt.Topic = topic.Name
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.UnknownTopicID.Code
			if topic != nil {
				rp.ErrorCode = codes[topic.Name][p.Partition]
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// txnOffsetCommitRefusal is the code that refuses the whole request: WRITE
// on the transactional id, then READ on the group; 0 when both are allowed.
func (b *Broker) txnOffsetCommitRefusal(cc *network.ConnContext, r *kmsg.TxnOffsetCommitRequest) int16 {
	switch {
	case !b.authorize(cc, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, r.TransactionalID):
		return kerr.TransactionalIDAuthorizationFailed.Code
	case !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, r.Group):
		return kerr.GroupAuthorizationFailed.Code
	}
	return 0
}

// txnOffsetCommitByName authorizes and commits a request naming topics.
func (b *Broker) txnOffsetCommitByName(ctx context.Context, cc *network.ConnContext, r *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	if whole := b.txnOffsetCommitRefusal(cc, r); whole != 0 {
		return txnOffsetCommitAnswer(r, func(string) int16 { return whole })
	}
	// Topics the client may not READ are refused per partition, the rest
	// committed.
	allowed := *r
	allowed.Topics = nil
	for _, t := range r.Topics {
		if b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t.Topic) {
			allowed.Topics = append(allowed.Topics, t)
		}
	}
	if len(allowed.Topics) != len(r.Topics) {
		committed := b.txnOffsetCommit(ctx, &allowed)
		codes := map[string]map[int32]int16{}
		for _, t := range committed.Topics {
			codes[t.Topic] = map[int32]int16{}
			for _, p := range t.Partitions {
				codes[t.Topic][p.Partition] = p.ErrorCode
			}
		}
		resp := txnOffsetCommitAnswer(r, func(string) int16 { return kerr.TopicAuthorizationFailed.Code })
		for ti := range resp.Topics {
			if c, ok := codes[resp.Topics[ti].Topic]; ok {
				for pi := range resp.Topics[ti].Partitions {
					resp.Topics[ti].Partitions[pi].ErrorCode = c[resp.Topics[ti].Partitions[pi].Partition]
				}
			}
		}
		return resp
	}
	return b.txnOffsetCommit(ctx, r)
}

// txnOffsetCommitAnswer answers every partition of r with code(topic).
func txnOffsetCommitAnswer(r *kmsg.TxnOffsetCommitRequest, code func(topic string) int16) *kmsg.TxnOffsetCommitResponse {
	resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code(t.Topic)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// txnOffsetCommit hands the commit to the group coordinator, which writes
// it to __consumer_offsets as part of the producer's transaction.
func (b *Broker) txnOffsetCommit(ctx context.Context, r *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	write := func(ctx context.Context, recs []coordinator.Record) error {
		snap := b.ctrl.Snapshot()
		rep, err := b.replicas.LeaderFor(snap, txnOffsetsTopic, b.offsetsPartitionFor(r.Group))
		if err != nil {
			return err
		}
		if err := b.verifyTxnProduce(ctx, r.TransactionalID, rep, r.ProducerID, r.ProducerEpoch, txnWriteModeFor(r.Version, 4, 5)); err != nil {
			return err
		}
		seq := int32(0)
		for _, p := range rep.Log().Producers() {
			if p.ProducerID == r.ProducerID && p.ProducerEpoch == r.ProducerEpoch && p.LastSequence >= 0 {
				seq = p.LastSequence + 1
			}
		}
		bb := storage.BatchBuilder{Transactional: true, ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch, BaseSequence: seq, Idempotent: true}
		now := time.Now().UnixMilli()
		for _, rec := range recs {
			bb.Add(now, rec.Key, rec.Value)
		}
		return appendAndAwait(ctx, rep, bb.Build(), replica.LeaderAppend{})
	}
	return b.groups.coord.TxnOffsetCommit(ctx, r, write)
}

// replayTxnOffsets is how a __consumer_offsets replay (groups.go) hands
// transactional batches and markers to the group coordinator: records of
// a transactional batch are staged for their producer, a marker commits or
// drops what its producer staged.
func replayTxnOffsets(coord *coordinator.Coordinator, idx int32, raw []byte, h *storage.BatchHeader, dec kgo.Decompressor) error {
	if h.IsControl() {
		return eachBatchRecord(raw, dec, func(rec *kmsg.Record) error {
			if len(rec.Key) >= 4 {
				switch binary.BigEndian.Uint16(rec.Key[2:]) {
				case 0:
					coord.CompleteTxn(idx, h.ProducerID, false)
				case 1:
					coord.CompleteTxn(idx, h.ProducerID, true)
				}
			}
			return nil
		})
	}
	return eachBatchRecord(raw, dec, func(rec *kmsg.Record) error {
		coord.ReplayTxnRecord(idx, h.ProducerID, rec.Key, rec.Value)
		return nil
	})
}
