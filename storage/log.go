package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Log is one partition's log: a directory of segments plus its checkpoints.
// It is safe for concurrent use: mutations (Append, Truncate,
// AdvanceLogStart, retention, Flush) are serialized by appendMu; reads run
// concurrently with each other and wait only for the in-memory part of a
// mutation (mu), never for an fsync.
//
// Invariants: segments are sorted by base offset and do not overlap; only
// the last segment is active (written); logStart >= first segment base;
// logStart <= hw <= leo; recoveryPoint <= leo and every byte below it is
// fsynced.
type Log struct {
	topic     string
	partition int32
	dir       string
	cache     *handleCache
	clock     func() time.Time
	logger    *zap.Logger
	deleter   func(paths []string, delay time.Duration)
	noSync    bool           // tests and fuzzing only: skip every fsync
	codecs    *decompressors // the Manager's, shared by its logs (nil: one-off)
	fs        FileOps        // every change to the dir's files goes through it (fileops.go)
	health    *dirHealth     // the log dir's failure state, shared with its Manager (dirfailure.go)
	// observeFlush, if set, is told each flush's duration (metrics).
	observeFlush func(time.Duration)
	// markUnflushed (nil: no Manager) registers the log for the periodic
	// flush.ms check; see noteUnflushed.
	markUnflushed func(*Log)

	appendMu sync.Mutex
	flushMu  sync.Mutex // serializes Flush

	mu            sync.RWMutex
	cfg           Config
	segs          []*segment
	logStart      int64
	leo           int64
	hw            int64
	recoveryPoint int64
	unflushed     int64
	lastFlush     time.Time
	producers     *producerState
	epochs        *epochCache
	closed        bool
	truncations   int64 // bumped by every truncation (see Flush)
	// segmentsMade counts segments made after the log opened (rolls,
	// truncations that restart the log), under mu; segmentsDirSynced is
	// the count the directory was last fsynced after. Below it, every
	// segment's directory entry is durable (syncSegmentEntries).
	segmentsMade      int64
	segmentsDirSynced atomic.Int64

	// What the partition's small files hold on disk, fsynced, so that
	// rewriting the same content is skipped (closing 100k idle
	// partitions must cost no I/O): the checkpoint last read or
	// written, and the producer snapshot at snapshotAt (-1: none known)
	// with its encoding.
	checkpointOnDisk *partitionCheckpoint
	// checkpointImplicit: checkpointOnDisk is what a lazily created
	// log's absent directory stands for (lazy.go), not a file; once the
	// directory exists the checkpoint is written as any change is.
	checkpointImplicit bool
	snapshotAt         int64
	snapshotOnDisk     []byte
	// snapshotFiles: the dir may hold producer snapshots (one was found
	// at open or written since).
	snapshotFiles bool

	// producerExpirationMs is producer.id.expiration.ms (under mu):
	// producers idle this long are dropped by ExpireProducers and when
	// the state is rebuilt (open, truncation).
	producerExpirationMs int64

	// cleaner is the compaction state (cleaner.go): the per-log pass lock
	// and the next delete horizon. Hook for log compaction.
	cleaner cleanerState

	// checkpointAfterSync is set by close when the log's partition
	// checkpoint is to change: the Manager writes it after its syncfs
	// (closeCheckpoint).
	checkpointAfterSync bool
	// pendingEpoch is set by close when the only epoch change not in
	// leader-epoch-checkpoint is a last entry at the log end: the Manager
	// writes it to the dir's pending-epochs file (pendingepochs.go).
	pendingEpoch *epochEntry
}

var errClosed = errors.New("storage: log closed")

type logOptions struct {
	dir       string
	topic     string
	partition int32
	cfg       Config
	cache     *handleCache
	clock     func() time.Time
	logger    *zap.Logger
	clean     bool
	// syncedByCaller: the Manager opening its dir syncs the whole file
	// system once (syncfs) after every log has opened, so recovery
	// writes without an fsync per file.
	syncedByCaller bool
	// listed: the directory exists (the Manager found it in its dir).
	listed  bool
	deleter func([]string, time.Duration)
	noSync  bool
	codecs  *decompressors
	fs      FileOps    // nil: the OS
	health  *dirHealth // nil: a state of the log's own
	observe func(time.Duration)
	// markUnflushed: called under the log's mu when it starts holding
	// unflushed records under a finite flush.ms (Manager.checkFlush).
	markUnflushed func(*Log)
	// producerExpirationMs is producer.id.expiration.ms (0: Kafka's
	// default, one day).
	producerExpirationMs int64
	// lazy: the log is new and its directory absent: it is created
	// in memory only and materialised by its first write (lazy.go).
	lazy bool
}

