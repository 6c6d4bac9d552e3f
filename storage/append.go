package storage

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// AppendOptions select the leader or the replication path.
type AppendOptions struct {
	// AssignOffsets is the leader path: offsets are assigned from the log
	// end (baseOffset patched), PartitionLeaderEpoch set to LeaderEpoch and,
	// under LogAppendTime, the timestamp type and max timestamp set to now;
	// client batches are fully validated and idempotence is enforced.
	// Without it (replication) batches keep their offsets; the first must
	// start at or after the log end (gaps are allowed: compacted leaders).
	AssignOffsets bool
	LeaderEpoch   int32
	// AllowControl admits control batches (transaction markers); only the
	// coordinator may write them. A client's control batch is rejected
	// with kerr.InvalidRecord.
	AllowControl bool
}

// AppendResult describes a successful append.
type AppendResult struct {
	BaseOffset, LastOffset int64
	LogAppendTime          int64 // ms, or -1 under CreateTime; a duplicate's is the first append's max timestamp
	LogStartOffset         int64
	Duplicate              bool // idempotent retry: offsets are those of the first append
}

type parsedBatch struct {
	h      BatchHeader
	pos    int64
	marker int16
	coord  int32
}

// Append validates batches (whole RecordBatch v2 batches back to back) and
// writes them with one write. On the leader path it patches headers in
// place (baseOffset, partitionLeaderEpoch, LogAppendTime), so batches must
// not be shared, and checks every record (record_checks.go). Errors are
// *kerr.Error values, or *RecordErrors (which unwrap to one) when records
// were at fault, and leave the log unchanged.
func (l *Log) Append(batches []byte, opts AppendOptions) (AppendResult, error) {
	cfg := l.Config()
	var chk *recordChecks
	if opts.AssignOffsets {
		chk = l.leaderRecordChecks(cfg, opts, l.clock().UnixMilli())
	}
	parsed, err := parseBatches(batches, opts, cfg, chk)
	if err != nil {
		return AppendResult{}, err
	}
	if int64(len(batches)) > cfg.SegmentBytes {
		return AppendResult{}, kerr.RecordListTooLarge
	}

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.checkHealthy(); err != nil {
		return AppendResult{}, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return AppendResult{}, kerr.NotLeaderForPartition
	}
	cfg = l.cfg
	now := l.clock()
	res := AppendResult{LogAppendTime: -1}
	if cfg.logAppendTime() {
		res.LogAppendTime = now.UnixMilli()
	}

	// Offsets.
	if opts.AssignOffsets {
		off := l.leo
		for i := range parsed {
			p := &parsed[i]
			b := batches[p.pos : p.pos+p.h.Size()]
			binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
			binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(opts.LeaderEpoch))
			p.h.BaseOffset, p.h.PartitionLeaderEpoch = off, opts.LeaderEpoch
			if cfg.logAppendTime() {
				attrs := binary.BigEndian.Uint16(b[offAttributes:]) | attrTimestampType
				binary.BigEndian.PutUint16(b[offAttributes:], attrs)
				binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(res.LogAppendTime))
				p.h.Attributes, p.h.MaxTimestamp = int16(attrs), res.LogAppendTime
				setCRC(b)
			}
			off = p.h.LastOffset() + 1
		}
	} else {
		next := l.leo
		for _, p := range parsed {
			if p.h.BaseOffset < next {
				l.mu.Unlock()
				return AppendResult{}, kerr.OffsetOutOfRange
			}
			next = p.h.LastOffset() + 1
		}
	}
	res.BaseOffset = parsed[0].h.BaseOffset
	res.LastOffset = parsed[len(parsed)-1].h.LastOffset()

	// Producer state.
	pa := l.producers.begin()
	for i := range parsed {
		p := &parsed[i]
		if opts.AssignOffsets && !p.h.IsControl() {
			if d, ok := l.producers.duplicate(&p.h); ok {
				// In durable mode a retry is acknowledged only once the
				// first append is on disk: that append may have failed
				// its fsync, or been written before the mode was set.
				synced := !cfg.Durable || d.lastOffset < l.recoveryPoint
				// As Kafka, the retry is answered with the first
				// append's offsets and its max timestamp as the
				// LogAppendTime, whatever the topic's timestamp type.
				r := AppendResult{BaseOffset: d.firstOffset, LastOffset: d.lastOffset, LogAppendTime: d.maxTs, LogStartOffset: l.logStart, Duplicate: true}
				l.mu.Unlock()
				if !synced {
					if err := l.flush(); err != nil {
						return AppendResult{}, l.fail("fsync before acknowledging a duplicate", err)
					}
				}
				return r, nil
			}
		}
		if err := pa.add(&p.h, p.marker, p.coord, opts.AssignOffsets); err != nil {
			l.mu.Unlock()
			return AppendResult{}, err
		}
	}

	// Roll.
	act := l.segs[len(l.segs)-1]
	var rolled *segment
	var snap []byte
	if l.shouldRoll(act, int64(len(batches)), res.LastOffset, now, cfg) {
		if act.size == 0 {
			// An empty active segment is replaced rather than kept.
			paths, err := act.markDeleted()
			l.deleter(paths, 0)
			if err != nil {
				l.mu.Unlock()
				return AppendResult{}, l.fail("roll", err)
			}
			l.segs = l.segs[:len(l.segs)-1]
		} else {
			rolled = act
			snap = l.producers.encodeSnapshot()
			l.snapshotFiles = true
		}
		ns := l.newSegment(res.BaseOffset)
		ns.active, ns.rollTs, ns.fresh = true, now, true
		l.segs = append(l.segs, ns)
		l.segmentsMade++
		act = ns
	}

	// Write. From here on an I/O error fails the log dir, and the batches
	// of this call are cut from the log end again (undoAppend): they are
	// never acknowledged, and never visible once the error is known.
	prevLeo, prevSize := l.leo, act.size
	infos := make([]batchInfo, len(parsed))
	for i, p := range parsed {
		infos[i] = batchInfo{pos: p.pos, size: p.h.Size(), base: p.h.BaseOffset, last: p.h.LastOffset(), maxTs: p.h.MaxTimestamp}
	}
	if err := act.write(batches, infos, cfg.IndexIntervalBytes); err != nil {
		l.mu.Unlock()
		return AppendResult{}, l.fail("append", err)
	}
	l.leo = res.LastOffset + 1
	aborted := pa.commit()
	if len(aborted) > 0 {
		act.txns = append(act.txns, aborted...)
		if err := act.appendTxns(aborted); err != nil {
			l.mu.Unlock()
			return AppendResult{}, l.undoAppend(act, prevSize, prevLeo, "txnindex append", err)
		}
	}
	epochChanged := false
	for _, p := range parsed {
		if l.epochs.assign(p.h.PartitionLeaderEpoch, p.h.BaseOffset) {
			epochChanged = true
		}
	}
	if epochChanged || l.epochs.dirty {
		// Without an fsync: recovery re-derives the epochs of the
		// unflushed tail from its batches, and writeCheckpoint makes
		// the file durable before the recovery point passes them.
		if err := l.epochs.persistLazily(); err != nil {
			l.mu.Unlock()
			return AppendResult{}, l.undoAppend(act, prevSize, prevLeo, "leader-epoch-checkpoint", err)
		}
	}
	wasFlushed := l.unflushed == 0
	for _, p := range parsed {
		l.unflushed += int64(p.h.LastOffsetDelta) + 1
	}
	if wasFlushed {
		l.noteUnflushed()
	}
	flush := l.unflushed >= cfg.FlushMessages
	res.LogStartOffset = l.logStart
	made := l.segmentsMade

	l.mu.Unlock()

	// Durability work happens outside mu so that readers are not blocked.
	if rolled != nil {
		if err := rolled.finish(true); err != nil {
			return AppendResult{}, l.undoAppend(act, prevSize, prevLeo, "roll", err)
		}
		if err := writeFileAtomicFS(l.fs, snapshotPath(l.dir, act.base), snap, l.noSync); err != nil {
			return AppendResult{}, l.undoAppend(act, prevSize, prevLeo, "producer snapshot", err)
		}
		// The snapshot's rename fsynced the directory, after the new
		// segment's file was made by the write above.
		l.segmentEntriesSynced(made)
		l.pruneSnapshots()
		l.mu.Lock()
		l.recoveryPoint = max(l.recoveryPoint, min(act.base, l.leo))
		err := l.writeCheckpoint()
		l.mu.Unlock()
		if err != nil {
			return AppendResult{}, l.undoAppend(act, prevSize, prevLeo, "partition checkpoint", err)
		}
	}
	if flush {
		if err := l.flush(); err != nil {
			return AppendResult{}, l.undoAppend(act, prevSize, prevLeo, "flush", err)
		}
	} else if cfg.Durable {
		if err := act.sync(); err != nil {
			return AppendResult{}, l.undoAppend(act, prevSize, prevLeo, "fsync", err)
		}
		if err := l.syncSegmentEntries(made); err != nil {
			return AppendResult{}, l.undoAppend(act, prevSize, prevLeo, "fsync", err)
		}
		// Segments before the active one were synced when they rolled,
		// so everything below the new log end is on disk. (appendMu is
		// held: no truncation can have happened meanwhile.)
		l.mu.Lock()
		l.recoveryPoint = max(l.recoveryPoint, min(res.LastOffset+1, l.leo))
		l.mu.Unlock()
	}

	return res, nil
}

