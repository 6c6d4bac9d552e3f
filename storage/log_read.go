package storage

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Read returns whole batches starting with the batch that contains offset,
// only batches entirely below maxOffset (the HW or the LSO, exclusive), at
// most maxBytes in total — except that with minOneBatch the first batch is
// returned whole even if it is larger (KIP-74). offset < LogStartOffset or
// > LogEndOffset is kerr.OffsetOutOfRange; offset == LogEndOffset (or >=
// maxOffset) gives an empty result. Record bytes are never copied: the
// result names file regions; call Release after sending them.
func (l *Log) Read(offset, maxOffset int64, maxBytes int32, minOneBatch bool) (*ReadResult, error) {
	if err := l.checkHealthy(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, kerr.NotLeaderForPartition
	}
	if offset < l.logStart || offset > l.leo {
		return nil, kerr.OffsetOutOfRange
	}
	res := &ReadResult{}
	if offset >= l.leo || offset >= maxOffset {
		return res, nil
	}
	remaining := int64(maxBytes)
	if remaining < 0 {
		remaining = 0
	}
	first := true
	done := false
	for i := l.segmentFor(offset); i < len(l.segs) && !done; i++ {
		s := l.segs[i]
		if i > 0 && s.base > offset {
			offset = s.base
		}
		ref, pos, err := s.locate(offset)
		if err != nil {
			res.Release()
			return nil, l.readFailed(err)
		}
		start, end := int64(-1), int64(-1)
		err = scanFrom(ref.f, pos, s.size, func(e scanEntry) bool {
			if e.last < offset {
				return false
			}
			if e.last >= maxOffset {
				done = true
				return true
			}
			if e.size > remaining {
				if !(first && minOneBatch) {
					done = true
					return true
				}
				remaining = e.size // the whole first batch, then stop
			}
			if start < 0 {
				start = e.pos
			}
			end = e.pos + e.size
			remaining -= e.size
			first = false
			return remaining <= 0
		})
		if err != nil {
			ref.release()
			res.Release()
			return nil, l.readFailed(err)
		}
		if start >= 0 {
			res.Regions = append(res.Regions, Region{File: ref.f, Offset: start, Length: end - start})
			res.refs = append(res.refs, ref)
			res.Size += end - start
		} else {
			ref.release()
		}
		if remaining <= 0 {
			done = true
		}
	}
	return res, nil
}

// readFailed turns a read error into KAFKA_STORAGE_ERROR; an I/O error
// (a missing segment file among them) also fails the dir, while bad bytes
// found by a check fail only this read, as Kafka fails a corrupt read
// without taking the dir offline.
func (l *Log) readFailed(err error) error {
	if isIOError(err) {
		return l.fail("read", err)
	}
	l.logger.Error("read failed", zap.String("dir", l.dir), zap.Error(err))
	return kerr.KafkaStorageError
}

// Truncate drops every offset >= endOffset (followers after a leader
// change). A batch that reaches endOffset or beyond is dropped whole, so the
// new log end may be below endOffset. Truncating below the log start empties
// the log and restarts it at endOffset. Every leader epoch that starts at or
// after the new log end goes too — also when endOffset is at or past the log
// end and no batch goes (as Kafka's UnifiedLog.truncateTo): an epoch that
// starts at the log end holds no batch (this replica led in it and wrote
// nothing), the leader the follower truncates for may never have had it,
// and a follower that kept it would send it as its last fetched epoch and
// be told it diverged on every fetch.
func (l *Log) Truncate(endOffset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.checkHealthy(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errClosed
	}
	if err := l.truncateLocked(endOffset); err != nil {
		return l.fail("truncate", err)
	}
	return nil
}

