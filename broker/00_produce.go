package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/quota"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce (key 0), v3 and up (v0–v2 are refused on the wire by the Server).
//
// Each partition's record batches go to the local leader's log, which
// validates them (CRC, sizes against the topic's max.message.bytes,
// idempotent sequences and epochs, keys on compacted topics, CreateTime
// timestamps against message.timestamp.{before,after}.max.ms) and assigns
// offsets. The append is replica.Partition.AppendAsLeader, which re-checks
// the role, appends and recomputes the leader's HW, waking long-polling
// fetchers.
//
//   - acks=0: no response; if any partition failed, the connection is
//     closed instead, as Kafka does, so the client refreshes its metadata.
//   - acks=1: answered once the leader has appended.
//   - acks=-1: refused with NOT_ENOUGH_REPLICAS when the ISR is smaller than
//     min.insync.replicas; otherwise answered once the HW reaches each
//     partition's last offset + 1 (waiting on the replica's change channel),
//     or with REQUEST_TIMED_OUT for the partitions still short when the
//     request's timeout passes. With a single-replica ISR the HW is there
//     as soon as the append returns.
//
// Before the log sees a partition's records, the request-level rules of
// Kafka's ProduceRequest apply (checkProduceRecords): exactly one batch,
// of magic 2 (else INVALID_RECORD), and no zstd before v7
// (UNSUPPORTED_COMPRESSION_TYPE).
//
// A batch rejected because of some of its records (storage.RecordErrors:
// INVALID_TIMESTAMP for a CreateTime timestamp outside
// message.timestamp.{before,after}.max.ms, INVALID_RECORD for a keyless
// record on a compacted topic) is answered, from v8, with one ErrorRecords
// entry per offending record (its index within the batch and why) beside
// the partition's ErrorMessage, and with the log start offset, as Kafka
// does. Nothing of the partition's batches is written.
//
// Transactional batches (transactions.go) must come with the request's
// transactional id, and their partition must be part of the producer's
// ongoing transaction (KIP-890 part 1 verification with the coordinator),
// else INVALID_TXN_STATE. A request with a transactional batch and no
// transactional id is refused whole, every partition with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka does.
//
// A refused partition's offsets are -1, except that an error of the
// leader's append itself carries the log start offset
// (produceErrorHasLogStart). An idempotent retry of one of the producer's
// last five batches is answered with that batch's offsets and, as its
// LogAppendTime, the batch's max timestamp (storage's duplicate path).
const produceMaxVersion int16 = 13

// handleProduce appends, then charges the request's size to the client's
// producer_byte_rate (quotas.go): over it, the response carries the
// throttle time and the connection is muted, even for acks=0, which has
// no response and, as in Kafka, no request_percentage charge.
func (b *Broker) handleProduce(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	resp, err := b.produce(ctx, cc, req)
	if err != nil {
		return resp, err
	}
	throttle := b.quotas.produce.Record(quotaUser(cc), quotaClientID(req), float64(req.Size), time.Now())
	b.quotas.note(quota.ProducerByteRate, throttle)
	resp.Throttle = throttle
	if resp.Msg == nil {
		exemptFromRequestQuota(ctx)
	}
	return resp, nil
}