// undoAppend handles an I/O error met after an Append wrote its batches
// (under appendMu, without mu): the dir is failed and the batches are cut
// from the log end — in memory (the LEO goes back, so no HW can pass them)
// and, as far as the disk still lets us, from the file, so that a restart
// keeps only what was acknowledged. It returns kerr.KafkaStorageError.
func (l *Log) undoAppend(act *segment, prevSize, prevLeo int64, what string, cause error) error {
	err := l.fail(what, cause)
	l.mu.Lock()
	l.leo = prevLeo
	l.hw = min(l.hw, prevLeo)
	l.recoveryPoint = min(l.recoveryPoint, prevLeo)
	l.mu.Unlock()
	act.cutTail(prevSize, prevLeo)
	return err
}

// parseBatches splits and validates the batches of one Append; chk are the
// per-record checks of the leader path (record_checks.go).
func parseBatches(b []byte, opts AppendOptions, cfg Config, chk *recordChecks) ([]parsedBatch, error) {
	if len(b) == 0 {
		return nil, kerr.CorruptMessage
	}
	var out []parsedBatch
	for pos := int64(0); pos < int64(len(b)); {
		rest := b[pos:]
		if len(rest) < logOverhead+5 {
			return nil, kerr.CorruptMessage
		}
		size := int64(int32(binary.BigEndian.Uint32(rest[offLength:]))) + logOverhead
		if m := int8(rest[offMagic]); m < 2 {
			return nil, kerr.UnsupportedForMessageFormat
		}
		if size < batchHeaderSize || size > int64(len(rest)) {
			return nil, kerr.CorruptMessage
		}
		if size > int64(cfg.MaxMessageBytes) {
			return nil, kerr.MessageTooLarge
		}
		var h BatchHeader
		var err error
		if opts.AssignOffsets {
			h, err = validateBatch(rest[:size], chk)
		} else {
			h, err = checkBatchFrame(rest[:size])
			if err == nil && h.LastOffset() < h.BaseOffset {
				err = kerr.CorruptMessage
			}
		}
		if err != nil {
			return nil, err
		}
		p := parsedBatch{h: h, pos: pos, marker: -1, coord: -1}
		if h.IsControl() {
			if opts.AssignOffsets && !opts.AllowControl {
				return nil, kerr.InvalidRecord
			}
			if h.ProducerID < 0 {
				return nil, kerr.InvalidRecord
			}
			if p.marker, err = controlType(rest[:size], &h); err != nil {
				return nil, kerr.InvalidRecord
			}
			p.coord = markerCoordinatorEpoch(rest[:size], &h)
		}
		out = append(out, p)
		pos += size
	}
	return out, nil
}

