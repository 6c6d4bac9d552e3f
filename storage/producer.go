package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Producer state: per producer id, its epoch, the metadata of its last
// maxCachedBatches batches (for duplicate detection of idempotent retries),
// the coordinator epoch of its last marker and the first offset of its
// ongoing transaction. It is rebuilt on open from the latest .snapshot at or
// below the log end plus the batches after it.
//
// .snapshot files are named <20-digit offset>.snapshot: the state as of
// (just before) that offset. They use Kafka's producer snapshot layout,
// version 1, big endian:
//
//	version int16 (1), crc uint32 (CRC-32C of everything after it),
//	count int32, then count entries of
//	  producerId int64, producerEpoch int16, lastSequence int32,
//	  lastOffset int64, offsetDelta int32 (lastOffset - first offset of the
//	  last batch), timestamp int64, coordinatorEpoch int32,
//	  currentTxnFirstOffset int64 (-1 if none)
//
// Like Kafka, only a producer's last batch survives a snapshot, so after a
// restart only a retry of the very last batch is recognised as a duplicate.
// A producer idle for producer.id.expiration.ms (measured from its last
// timestamp) without an ongoing transaction is forgotten (expire).
const (
	maxCachedBatches = 5
	snapshotVersion  = 1
	snapshotEntry    = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
	noSequence       = -1
	noProducerEpoch  = -1
)

type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTs                   int64
}

type producerEntry struct {
	id         int64
	epoch      int16
	batches    []batchMeta
	coordEpoch int32
	txnFirst   int64 // -1 when no transaction is ongoing
	lastTs     int64
}

func (e *producerEntry) clone() *producerEntry {
	c := *e
	c.batches = append([]batchMeta(nil), e.batches...)
	return &c
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return noSequence
	}
	return e.batches[len(e.batches)-1].lastSeq
}

func (e *producerEntry) lastOffset() int64 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastOffset
}

func (e *producerEntry) addBatch(m batchMeta) {
	if len(e.batches) == maxCachedBatches {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxCachedBatches-1]
	}
	e.batches = append(e.batches, m)
}

type producerState struct {
	producers map[int64]*producerEntry
}

func newProducerState() *producerState {
	return &producerState{producers: make(map[int64]*producerEntry)}
}

// completedTxn is a transaction ended by a marker in this append.
type completedTxn struct {
	producerID, firstOffset, lastOffset int64
	abort                               bool
}

// producerAppend accumulates the effect of one Append on producer state; it
// is applied only if the write succeeds.
type producerAppend struct {
	ps        *producerState
	updates   map[int64]*producerEntry
	completed []completedTxn
}

func (ps *producerState) begin() *producerAppend {
	return &producerAppend{ps: ps}
}

func (pa *producerAppend) entry(pid int64) (cur *producerEntry, upd *producerEntry) {
	if u, ok := pa.updates[pid]; ok {
		return pa.ps.producers[pid], u
	}
	cur = pa.ps.producers[pid]
	if cur != nil {
		upd = cur.clone()
	} else {
		upd = &producerEntry{id: pid, epoch: noProducerEpoch, coordEpoch: -1, txnFirst: -1, lastTs: -1}
	}
	if pa.updates == nil {
		pa.updates = make(map[int64]*producerEntry)
	}
	pa.updates[pid] = upd
	return cur, upd
}

// duplicate reports the cached batch that an idempotent client batch
// retries, if any.
func (ps *producerState) duplicate(h *BatchHeader) (batchMeta, bool) {
	if h.ProducerID < 0 || h.BaseSequence < 0 {
		return batchMeta{}, false
	}
	e := ps.producers[h.ProducerID]
	if e == nil || e.epoch != h.ProducerEpoch {
		return batchMeta{}, false
	}
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == h.LastSequence() {
			return b, true
		}
	}
	return batchMeta{}, false
}

func inSequence(last, next int32) bool {
	return next == last+1 || (next == 0 && last == math.MaxInt32)
}