// openLog loads (and if needed recovers) the log in o.dir, creating it if
// absent.
func openLog(o logOptions) (*Log, error) {
	if !o.listed && !o.lazy {
		if err := os.MkdirAll(o.dir, 0o755); err != nil {
			return nil, err
		}
	}
	l := &Log{
		snapshotAt: -1,
		topic:      o.topic, partition: o.partition, dir: o.dir,
		cache: o.cache, clock: o.clock, logger: o.logger, deleter: o.deleter, noSync: o.noSync, codecs: o.codecs,
		fs: fileOpsOrOS(o.fs), health: o.health, observeFlush: o.observe, markUnflushed: o.markUnflushed,
		cfg: o.cfg.normalized(), producers: newProducerState(),
		producerExpirationMs: o.producerExpirationMs,
	}
	if l.producerExpirationMs <= 0 {
		l.producerExpirationMs = DefaultProducerIDExpiration.Milliseconds()
	}
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.logger == nil {
		l.logger = zap.NewNop()
	}
	if l.health == nil {
		l.health = newDirHealth(o.dir, l.logger)
	}
	if l.deleter == nil {
		l.deleter = func(ps []string, _ time.Duration) {
			for _, p := range ps {
				_ = l.fs.Remove(p)
			}
		}
	}
	l.lastFlush = l.clock()
	load := func() error { return l.load(o.clean, o.syncedByCaller) }
	if o.lazy {
		load = l.initLazy // lazy.go
	}
	if err := load(); err != nil {
		l.closeHandles()
		return nil, fmt.Errorf("storage: open %s: %w", o.dir, err)
	}
	return l, nil
}

func (l *Log) newSegment(base int64) *segment {
	s := newSegmentStruct(l.fs, l.dir, base, l.cache, l.cfg.SegmentIndexBytes)
	s.noSync = l.noSync
	return s
}