// shouldRoll decides whether the append of size bytes ending at lastOffset
// must go to a new segment: segment.bytes, segment.ms, a full index, or a
// relative offset that no longer fits 32 bits.
func (l *Log) shouldRoll(s *segment, size, lastOffset int64, now time.Time, cfg Config) bool {
	if s.size > 0 && s.size+size > cfg.SegmentBytes {
		return true
	}
	if s.size > 0 && now.Sub(s.rollTs).Milliseconds() >= cfg.SegmentMs {
		return true
	}
	if lastOffset-s.base > math.MaxInt32 {
		return true
	}
	if s.size+size > math.MaxInt32 {
		return true
	}
	return s.size > 0 && s.indexFull()
}

// pruneSnapshots keeps the three newest producer snapshots.
func (l *Log) pruneSnapshots() {
	snaps, _ := listSnapshots(l.dir)
	for i := 0; i+3 < len(snaps); i++ {
		l.deleter([]string{snapshotPath(l.dir, snaps[i])}, 0)
		l.mu.Lock()
		if l.snapshotAt == snaps[i] {
			l.snapshotAt, l.snapshotOnDisk = -1, nil
		}
		l.mu.Unlock()
	}
}

// Flush fsyncs everything appended so far and advances the recovery point,
// then writes the partition checkpoint (recovery point, log start, HW).
// Appends and reads go on while it syncs. An error fails the log dir and
// is kerr.KafkaStorageError.
func (l *Log) Flush() error {
	if err := l.checkHealthy(); err != nil {
		return err
	}
	if err := l.flush(); err != nil {
		if l.isClosed() {
			// Closed (deleted, set aside, shut down) while flushing:
			// its files were closed or renamed under the flush. That
			// fails this flush, not the log dir.
			return errClosed
		}
		return l.fail("flush", err)
	}
	return nil
}