// add validates and records one batch (offsets already final). client
// selects the leader-side checks (epoch fencing, sequence continuity);
// replicated batches are recorded as they are. marker is the control type
// for control batches.
func (pa *producerAppend) add(h *BatchHeader, marker int16, coordEpoch int32, client bool) error {
	pid := h.ProducerID
	if pid < 0 {
		return nil
	}
	cur, upd := pa.entry(pid)
	if h.IsControl() {
		if h.ProducerEpoch < upd.epoch && client {
			return kerr.InvalidProducerEpoch
		}
		if coordEpoch < upd.coordEpoch && client {
			return kerr.TransactionCoordinatorFenced
		}
		if h.ProducerEpoch != upd.epoch {
			upd.batches = upd.batches[:0]
			upd.epoch = h.ProducerEpoch
		}
		first := upd.txnFirst
		if first < 0 {
			first = h.BaseOffset
		}
		pa.completed = append(pa.completed, completedTxn{producerID: pid, firstOffset: first, lastOffset: h.LastOffset(), abort: marker == ControlAbort})
		upd.txnFirst = -1
		upd.coordEpoch = coordEpoch
		upd.lastTs = h.MaxTimestamp
		return nil
	}
	if client {
		if h.ProducerEpoch < upd.epoch {
			return kerr.InvalidProducerEpoch
		}
		if h.ProducerEpoch != upd.epoch {
			if h.BaseSequence != 0 && upd.epoch != noProducerEpoch {
				return kerr.OutOfOrderSequenceNumber
			}
		} else {
			last := upd.lastSeq()
			if last == noSequence && cur != nil && cur.epoch == h.ProducerEpoch {
				last = cur.lastSeq()
			}
			known := cur != nil && cur.epoch != noProducerEpoch
			if known && !inSequence(last, h.BaseSequence) {
				return kerr.OutOfOrderSequenceNumber
			}
		}
		if h.IsTransactional() != (upd.txnFirst >= 0) && !h.IsTransactional() {
			return kerr.InvalidTxnState
		}
	}
	if h.ProducerEpoch != upd.epoch {
		upd.batches = upd.batches[:0]
		upd.epoch = h.ProducerEpoch
	}
	upd.addBatch(batchMeta{firstSeq: h.BaseSequence, lastSeq: h.LastSequence(), firstOffset: h.BaseOffset, lastOffset: h.LastOffset(), maxTs: h.MaxTimestamp})
	if h.IsTransactional() && upd.txnFirst < 0 {
		upd.txnFirst = h.BaseOffset
	}
	upd.lastTs = h.MaxTimestamp
	return nil
}

// commit applies the append and returns the aborted transactions to index.
// lso computes the LSO just after each completed transaction.
func (pa *producerAppend) commit() []abortedTxn {
	for pid, e := range pa.updates {
		pa.ps.producers[pid] = e
	}
	var out []abortedTxn
	for _, c := range pa.completed {
		if !c.abort {
			continue
		}
		lso := c.lastOffset + 1
		for pid, e := range pa.ps.producers {
			if pid != c.producerID && e.txnFirst >= 0 && e.txnFirst < lso {
				lso = e.txnFirst
			}
		}
		out = append(out, abortedTxn{producerID: c.producerID, firstOffset: c.firstOffset, lastOffset: c.lastOffset, lastStableOffset: lso})
	}
	return out
}

// firstUnstable is the first offset of the oldest ongoing transaction, or -1.
func (ps *producerState) firstUnstable() int64 {
	first := int64(-1)
	for _, e := range ps.producers {
		if e.txnFirst >= 0 && (first < 0 || e.txnFirst < first) {
			first = e.txnFirst
		}
	}
	return first
}

// expire forgets producers idle for at least expirationMs — their last
// timestamp (the max timestamp of their last batch or marker, so record
// time under CreateTime, as in Kafka) at least that far behind nowMs — and
// without an ongoing transaction (KIP-854, Kafka's
// ProducerStateManager.removeExpiredProducers). It returns how many went.
// A later batch of an expired producer is that of an unknown producer: any
// sequence is accepted under any epoch, and retries are no longer
// recognised as duplicates.
func (ps *producerState) expire(nowMs, expirationMs int64) int {
	n := 0
	for pid, e := range ps.producers {
		if e.txnFirst < 0 && nowMs-e.lastTs >= expirationMs {
			delete(ps.producers, pid)
			n++
		}
	}
	return n
}