func (l *Log) truncateLocked(endOffset int64) error {
	if endOffset >= l.leo {
		if l.epochs.truncateFromEnd(l.leo) {
			// No fsync: an epoch without batches that a crash brings
			// back is dropped again by the next truncation, which
			// a follower always runs before it fetches.
			return l.epochs.persistLazily()
		}
		return nil
	}
	if endOffset < l.logStart {
		return l.truncateFullyLocked(max(endOffset, 0))
	}
	i := l.segmentFor(endOffset)
	for _, s := range l.segs[i+1:] {
		paths, err := s.markDeleted()
		l.deleter(paths, msDuration(l.cfg.FileDeleteDelayMs))
		if err != nil {
			return err
		}
	}
	l.segs = l.segs[:i+1]
	s := l.segs[i]
	ref, pos, err := s.locate(endOffset)
	if err != nil {
		return err
	}
	cut, newEnd := int64(-1), int64(-1)
	err = scanFrom(ref.f, pos, s.size, func(e scanEntry) bool {
		if e.last >= endOffset {
			cut, newEnd = e.pos, e.base
			return true
		}
		return false
	})
	ref.release()
	if err != nil {
		return err
	}
	if cut < 0 {
		cut, newEnd = s.size, s.next
	}
	if newEnd < l.logStart {
		// The batch holding the log start is dropped: restart there.
		return l.truncateFullyLocked(newEnd)
	}
	if err := s.makeActive(); err != nil {
		return err
	}
	if err := s.truncateTo(cut, newEnd); err != nil {
		return err
	}
	l.leo = newEnd
	return l.afterTruncateLocked()
}

// truncateFullyLocked deletes every segment and restarts the log at start.
func (l *Log) truncateFullyLocked(start int64) error {
	for _, s := range l.segs {
		paths, err := s.markDeleted()
		l.deleter(paths, msDuration(l.cfg.FileDeleteDelayMs))
		if err != nil {
			return err
		}
	}
	ns := l.newSegment(start)
	ns.active, ns.rollTs, ns.fresh = true, l.clock(), true
	l.segs = []*segment{ns}
	l.segmentsMade++
	l.logStart, l.leo = start, start
	return l.afterTruncateLocked()
}

func (l *Log) afterTruncateLocked() error {
	l.truncations++
	l.cleanerTruncated(l.leo) // hook for log compaction: re-appended offsets are dirty
	l.hw = min(max(l.hw, l.logStart), l.leo)
	l.recoveryPoint = min(l.recoveryPoint, l.leo)
	l.removeSnapshotsAbove(l.leo)
	if err := l.rebuildProducers(l.leo); err != nil {
		return err
	}
	l.producers.expire(l.clock().UnixMilli(), l.producerExpirationMs)
	if l.epochs.truncateFromEnd(l.leo) {
		if err := l.epochs.persist(); err != nil {
			return err
		}
	}
	return l.writeCheckpoint()
}

// AdvanceLogStart moves the log start up to offset (DeleteRecords) and
// deletes the segments wholly below it. offset > LogEndOffset is
// kerr.OffsetOutOfRange (the caller checks against the high watermark). It
// returns the new log start.
func (l *Log) AdvanceLogStart(offset int64) (int64, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.checkHealthy(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errClosed
	}
	if offset > l.leo {
		return l.logStart, kerr.OffsetOutOfRange
	}
	if offset <= l.logStart {
		return l.logStart, nil
	}
	l.logStart = offset
	_, err := l.deleteSegmentsLocked(func(s, next *segment) bool { return next.base <= offset })
	if err == nil {
		err = l.afterLogStartLocked()
	}
	if err == nil {
		err = l.writeCheckpoint()
	}
	if err != nil {
		return l.logStart, l.fail("advance log start", err)
	}
	return l.logStart, nil
}