// syncSegmentEntries makes the directory entries of the segments made up
// to made (l.segmentsMade read under mu) durable. A segment made by a
// roll or a truncation is a new entry in the log's directory: its bytes
// are durable only once the directory is fsynced too, so every path that
// moves the recovery point past fsynced bytes calls this first (flush, a
// durable append; a roll's producer snapshot fsyncs the directory
// anyway) — Kafka's LocalLog.flush fsyncs the directory the same way. The directory is fsynced only when a segment was made
// since the last time. (A log not yet materialised has no directory: the
// entry of its first file is owed by lazyDir instead.)
func (l *Log) syncSegmentEntries(made int64) error {
	if made <= l.segmentsDirSynced.Load() {
		return nil
	}
	if !l.unmaterialised() {
		if err := syncDirUnlessFS(l.fs, l.dir, l.noSync); err != nil {
			return err
		}
	}
	l.segmentEntriesSynced(made)
	return nil
}

// segmentEntriesSynced records that the directory was fsynced after the
// segments counted up to made were made.
func (l *Log) segmentEntriesSynced(made int64) {
	for {
		cur := l.segmentsDirSynced.Load()
		if cur >= made || l.segmentsDirSynced.CompareAndSwap(cur, made) {
			return
		}
	}
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

func (l *Log) flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.observeFlush != nil {
		start := time.Now()
		defer func() { l.observeFlush(time.Since(start)) }()
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil
	}
	leo, gen, made := l.leo, l.truncations, l.segmentsMade
	var todo []*segment
	for i, s := range l.segs {
		if i+1 < len(l.segs) && l.segs[i+1].base <= l.recoveryPoint {
			continue
		}
		todo = append(todo, s)
	}
	l.mu.RUnlock()
	for _, s := range todo {
		if err := s.sync(); err != nil {
			return err
		}
	}
	if err := l.syncSegmentEntries(made); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		// Closed while the segments synced: whoever closed it wrote its
		// checkpoint (or deleted it); writing one now could land in a
		// directory renamed for deletion.
		l.mu.Unlock()
		return nil
	}
	if gen == l.truncations {
		// (A truncation meanwhile may have replaced synced bytes.)
		l.recoveryPoint = max(l.recoveryPoint, min(leo, l.leo))
	}
	l.unflushed = 0
	l.lastFlush = l.clock()
	err := l.writeCheckpoint()
	l.mu.Unlock()
	return err
}