// evictBelow forgets producers whose last write is below logStart and that
// have no ongoing transaction (their data is gone, as in Kafka).
func (ps *producerState) evictBelow(logStart int64) {
	for pid, e := range ps.producers {
		if e.txnFirst < 0 && e.lastOffset() < logStart {
			delete(ps.producers, pid)
		}
	}
}

func snapshotPath(dir string, offset int64) string {
	return filepath.Join(dir, segmentName(offset)+".snapshot")
}

// listSnapshots returns snapshot offsets in the directory, ascending.
func listSnapshots(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return snapshotsIn(ents), nil
}

// snapshotsIn returns the snapshot offsets of a directory listing
// (os.ReadDir's, sorted by name, hence ascending).
func snapshotsIn(ents []os.DirEntry) []int64 {
	var out []int64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".snapshot") || len(n) != 29 {
			continue
		}
		if v, err := strconv.ParseInt(n[:20], 10, 64); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (ps *producerState) encodeSnapshot() []byte {
	ids := make([]int64, 0, len(ps.producers))
	for id, e := range ps.producers {
		if len(e.batches) > 0 || e.txnFirst >= 0 || e.epoch != noProducerEpoch {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, 6, 10+len(ids)*snapshotEntry)
	binary.BigEndian.PutUint16(b, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := ps.producers[id]
		last := batchMeta{firstSeq: noSequence, lastSeq: noSequence, firstOffset: -1, lastOffset: -1}
		if len(e.batches) > 0 {
			last = e.batches[len(e.batches)-1]
		}
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(last.lastSeq))
		b = binary.BigEndian.AppendUint64(b, uint64(last.lastOffset))
		b = binary.BigEndian.AppendUint32(b, uint32(last.lastOffset-last.firstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

func decodeSnapshot(b []byte) (*producerState, error) {
	if len(b) < 10 || binary.BigEndian.Uint16(b) != snapshotVersion {
		return nil, fmt.Errorf("storage: bad snapshot header")
	}
	if crc32.Checksum(b[6:], castagnoli) != binary.BigEndian.Uint32(b[2:]) {
		return nil, fmt.Errorf("storage: snapshot crc mismatch")
	}
	n := int(binary.BigEndian.Uint32(b[6:]))
	b = b[10:]
	if n < 0 || len(b) != n*snapshotEntry {
		return nil, fmt.Errorf("storage: bad snapshot length")
	}
	ps := newProducerState()
	be := binary.BigEndian
	for i := 0; i < n; i++ {
		e := &producerEntry{
			id:         int64(be.Uint64(b)),
			epoch:      int16(be.Uint16(b[8:])),
			coordEpoch: int32(be.Uint32(b[34:])),
			txnFirst:   int64(be.Uint64(b[38:])),
			lastTs:     int64(be.Uint64(b[26:])),
		}
		lastSeq := int32(be.Uint32(b[10:]))
		lastOff := int64(be.Uint64(b[14:]))
		delta := int32(be.Uint32(b[22:]))
		if lastOff >= 0 {
			first := int64(lastSeq) - int64(delta)
			if first < 0 && lastSeq >= 0 {
				first += math.MaxInt32 + 1
			}
			if lastSeq < 0 {
				first = noSequence
			}
			e.batches = []batchMeta{{firstSeq: int32(first), lastSeq: lastSeq, firstOffset: lastOff - int64(delta), lastOffset: lastOff, maxTs: e.lastTs}}
		}
		ps.producers[e.id] = e
		b = b[snapshotEntry:]
	}
	return ps, nil
}

// writeSnapshot writes the state as of offset atomically (temp file, fsync,
// rename).
func (ps *producerState) writeSnapshot(fs FileOps, dir string, offset int64, noSync bool) error {
	return writeFileAtomicFS(fs, snapshotPath(dir, offset), ps.encodeSnapshot(), noSync)
}