// deleteSegmentsLocked deletes leading inactive segments while pred holds.
// A segment whose files cannot be renamed stops it with the error (the
// segment is dropped from the log all the same: part of it may be gone).
func (l *Log) deleteSegmentsLocked(pred func(s, next *segment) bool) (int, error) {
	n := 0
	for len(l.segs) > 1 && pred(l.segs[0], l.segs[1]) {
		s := l.segs[0]
		paths, err := s.markDeleted()
		l.deleter(paths, msDuration(l.cfg.FileDeleteDelayMs))
		l.segs = l.segs[1:]
		l.logStart = max(l.logStart, l.segs[0].base)
		n++
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (l *Log) afterLogStartLocked() error {
	l.hw = min(max(l.hw, l.logStart), l.leo)
	l.recoveryPoint = max(l.recoveryPoint, min(l.logStart, l.leo))
	l.producers.evictBelow(l.logStart)
	if l.epochs.truncateFromStart(l.logStart) {
		return l.epochs.persist()
	}
	return nil
}

// enforceRetention deletes whole inactive segments past retention.ms (by
// their largest timestamp, or mtime when none has a timestamp) or beyond
// retention.bytes, oldest first; the active segment is never deleted.
func (l *Log) enforceRetention(now time.Time) int {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.checkHealthy() != nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || !l.cfg.deletes() {
		return 0
	}
	cfg := l.cfg
	n := 0
	var err error
	if cfg.RetentionMs >= 0 {
		n, err = l.deleteSegmentsLocked(func(s, _ *segment) bool {
			ts := s.maxTs
			if ts < 0 {
				ts = s.lastModified().UnixMilli()
			}
			return now.UnixMilli()-ts > cfg.RetentionMs
		})
	}
	if cfg.RetentionBytes >= 0 && err == nil {
		var total int64
		for _, s := range l.segs {
			total += s.size
		}
		var k int
		k, err = l.deleteSegmentsLocked(func(s, _ *segment) bool {
			if total-s.size >= cfg.RetentionBytes {
				total -= s.size
				return true
			}
			return false
		})
		n += k
	}
	if n > 0 {
		if e := l.afterLogStartLocked(); err == nil {
			err = e
		}
		if e := l.writeCheckpoint(); err == nil {
			err = e
		}
	}
	if err != nil {
		_ = l.fail("retention", err)
	}
	return n
}

// AbortedTransactions lists, from the .txnindex files, the aborted
// transactions that overlap [fromOffset, upperOffset).
func (l *Log) AbortedTransactions(fromOffset, upperOffset int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []AbortedTxn
	for i := l.segmentFor(fromOffset); i < len(l.segs); i++ {
		s := l.segs[i]
		if s.base >= upperOffset && i > l.segmentFor(fromOffset) {
			break
		}
		for _, t := range s.txns {
			if t.lastOffset >= fromOffset && t.firstOffset < upperOffset {
				out = append(out, AbortedTxn{ProducerID: t.producerID, FirstOffset: t.firstOffset})
			}
		}
	}
	return out
}

// OffsetForTimestamp finds the first record (at or above the log start)
// whose timestamp is >= ts: the time index narrows the search, then batch
// headers, then the records of the one batch (decompressed if needed).
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.segs {
		if s.maxTs < ts || s.size == 0 {
			continue
		}
		if off, t, found := l.findInSegment(s, ts); found {
			return off, t, true
		}
	}
	return -1, -1, false
}

func (l *Log) findInSegment(s *segment, ts int64) (int64, int64, bool) {
	s.mu.Lock()
	if err := s.openLocked(); err != nil {
		s.mu.Unlock()
		return 0, 0, false
	}
	start := l.logStart
	if rel, ok := s.tidx.lookupTime(ts); ok {
		start = max(start, s.base+int64(rel))
	}
	pos := int64(0)
	if start > s.base {
		rel := min(start-s.base, math.MaxUint32)
		pos = int64(s.idx.lookupOffset(uint32(rel)))
	}
	ref := s.file
	ref.acquire()
	s.mu.Unlock()
	defer ref.release()
	var hb [batchHeaderSize]byte
	var found bool
	var rOff, rTs int64
	_ = scanFrom(ref.f, pos, s.size, func(e scanEntry) bool {
		if e.last < start {
			return false
		}
		if preadFull(ref.f, hb[:], e.pos) != nil {
			return true
		}
		h, _ := ParseBatchHeader(hb[:])
		if h.MaxTimestamp < ts || h.IsControl() {
			return false
		}
		if h.LogAppendTime() {
			rOff, rTs, found = max(h.BaseOffset, l.logStart), h.MaxTimestamp, true
			return true
		}
		batch := make([]byte, e.size)
		if preadFull(ref.f, batch, e.pos) != nil {
			return true
		}
		_ = forEachRecord(batch, &h, l.codecs, func(r *Record) bool {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if t := h.BaseTimestamp + r.TimestampDelta; t >= ts && off >= l.logStart {
				rOff, rTs, found = off, t, true
				return false
			}
			return true
		})
		return found
	})
	return rOff, rTs, found
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record that has it (-1, -1 for an empty log).
func (l *Log) MaxTimestamp() (timestamp, offset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var best *segment
	for _, s := range l.segs {
		if s.size > 0 && s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		return -1, -1
	}
	ts := best.maxTs
	ref, pos, err := best.locate(best.maxTsOffset)
	if err != nil {
		return ts, best.maxTsOffset
	}
	defer ref.release()
	off := best.maxTsOffset
	var hb [batchHeaderSize]byte
	_ = scanFrom(ref.f, pos, best.size, func(e scanEntry) bool {
		if e.last < best.maxTsOffset {
			return false
		}
		if preadFull(ref.f, hb[:], e.pos) != nil {
			return true
		}
		h, _ := ParseBatchHeader(hb[:])
		if h.LogAppendTime() {
			off = h.BaseOffset
			return true
		}
		batch := make([]byte, e.size)
		if preadFull(ref.f, batch, e.pos) != nil {
			return true
		}
		_ = forEachRecord(batch, &h, l.codecs, func(r *Record) bool {
			if h.BaseTimestamp+r.TimestampDelta == ts {
				off = h.BaseOffset + int64(r.OffsetDelta)
				return false
			}
			return true
		})
		return true
	})
	return ts, off
}

// AssignEpoch records that leader epoch starts at startOffset in the
// leader-epoch cache (persisted to leader-epoch-checkpoint).
func (l *Log) AssignEpoch(epoch int32, startOffset int64) error {
	if err := l.checkHealthy(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// In memory only: the file gets it with the first batch of the epoch
	// (or the next checkpoint); becoming leader of thousands of
	// partitions at startup then writes no file per partition.
	if l.epochs.assign(epoch, startOffset) {
		l.epochs.dirty = true
	}
	return nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest known epoch <=
// epoch and the offset where the next epoch starts (the log end for the
// latest epoch); -1, -1 if unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.leo)
}

// LatestEpoch is the latest leader epoch in the cache, or -1.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if e, ok := l.epochs.latest(); ok {
		return e.epoch
	}
	return -1
}

// close flushes and writes every checkpoint for a clean shutdown.
func (l *Log) close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.health.failed() != nil || l.unmaterialised() {
		// A failed dir is left as the failure found it: the next open
		// recovers from the recovery point (dirfailure.go). A lazily
		// created log nothing was written to has nothing on disk and
		// nothing to write: the next start creates it lazily again
		// (lazy.go).
		l.closeHandles()
		return nil
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	// Nothing here fsyncs: every file is written (the .log already is;
	// the active indexes are written and trimmed, the snapshot and the
	// epochs atomically renamed), and the Manager's Close makes them all
	// durable with one syncfs — an fsync per partition would make a
	// broker with 100k partitions take minutes to stop. The partition
	// checkpoint, which moves the recovery point to the log end, is
	// written only after that syncfs (closeCheckpoint).
	for _, s := range l.segs {
		s.mu.Lock()
		active := s.active
		s.mu.Unlock()
		if active {
			keep(s.finish(false))
		}
	}
	keep(l.writeSnapshotAtEnd(false))
	if e, ok := l.epochs.pendingTail(l.leo); ok {
		// Left to the Manager's one pending-epochs file (pendingepochs.go).
		l.pendingEpoch = &e
	} else {
		keep(l.epochs.persistLazily())
	}
	l.closeHandles()
	if first == nil {
		// What closeCheckpoint will write: an idle log's checkpoint
		// already says it, and the Manager skips the log.
		act := l.segs[len(l.segs)-1]
		act.mu.Lock()
		want := partitionCheckpoint{recoveryPoint: l.leo, logStart: l.logStart, highWatermark: l.hw,
			endSegment: act.base, endPosition: act.size}
		act.mu.Unlock()
		l.checkpointAfterSync = !l.checkpointUnchanged(want)
	}
	return first
}

// closeCheckpoint is the last step of a clean close, once the Manager's
// syncfs has made every byte of the closed log durable: the recovery
// point moves to the log end and the last segment is recorded as synced
// whole (a crash after the next start then re-reads nothing of it), in a
// checkpoint written without an fsync — the Manager syncs again before
// the clean-shutdown marker. Written before that syncfs, a checkpoint
// could reach the disk ahead of the bytes below its recovery point (a
// power loss: the rename is journaled, the appended data is not ordered
// with it) and a crash-open would trust bytes that are not there.
func (l *Log) closeCheckpoint() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checkpointAfterSync = false
	l.recoveryPoint = l.leo
	act := l.segs[len(l.segs)-1]
	act.mu.Lock()
	act.unsynced = false // by the caller's syncfs
	act.mu.Unlock()
	return l.writeCheckpointFile(false)
}

func (l *Log) closeHandles() {
	for _, s := range l.segs {
		s.closeHandles()
	}
}

// removeAll closes the log (no flush) for deletion.
func (l *Log) closeForDelete() {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.closeHandles()
}
