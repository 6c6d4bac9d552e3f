package storage

import "sort"

// Read-only views of a log's producer state, for the transaction code in
// the broker: DescribeProducers lists the active producers, and the
// transactional produce path asks whether a producer's transaction is
// already ongoing in the partition (so it need not ask the coordinator
// again).

// ProducerInfo is one producer's state in a partition.
type ProducerInfo struct {
	ProducerID       int64
	ProducerEpoch    int16
	LastSequence     int32 // -1 if none
	LastTimestamp    int64 // -1 if none
	CoordinatorEpoch int32 // of its last marker, -1 if none
	TxnStartOffset   int64 // first offset of its ongoing transaction, -1 if none
}

// Producers returns the producers the log holds state for, by id.
func (l *Log) Producers() []ProducerInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]ProducerInfo, 0, len(l.producers.producers))
	for id, e := range l.producers.producers {
		out = append(out, ProducerInfo{
			ProducerID:       id,
			ProducerEpoch:    e.epoch,
			LastSequence:     e.lastSeq(),
			LastTimestamp:    e.lastTs,
			CoordinatorEpoch: e.coordEpoch,
			TxnStartOffset:   e.txnFirst,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

// OngoingTransaction reports whether producer pid has a transaction open
// in this log, and under which epoch.
func (l *Log) OngoingTransaction(pid int64) (epoch int16, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e := l.producers.producers[pid]
	if e == nil || e.txnFirst < 0 {
		return 0, false
	}
	return e.epoch, true
}

// ExpireProducers drops the state of producers idle for
// producer.id.expiration.ms without an ongoing transaction (KIP-854); the
// Manager calls it every producer.id.expiration.check.interval.ms. They
// no longer show in Producers (DescribeProducers), and their next batch is
// taken as an unknown producer's. It returns how many were dropped.
func (l *Log) ExpireProducers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0
	}
	return l.producers.expire(l.clock().UnixMilli(), l.producerExpirationMs)
}

// setProducerExpiration changes producer.id.expiration.ms (a dynamic
// broker key in Kafka).
func (l *Log) setProducerExpiration(ms int64) {
	l.mu.Lock()
	l.producerExpirationMs = ms
	l.mu.Unlock()
}