func (b *Broker) produce(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	pr := req.Body.(*kmsg.ProduceRequest)
	resp := pr.ResponseKind().(*kmsg.ProduceResponse)
	snap := b.ctrl.Snapshot()

	var reqErr error
	switch {
	case pr.TransactionID != nil && !b.authorize(cc, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *pr.TransactionID):
		// Kafka refuses the whole request before looking at topics.
		reqErr = kerr.TransactionalIDAuthorizationFailed
	case pr.TransactionID == nil && produceHasTransactionalBatch(pr):
		// As Kafka's KafkaApis: transactional records need a
		// transactional id the client may write; without one every
		// partition of the request is refused.
		reqErr = kerr.TransactionalIDAuthorizationFailed
	case pr.Acks != 0 && pr.Acks != 1 && pr.Acks != -1:
		reqErr = kerr.InvalidRequiredAcks
	}

	var waits []replica.HWWait
	var failed []string
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(pr.Topics))
	for ti := range pr.Topics {
		rt := &pr.Topics[ti]
		st := &resp.Topics[ti]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, topicErr := rt.Topic, reqErr
		if topicErr == nil {
			name, topicErr = produceTopic(snap, pr.Version, rt)
			// Authorization before existence: a topic the client may not
			// write is refused whether or not it exists (a topic id that
			// names none stays UNKNOWN_TOPIC_ID, as Kafka).
			if name != "" && !b.authorize(cc, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, name) {
				topicErr = kerr.TopicAuthorizationFailed
			}
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := &st.Partitions[pi]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			err := topicErr
			var w replica.HWWait
			if err == nil {
				err = checkProduceRecords(pr.Version, rp.Records)
			}
			if err == nil {
				w, err = b.produceOne(ctx, snap, name, rp, pr.Acks, pr.TransactionID, pr.Version, sp)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				if pr.Version >= 8 {
					sp.ErrorMessage = errorMessage(err)
					sp.ErrorRecords = produceRecordErrors(err)
				}
				if pr.Version >= 10 && errors.Is(err, kerr.NotLeaderForPartition) {
					b.produceLeaderHint(snap, name, rp.Partition, cc.Listener, sp, resp)
				}
				failed = append(failed, fmt.Sprintf("%s-%d: %v", name, rp.Partition, err))
				continue
			}
			if pr.Acks == -1 {
				w.ErrCode = &sp.ErrorCode
				waits = append(waits, w)
			}
		}
	}

	switch pr.Acks {
	case 0:
		if len(failed) > 0 {
			return network.Response{}, fmt.Errorf("acks=0 produce failed, closing so the client refreshes metadata: %v", failed)
		}
		return network.Response{}, nil
	case -1:
		deadline := time.Now().Add(time.Duration(max(pr.TimeoutMillis, 0)) * time.Millisecond)
		if err := replica.AwaitHW(ctx, waits, deadline); err != nil {
			return network.Response{}, err
		}
	}
	return network.Response{Msg: resp}, nil
}

// produceTopic resolves a request topic to its name: by topic id from v13,
// else by name. Bad names are INVALID_TOPIC_EXCEPTION, as are Kafka's
// internal topics, which clients may not write.
func produceTopic(snap *controller.Snapshot, version int16, rt *kmsg.ProduceRequestTopic) (string, error) {
	var t *controller.Topic
	if version >= 13 {
		t = snap.TopicsByID[controller.TopicID(rt.TopicID)]
		if t == nil {
			return "", kerr.UnknownTopicID
		}
	} else {
		if err := validateTopicName(rt.Topic); err != nil {
			return rt.Topic, fmt.Errorf("%w: %v", kerr.InvalidTopicException, err)
		}
		t = snap.Topics[rt.Topic]
		if t == nil {
			return rt.Topic, kerr.UnknownTopicOrPartition
		}
	}
	if t.Internal {
		return t.Name, fmt.Errorf("%w: cannot append to internal topic %s", kerr.InvalidTopicException, t.Name)
	}
	return t.Name, nil
}

