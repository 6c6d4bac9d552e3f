package txn

import (
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a transaction's state, numbered as in Kafka's
// __transaction_state records (kmsg.TransactionState).
type State int8

// The transaction states.
const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

// String is Kafka's name of the state (DescribeTransactions and
// ListTransactions report it).
func (s State) String() string { return kmsg.TransactionState(s).String() }

// ParseState is the inverse of String; ok is false for an unknown name.
func ParseState(name string) (State, bool) {
	for s := Empty; s <= PrepareEpochFence; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// noEpoch is an unset producer epoch; noPID an unset producer id.
const (
	noEpoch int16 = -1
	noPID   int64 = -1
	// maxEpoch is the last usable epoch: a bump from it moves to a new
	// producer id (Kafka's isEpochExhausted: epoch >= Short.MAX_VALUE - 1).
	maxEpoch int16 = 32766
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// meta is the state of one transactional id. Guarded by mu of its txn.
type meta struct {
	id            string
	producerID    int64
	prevProducer  int64 // the producer id before an epoch-exhaustion move, or -1
	epoch         int16
	lastEpoch     int16 // the epoch before the last bump, -1 if unknown
	timeout       time.Duration
	state         State
	parts         map[TopicPartition]struct{}
	startTime     time.Time // start of the ongoing transaction
	lastUpdate    time.Time
	markersInFlow bool // a marker writer is running for this Prepare* state
	// tv is the transaction version the client used for the current (or
	// last) transaction: 2 bumps the epoch at every EndTxn (KIP-890 part
	// 2), below 2 the epoch changes only at InitProducerId.
	tv int16
	// nextProducer is the producer id a TV2 EndTxn that exhausted the
	// epoch moves to once the markers are written, or -1.
	nextProducer int64
}

// sortedParts returns the partitions grouped by topic, sorted.
func (m *meta) sortedParts() map[string][]int32 {
	out := make(map[string][]int32)
	for tp := range m.parts {
		out[tp.Topic] = append(out[tp.Topic], tp.Partition)
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	}
	return out
}

// record encodes the state as a __transaction_state record: key version 0,
// value version 0, or version 1 (flexible, with the previous and next
// producer ids and the client's transaction version as tagged fields) when
// the cluster finalizes transaction.version 1 or more, as Kafka's
// TransactionLog.valueToBytes does.
func (m *meta) record(valueVersion int16) Record {
	k := kmsg.NewTxnMetadataKey()
	k.Version = 0
	k.TransactionalID = m.id
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID = m.producerID
	v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion = m.prevProducer, m.nextProducer, m.tv
	v.ProducerEpoch = m.epoch
	v.TimeoutMillis = int32(m.timeout / time.Millisecond)
	v.State = kmsg.TransactionState(m.state)
	parts := m.sortedParts()
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	v.Topics = []kmsg.TxnMetadataValueTopic{}
	for _, t := range topics {
		vt := kmsg.NewTxnMetadataValueTopic()
		vt.Topic = t
		vt.Partitions = parts[t]
		v.Topics = append(v.Topics, vt)
	}
	v.LastUpdateTimestamp = m.lastUpdate.UnixMilli()
	v.StartTimestamp = -1
	if !m.startTime.IsZero() {
		v.StartTimestamp = m.startTime.UnixMilli()
	}
	return Record{Key: k.AppendTo(nil), Value: v.AppendTo(nil)}
}

// tombstone is the record that removes an id.
func tombstone(id string) Record {
	k := kmsg.NewTxnMetadataKey()
	k.TransactionalID = id
	return Record{Key: k.AppendTo(nil)}
}

// decodeRecord parses a __transaction_state record. A nil meta with a nil
// error is a tombstone for id. Keys of other versions are skipped (ok false).
func decodeRecord(key, value []byte) (id string, m *meta, ok bool, err error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, false, fmt.Errorf("txn: bad key: %w", err)
	}
	if k.Version != 0 {
		return "", nil, false, nil
	}
	if value == nil {
		return k.TransactionalID, nil, true, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", nil, false, fmt.Errorf("txn: bad value for %q: %w", k.TransactionalID, err)
	}
	m = &meta{
		id:           k.TransactionalID,
		producerID:   v.ProducerID,
		prevProducer: noPID,
		epoch:        v.ProducerEpoch,
		lastEpoch:    noEpoch,
		timeout:      time.Duration(v.TimeoutMillis) * time.Millisecond,
		state:        State(v.State),
		parts:        make(map[TopicPartition]struct{}),
		lastUpdate:   time.UnixMilli(v.LastUpdateTimestamp),
		nextProducer: noPID,
	}
	if v.Version >= 1 {
		if v.PreviousProducerID >= 0 {
			m.prevProducer = v.PreviousProducerID
		}
		if v.NextProducerID >= 0 {
			m.nextProducer = v.NextProducerID
		}
		// The epoch before the last bump is not in the record (as in
		// Kafka): a TV2 EndTxn retry is recognised by the epoch alone.
		m.tv = v.ClientTransactionVersion
	}
	if v.StartTimestamp >= 0 {
		m.startTime = time.UnixMilli(v.StartTimestamp)
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.parts[TopicPartition{t.Topic, p}] = struct{}{}
		}
	}
	return k.TransactionalID, m, true, nil
}

// completing reports whether the id's transaction is between its Prepare
// record and its Complete record, its markers being written. Every client
// request then answers CONCURRENT_TRANSACTIONS before the producer id and
// epoch are checked, as Kafka's coordinator does while a transition is
// pending: under transaction version 2 the client already holds the bumped
// epoch (or, past an exhausted epoch, the next producer id) from the EndTxn
// answer that began the completion, and the stored state shows it only
// once the completion is written. Checking the epoch first would fence a
// client that did nothing wrong.
func (m *meta) completing() bool {
	return m != nil && (m.state == PrepareCommit || m.state == PrepareAbort || m.state == PrepareEpochFence)
}