// load implements recovery. After a clean shutdown every segment's indexes
// are trusted after a sanity check (a failed check rebuilds that segment's
// indexes). After a crash every segment from the one holding the recovery
// point on is re-read and cut at the first invalid batch; later segments are
// dropped. Producer state comes from the latest snapshot plus a replay.
func (l *Log) load(clean, syncedByCaller bool) error {
	// The directory is listed once (a broker opening 100k logs lists
	// 100k directories), again only after the compaction hook below
	// changed it.
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	// Hook for log compaction: finish or roll back a segment swap that a
	// crash interrupted (cleaner_swap.go) before the segments are listed.
	if slices.ContainsFunc(ents, func(e os.DirEntry) bool {
		return strings.HasSuffix(e.Name(), ".cleaned") || strings.HasSuffix(e.Name(), ".swap")
	}) {
		if err := completeSwaps(l.fs, l.dir, l.noSync); err != nil {
			return err
		}
		if ents, err = os.ReadDir(l.dir); err != nil {
			return err
		}
	}
	// has reports whether the listing holds a file (os.ReadDir sorts by
	// name): files known absent are neither opened nor stat'ed, which
	// for 100k idle logs is most of the system calls of a start.
	has := func(name string) bool {
		_, ok := slices.BinarySearchFunc(ents, name, func(e os.DirEntry, n string) int { return strings.Compare(e.Name(), n) })
		return ok
	}
	snaps := snapshotsIn(ents)
	var bases []int64
	logs := map[string]bool{}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, ".deleted"), strings.HasSuffix(n, ".tmp"), strings.HasSuffix(n, ".truncating"):
			_ = l.fs.Remove(filepath.Join(l.dir, n))
		case strings.HasSuffix(n, ".log"):
			if b, ok := parseSegmentBase(n); ok {
				bases = append(bases, b)
				logs[n[:20]] = true
			}
		case strings.HasSuffix(n, ".snapshot"):
			l.snapshotFiles = true
		}
	}
	// Index files without a .log are orphans (a crash between deleting files).
	for _, e := range ents {
		n := e.Name()
		for _, ext := range []string{".index", ".timeindex", ".txnindex"} {
			if strings.HasSuffix(n, ext) && len(n) == 20+len(ext) && !logs[n[:20]] {
				_ = l.fs.Remove(filepath.Join(l.dir, n))
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	var cp partitionCheckpoint
	haveCP := false
	if has(partitionCheckpointFile) {
		cp, haveCP = readPartitionCheckpoint(l.dir)
	}
	if haveCP {
		onDisk := cp
		l.checkpointOnDisk = &onDisk
	}
	if !haveCP {
		cp = partitionCheckpoint{recoveryPoint: 0, logStart: -1, highWatermark: 0, endSegment: noEnd, endPosition: noEnd}
		if len(bases) > 0 {
			clean = false // no checkpoint: nothing is known to be synced
		}
	}
	if len(bases) == 0 {
		base := max(cp.logStart, 0)
		s := l.newSegment(base)
		s.active, s.rollTs, s.fresh = true, l.clock(), true
		s.mu.Lock()
		err := s.openLocked()
		s.mu.Unlock()
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
		l.logStart, l.leo = base, base
		l.epochs, err = loadEpochCache(l.dir, has(epochCheckpointFile))
		l.epochs.noSync, l.epochs.fs = l.noSync, l.fs
		if err != nil {
			// Nothing to rebuild from: the log is empty (the next
			// epoch assigned rewrites the file).
			l.logger.Warn("damaged leader-epoch-checkpoint on an empty log; starting empty", zap.String("dir", l.dir), zap.Error(err))
		}
		l.epochs.truncateFromEnd(l.leo)
		l.recoveryPoint, l.hw = base, base
		return l.writeCheckpointFile(false)
	}
	for _, b := range bases {
		l.segs = append(l.segs, l.newSegment(b))
	}
	last := len(l.segs) - 1
	// Phase 1: trusted segments. After a crash, a log whose checkpoint
	// recorded its end as fsynced (checkpoint.go) and whose last segment
	// still ends there has nothing past its recovery point: it is loaded
	// as after a clean shutdown except for the last segment's indexes
	// (segment.loadFlushed), and nothing is re-read. Only a log with data
	// past its recovery point (or another last segment) is recovered.
	flushedEnd := !clean && cp.endSegment == bases[last] && cp.recoveryPoint >= bases[last]
	firstRecover := len(l.segs)
	for i, s := range l.segs {
		if !clean && (i == last || l.segs[i+1].base > cp.recoveryPoint) {
			if i == last && flushedEnd {
				prev := int64(0)
				if i > 0 {
					prev = l.segs[i-1].next
				}
				err := s.loadFlushed(cp.endPosition, l.cfg.IndexIntervalBytes, prev, has)
				if err == nil && s.next != cp.recoveryPoint {
					err = fmt.Errorf("%w: ends at offset %d, recovery point %d", errNotFlushed, s.next, cp.recoveryPoint)
				}
				if err == nil {
					break
				}
				if !errors.Is(err, errNotFlushed) {
					return err
				}
				l.logger.Info("log changed after its checkpoint; recovering its last segment", zap.String("dir", l.dir), zap.Error(err))
			}
			firstRecover = i
			break
		}
		// The last segment of a log that a clean shutdown (or the
		// checkpoint, above) left empty: nothing to stat, open or scan.
		emptyEnd := i == last && cp.endSegment == s.base && cp.endPosition == 0 && cp.recoveryPoint == s.base
		if err := s.loadClean(i == last, emptyEnd, has); err != nil {
			if !errors.Is(err, errIndexCorrupt) {
				return err
			}
			l.logger.Warn("rebuilding index", zap.String("dir", l.dir), zap.Int64("base", s.base), zap.Error(err))
			txns, _ := loadTxnIndex(s.path(".txnindex"))
			prev := int64(0)
			if i > 0 {
				prev = l.segs[i-1].next
			}
			truncated, err := s.recover(i == last, l.cfg.IndexIntervalBytes, prev, func(*recoveredBatch) error { return nil })
			if err != nil {
				return err
			}
			s.txns = txns
			if truncated {
				// Corrupt data in a trusted segment: everything after goes.
				l.dropSegmentsAfter(i)
				last = i
				if err := s.makeActive(); err != nil {
					return err
				}
				break
			}
		}
	}
	// Phase 2: producer state up to the first recovered segment.
	upTo := l.segs[last].next
	if firstRecover < len(l.segs) {
		upTo = l.segs[firstRecover].base
	}
	if err := l.rebuildProducersFrom(snaps, upTo); err != nil {
		return err
	}
	// Phase 3: recovery of the unflushed tail. The leader epochs of the
	// batches re-read are assigned again below: the checkpoint may have
	// missed a lazily written one (epoch.go).
	var recoveredEpochs []epochEntry
	for i := firstRecover; i < len(l.segs); i++ {
		s := l.segs[i]
		prev := int64(0)
		if i > 0 {
			prev = l.segs[i-1].next
		}
		var aborted []abortedTxn
		truncated, err := s.recover(i == len(l.segs)-1, l.cfg.IndexIntervalBytes, prev, func(rb *recoveredBatch) error {
			if e := rb.h.PartitionLeaderEpoch; e >= 0 && (len(recoveredEpochs) == 0 || recoveredEpochs[len(recoveredEpochs)-1].epoch != e) {
				recoveredEpochs = append(recoveredEpochs, epochEntry{epoch: e, startOffset: rb.h.BaseOffset})
			}
			pa := l.producers.begin()
			marker, coord := int16(-1), int32(-1)
			if rb.h.IsControl() {
				var err error
				if marker, err = controlType(rb.bytes, &rb.h); err != nil {
					return nil // unreadable marker: nothing to track
				}
				coord = markerCoordinatorEpoch(rb.bytes, &rb.h)
			}
			if err := pa.add(&rb.h, marker, coord, false); err != nil {
				return nil
			}
			aborted = append(aborted, pa.commit()...)
			return nil
		})
		if err != nil {
			return err
		}
		s.txns = aborted
		if err := s.writeTxns(aborted); err != nil {
			return err
		}
		if !syncedByCaller {
			if err := s.syncData(); err != nil {
				return err
			}
		}
		if truncated {
			l.logger.Warn("truncated torn or corrupt log tail", zap.String("dir", l.dir), zap.Int64("base", s.base), zap.Int64("size", s.size))
			l.dropSegmentsAfter(i)
			if err := s.makeActive(); err != nil {
				return err
			}
			break
		}
	}
	// Remove an empty non-first trailing state mismatch: the last segment is active.
	act := l.segs[len(l.segs)-1]
	if err := act.makeActive(); err != nil {
		return err
	}
	if act.rollTs.IsZero() {
		act.rollTs = l.clock()
	}
	l.leo = act.next
	if act.size == 0 {
		l.leo = max(act.base, l.leo)
	}
	l.logStart = max(cp.logStart, l.segs[0].base)
	if l.logStart > l.leo {
		l.logStart = l.leo
	}
	// Producers that expired while the log was closed (or before the
	// snapshot was taken) stay gone, whatever the snapshot and the replay
	// brought back.
	l.producers.expire(l.clock().UnixMilli(), l.producerExpirationMs)
	l.hw = min(max(cp.highWatermark, l.logStart), l.leo)
	l.recoveryPoint = l.leo
	l.removeSnapshotsAboveIn(snaps, l.leo)
	l.epochs, err = loadEpochCache(l.dir, has(epochCheckpointFile))
	l.epochs.noSync, l.epochs.fs = l.noSync, l.fs
	rebuilt := false
	if err != nil {
		// Kafka would lose the epoch history here and answer
		// OffsetForLeaderEpoch wrongly (followers truncating too much or
		// too little); the batches carry every epoch, so rebuild.
		l.logger.Warn("damaged leader-epoch-checkpoint; rebuilding it from the batches' leader epochs", zap.String("dir", l.dir), zap.Error(err))
		if err := l.rebuildEpochs(); err != nil {
			return err
		}
		rebuilt = true
	}
	// An epoch starting at the log end (a leader's, with no batch yet)
	// stays: it is what the log held at shutdown, and dropping it would
	// rewrite the file of every idle partition at every start.
	ch := l.epochs.truncateFromEnd(l.leo + 1)
	for _, e := range recoveredEpochs {
		// Only past the file's latest entry: the file is rewritten whole,
		// so what it lacks is a suffix.
		latest, ok := l.epochs.latest()
		if e.startOffset < l.leo && (!ok || e.epoch > latest.epoch && e.startOffset >= latest.startOffset) && l.epochs.assign(e.epoch, e.startOffset) {
			ch = true
		}
	}
	if l.epochs.truncateFromStart(l.logStart) || ch || rebuilt {
		// Lazily: the next open derives the same entries from the same
		// files; a checkpoint written below fsyncs them first.
		if err := l.epochs.persistLazily(); err != nil {
			return l.spaceAtOpen("leader-epoch-checkpoint", err)
		}
	}
	if !clean || firstRecover < len(l.segs) {
		if syncedByCaller {
			return l.spaceAtOpen("partition checkpoint", l.writeCheckpointFile(false))
		}
		return l.spaceAtOpen("partition checkpoint", l.writeCheckpoint())
	}
	return nil
}

// spaceAtOpen lets a log open on a full disk (issue 11): the checkpoints
// that opening rewrites only record what the next open would work out
// again (the recovery point moves up to data already synced, the epoch
// cache and the HW are clamped to the log), so a write refused for want of
// space is left for later with a warning. Any other error stands.
func (l *Log) spaceAtOpen(what string, err error) error {
	if isNoSpace(err) {
		l.logger.Warn("no space to rewrite at open; the previous file stays valid", zap.String("dir", l.dir), zap.String("file", what), zap.Error(err))
		return nil
	}
	return err
}

// rebuildEpochs refills the epoch cache from the partitionLeaderEpoch of
// every batch (one header read per batch), as the leader assigned them.
func (l *Log) rebuildEpochs() error {
	l.epochs.entries = nil
	for _, s := range l.segs {
		ref, pos, err := s.locate(s.base)
		if err != nil {
			return err
		}
		var eb [4]byte
		var rerr error
		err = scanFrom(ref.f, pos, s.size, func(e scanEntry) bool {
			if rerr = preadFull(ref.f, eb[:], e.pos+offLeaderEpoch); rerr != nil {
				return true
			}
			l.epochs.assign(int32(binary.BigEndian.Uint32(eb[:])), e.base)
			return false
		})
		ref.release()
		if err == nil {
			err = rerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func markerCoordinatorEpoch(batch []byte, h *BatchHeader) int32 {
	ce := int32(-1)
	_ = forEachRecord(batch, h, nil, func(r *Record) bool {
		if len(r.Value) >= 6 {
			ce = int32(binary.BigEndian.Uint32(r.Value[2:]))
		}
		return false
	})
	return ce
}

// dropSegmentsAfter deletes segments after index i (recovery found the data
// ends in segment i).
func (l *Log) dropSegmentsAfter(i int) {
	for _, s := range l.segs[i+1:] {
		paths, _ := s.markDeleted()
		for _, p := range paths {
			_ = l.fs.Remove(p)
		}
	}
	l.segs = l.segs[:i+1]
}

func (l *Log) removeSnapshotsAbove(off int64) {
	snaps, _ := listSnapshots(l.dir)
	l.removeSnapshotsAboveIn(snaps, off)
}

// removeSnapshotsAboveIn is removeSnapshotsAbove for a listing at hand.
func (l *Log) removeSnapshotsAboveIn(snaps []int64, off int64) {
	for _, s := range snaps {
		if s > off {
			_ = l.fs.Remove(snapshotPath(l.dir, s))
		}
	}
	if l.snapshotAt > off {
		l.snapshotAt, l.snapshotOnDisk = -1, nil
	}
}

// rebuildProducers loads the latest usable snapshot at or below upTo and
// replays the batches from it to upTo. Aborted transactions are already in
// the .txnindex files of the replayed range.
func (l *Log) rebuildProducers(upTo int64) error {
	if l.unmaterialised() {
		return l.rebuildProducersFrom(nil, upTo) // no directory (lazy.go)
	}
	snaps, err := listSnapshots(l.dir)
	if err != nil {
		return err
	}
	return l.rebuildProducersFrom(snaps, upTo)
}

// rebuildProducersFrom is rebuildProducers for a snapshot listing at hand.
func (l *Log) rebuildProducersFrom(snaps []int64, upTo int64) error {
	l.producers = newProducerState()
	from := l.segs[0].base
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i] > upTo {
			continue
		}
		b, err := os.ReadFile(snapshotPath(l.dir, snaps[i]))
		if err == nil {
			ps, derr := decodeSnapshot(b)
			if derr == nil {
				l.producers = ps
				from = max(snaps[i], from)
				l.snapshotAt, l.snapshotOnDisk = snaps[i], b
				break
			}
			err = derr
		}
		l.logger.Warn("dropping unreadable producer snapshot", zap.String("dir", l.dir), zap.Int64("offset", snaps[i]), zap.Error(err))
		_ = l.fs.Remove(snapshotPath(l.dir, snaps[i]))
	}
	return l.replay(from, upTo, func(h *BatchHeader, batch []byte) {
		pa := l.producers.begin()
		marker, coord := int16(-1), int32(-1)
		if h.IsControl() {
			var err error
			if marker, err = controlType(batch, h); err != nil {
				return
			}
			coord = markerCoordinatorEpoch(batch, h)
		}
		if pa.add(h, marker, coord, false) == nil {
			pa.commit()
		}
	})
}

// replay calls fn for every producer batch (producerId >= 0) with last
// offset in [from, upTo), reading only headers except for control batches.
func (l *Log) replay(from, upTo int64, fn func(h *BatchHeader, batch []byte)) error {
	if from >= upTo {
		return nil
	}
	for i, s := range l.segs {
		if s.base >= upTo {
			break
		}
		if i+1 < len(l.segs) && l.segs[i+1].base <= from {
			continue
		}
		ref, pos, err := s.locate(from)
		if err != nil {
			return err
		}
		f := ref.f
		var hb [batchHeaderSize]byte
		err = scanFrom(f, pos, s.size, func(e scanEntry) bool {
			if e.last < from {
				return false
			}
			if e.base >= upTo {
				return true
			}
			if preadFull(f, hb[:], e.pos) != nil {
				return true
			}
			h, _ := ParseBatchHeader(hb[:])
			if h.ProducerID < 0 {
				return false
			}
			var batch []byte
			if h.IsControl() {
				batch = make([]byte, e.size)
				if preadFull(f, batch, e.pos) != nil {
					return true
				}
			}
			fn(&h, batch)
			return false
		})
		ref.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// locate returns a reference to the segment's file and the position of a
// batch boundary at or before the batch holding offset (from the index).
func (s *segment) locate(offset int64) (*fileRef, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openLocked(); err != nil {
		return nil, 0, err
	}
	pos := int64(0)
	if offset > s.base {
		rel := offset - s.base
		if rel > math.MaxUint32 {
			rel = math.MaxUint32
		}
		pos = int64(s.idx.lookupOffset(uint32(rel)))
	}
	s.file.acquire()
	return s.file, pos, nil
}

func (l *Log) writeCheckpoint() error {
	// A recovery point past a lazily written leader epoch needs that
	// epoch durable: recovery re-reads only what follows the point.
	if l.epochs != nil && (l.epochs.unsynced || l.epochs.dirty) {
		if err := l.epochs.persist(); err != nil {
			return err
		}
	}
	return l.writeCheckpointFile(true)
}

// writeCheckpointFile writes the partition checkpoint unless the file
// already holds it; without sync it is renamed into place unsynced, for
// a caller that makes it durable otherwise (close: the Manager's syncfs)
// or need not (a new, empty log: an open without a checkpoint recovers
// the empty segment, which costs nothing).
func (l *Log) writeCheckpointFile(sync bool) error {
	cp := l.checkpointNow()
	if l.checkpointUnchanged(cp) {
		return nil
	}
	l.checkpointOnDisk, l.checkpointImplicit = nil, false
	if err := writePartitionCheckpointFS(l.fs, l.dir, cp, l.noSync || !sync); err != nil {
		return err
	}
	if !l.noSync {
		l.checkpointOnDisk = &cp
	}
	return nil
}

// checkpointUnchanged reports whether writing cp would change nothing:
// the file holds it, or the log is still only in memory and its implicit
// checkpoint is cp (lazy.go).
func (l *Log) checkpointUnchanged(cp partitionCheckpoint) bool {
	return l.checkpointOnDisk != nil && *l.checkpointOnDisk == cp && (!l.checkpointImplicit || l.unmaterialised())
}

// checkpointNow is the partition checkpoint of the log's current state.
func (l *Log) checkpointNow() partitionCheckpoint {
	cp := partitionCheckpoint{recoveryPoint: l.recoveryPoint, logStart: l.logStart, highWatermark: l.hw,
		endSegment: noEnd, endPosition: noEnd}
	// The log's end is recorded only when every byte of it is known to
	// be fsynced: the recovery point is the log end and the last segment
	// holds no write or cut since its last fsync (segment.unsynced). A
	// crash then finds exactly these bytes there, or a change made after
	// this checkpoint, which shows as another last segment or size.
	if act := l.segs[len(l.segs)-1]; l.recoveryPoint == l.leo {
		act.mu.Lock()
		if !act.unsynced {
			cp.endSegment, cp.endPosition = act.base, act.size
		}
		act.mu.Unlock()
	}
	return cp
}

// writeSnapshotAtEnd writes the producer state as of the log end offset,
// unless that very state is already on disk there, or the log is empty
// and has no producers (an open rebuilds that for free); without sync the
// caller makes it durable (close).
func (l *Log) writeSnapshotAtEnd(sync bool) error {
	if l.leo == l.segs[0].base && !l.snapshotFiles && len(l.producers.producers) == 0 {
		return nil // checked first: no encoding for each empty log at close
	}
	snap := l.producers.encodeSnapshot()
	if l.snapshotAt == l.leo && bytes.Equal(snap, l.snapshotOnDisk) {
		return nil
	}
	l.snapshotAt, l.snapshotOnDisk, l.snapshotFiles = -1, nil, true
	if err := writeFileAtomicFS(l.fs, snapshotPath(l.dir, l.leo), snap, l.noSync || !sync); err != nil {
		return err
	}
	if !l.noSync {
		l.snapshotAt, l.snapshotOnDisk = l.leo, snap
	}
	return nil
}

// Topic is the log's topic.
func (l *Log) Topic() string { return l.topic }

// Partition is the log's partition.
func (l *Log) Partition() int32 { return l.partition }

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset a consumer may read.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// LogEndOffset is the next offset to assign.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leo
}

// HighWatermark is the in-memory high watermark.
func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hw
}

// SetHighWatermark sets the high watermark, clamped to [logStart, LEO]. It
// is persisted in partition-checkpoint on Flush and Close.
func (l *Log) SetHighWatermark(off int64) {
	l.mu.Lock()
	l.hw = min(max(off, l.logStart), l.leo)
	l.mu.Unlock()
}

// LastStableOffset is min(HW, first offset of the oldest ongoing
// transaction).
func (l *Log) LastStableOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lsoLocked()
}

func (l *Log) lsoLocked() int64 {
	if f := l.producers.firstUnstable(); f >= 0 && f < l.hw {
		return f
	}
	return l.hw
}

// Config returns the log's configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig replaces the configuration; it applies to later appends, rolls
// and retention checks (index sizes to segments created from now on).
func (l *Log) SetConfig(c Config) {
	l.mu.Lock()
	l.cfg = c.normalized()
	l.noteUnflushed()
	l.mu.Unlock()
}

// noteUnflushed tells the Manager that the log holds unflushed records
// under a finite flush.ms, so that its periodic check visits it. The
// caller holds l.mu (write).
func (l *Log) noteUnflushed() {
	if l.markUnflushed != nil && l.unflushed > 0 && l.cfg.FlushMs != math.MaxInt64 {
		l.markUnflushed(l)
	}
}

// Size is the total size of the segment files' valid bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// segmentFor returns the index of the segment that would hold offset.
func (l *Log) segmentFor(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	return max(i, 0)
}