// produceOne appends one partition's batches and fills sp's offsets. It
// returns the acks=-1 wait handle of the append.
func (b *Broker) produceOne(ctx context.Context, snap *controller.Snapshot, topic string, rp *kmsg.ProduceRequestTopicPartition, acks int16, txnID *string, version int16, sp *kmsg.ProduceResponseTopicPartition) (replica.HWWait, error) {
	r, err := b.replicas.LeaderFor(snap, topic, rp.Partition)
	if err != nil {
		return replica.HWWait{}, err
	}
	if hasTransactionalBatch(rp.Records) {
		if err := b.checkTxnProduce(ctx, txnID, r, rp.Records, version); err != nil { // transactions.go
			return replica.HWWait{}, err
		}
	}
	res, w, err := r.AppendAsLeader(rp.Records, replica.LeaderAppend{CheckMinISR: acks == -1})
	if err != nil {
		if produceErrorHasLogStart(err) {
			sp.LogStartOffset = r.Log().LogStartOffset()
		}
		return replica.HWWait{}, err
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	return w, nil
}

// produceErrorHasLogStart says whether a refused append's answer carries
// the log start offset, as Kafka's ReplicaManager.appendToLocalLog
// decides: every error of the leader's append does (a refused sequence or
// epoch, NOT_ENOUGH_REPLICAS, invalid records, ...) except the partition,
// size, corruption and storage errors, which keep -1. Errors before the
// append (request checks, transaction verification) keep -1 too.
func produceErrorHasLogStart(err error) bool {
	for _, e := range []error{kerr.UnknownTopicOrPartition, kerr.NotLeaderForPartition, kerr.MessageTooLarge,
		kerr.RecordListTooLarge, kerr.CorruptMessage, kerr.KafkaStorageError} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// produceRecordErrors is the v8+ ErrorRecords of a partition whose append
// failed: one entry per offending record when the log rejected the batch
// for its records, none otherwise.
func produceRecordErrors(err error) []kmsg.ProduceResponseTopicPartitionErrorRecord {
	var recErrs *storage.RecordErrors
	if !errors.As(err, &recErrs) {
		return nil
	}
	out := make([]kmsg.ProduceResponseTopicPartitionErrorRecord, len(recErrs.Records))
	for i, re := range recErrs.Records {
		out[i] = kmsg.NewProduceResponseTopicPartitionErrorRecord()
		out[i].RelativeOffset = re.Index
		msg := re.Message
		out[i].ErrorMessage = &msg
	}
	return out
}

// produceLeaderHint fills KIP-951's current leader of a partition this
// broker does not lead, and the leader's endpoint in the response.
func (b *Broker) produceLeaderHint(snap *controller.Snapshot, topic string, partition int32, listener string, sp *kmsg.ProduceResponseTopicPartition, resp *kmsg.ProduceResponse) {
	leader, epoch, ep, ok := leaderHint(snap, topic, partition, listener)
	if !ok {
		return
	}
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
	for _, nb := range resp.Brokers {
		if nb.NodeID == leader {
			return
		}
	}
	nb := kmsg.NewProduceResponseBroker()
	nb.NodeID, nb.Host, nb.Port = leader, ep.Host, ep.Port
	if rack := snap.Brokers[leader].Rack; rack != "" {
		nb.Rack = &rack
	}
	resp.Brokers = append(resp.Brokers, nb)
}

// produceMinBatch is the least a partition's records must hold for the
// request-level checks to read a batch's length, magic and attributes:
// the header up to lastOffsetDelta (storage/batch.go has the layout).
const produceMinBatch = storage.BatchLastOffsetDeltaAt + 4

// checkProduceRecords applies Kafka's request-level rules to one
// partition's records before anything else looks at them (Kafka's
// ProduceRequest.validateRecords): exactly one batch, of magic 2, and no
// zstd before v7 (KIP-110), which older clients could not read back.
func checkProduceRecords(version int16, records []byte) error {
	if len(records) < produceMinBatch {
		return fmt.Errorf("%w: Produce requests with version %d must have at least one record batch per partition", kerr.InvalidRecord, version)
	}
	if magic := records[storage.BatchMagicAt]; magic != 2 {
		return fmt.Errorf("%w: Produce requests with version %d are only allowed to contain record batches with magic version 2", kerr.InvalidRecord, version)
	}
	if version < 7 && int8(records[storage.BatchAttributesAt+1]&storage.BatchAttrCodecMask) == storage.CodecZstd {
		return fmt.Errorf("%w: Produce requests with version %d are not allowed to use ZStandard compression", kerr.UnsupportedCompressionType, version)
	}
	n := int64(int32(binary.BigEndian.Uint32(records[storage.BatchLengthAt:]))) + storage.BatchLogOverhead
	if n > storage.BatchLogOverhead && n < int64(len(records)) {
		return fmt.Errorf("%w: Produce requests with version %d are only allowed to contain exactly one record batch per partition", kerr.InvalidRecord, version)
	}
	return nil
}

// produceHasTransactionalBatch reports whether any partition of the
// request holds a transactional batch (Kafka's
// RequestUtils.hasTransactionalRecords).
func produceHasTransactionalBatch(pr *kmsg.ProduceRequest) bool {
	for ti := range pr.Topics {
		for pi := range pr.Topics[ti].Partitions {
			if hasTransactionalBatch(pr.Topics[ti].Partitions[pi].Records) {
				return true
			}
		}
	}
	return false
}

// hasTransactionalBatch reports whether any well-framed batch in records
// has the transactional attribute. Framing errors are left to the log's
// validation.
func hasTransactionalBatch(records []byte) bool {
	for len(records) >= produceMinBatch {
		if binary.BigEndian.Uint16(records[storage.BatchAttributesAt:])&storage.BatchAttrTransactional != 0 {
			return true
		}
		n := int64(int32(binary.BigEndian.Uint32(records[storage.BatchLengthAt:]))) + storage.BatchLogOverhead
		if n <= storage.BatchLogOverhead || n > int64(len(records)) {
			return false
		}
		records = records[n:]
	}
	return false
}
