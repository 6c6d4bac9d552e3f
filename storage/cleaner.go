package storage

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Log compaction (cleanup.policy=compact and compact,delete), after Kafka's
// LogCleaner, Cleaner, OffsetMap and LogCleanerManager.
//
// A log is split at two offsets:
//
//	[segs[0].base, firstDirty)   clean: already compacted by an earlier pass
//	[firstDirty, upper)          dirty and cleanable
//	[upper, LEO)                 uncleanable
//
// firstDirty is the cleaner checkpoint (file cleaner-offset-checkpoint in
// the partition directory: "0\n<offset>\n"), reset to the log start when
// missing or out of range, and lowered by truncation. upper is the base of
// the segment holding min(active segment base, last stable offset (which is
// <= the high watermark), base of the first segment whose max timestamp is
// within min.compaction.lag.ms of now): only whole segments entirely below
// the LSO are ever cleaned, never the active one, never above the HW.
//
// A pass (Log.Compact):
//  1. Builds an offsetMap (key hash → latest offset) over the dirty range,
//     skipping control batches and batches of aborted transactions. If the
//     map reaches its budget (log.cleaner.dedupe.buffer.size) the pass stops
//     mapping there: end = last mapped offset + 1, else end = upper.
//  2. Rewrites every segment with base < end — clean ones too, as Kafka does
//     — grouped into runs of adjacent segments whose total .log size fits
//     segment.bytes, index sizes fit segment.index.bytes and offsets fit
//     32-bit relative offsets (Kafka's groupSegmentsBySize). Per batch:
//     - a record is dropped if a later record of its key is in the map, if
//     it has no key, or if it is a tombstone (null value) whose batch's
//     delete horizon has passed; records above the map's last offset stay;
//     - batches of aborted transactions are dropped; a commit or abort
//     marker is dropped once no batch of its transaction was seen in this
//     pass and its delete horizon has passed (abort markers whose
//     transaction still has batches stay and keep their .txnindex entry);
//     - a batch that would become empty is kept without records if it
//     holds its producer's last sequence (Kafka's RETAIN_EMPTY), so an
//     idempotent producer never sees OUT_OF_ORDER_SEQUENCE after cleaning;
//     - a batch keeping all its records and needing no horizon is copied
//     byte for byte; otherwise it is rebuilt with the same baseOffset,
//     lastOffsetDelta (so producer state stays right), producer fields and
//     codec, the kept records with their offset deltas (gaps allowed),
//     recordCount = kept records, maxTimestamp of the kept records
//     (CreateTime), recompressed and re-CRCed.
//     - Delete horizon (KIP-534): the first pass that keeps a tombstone or a
//     marker with no data left sets attribute bit 6 and stores
//     now + delete.retention.ms in the batch's baseTimestamp (record
//     timestamp deltas are rebased so absolute timestamps do not change).
//     A later pass with now >= horizon drops those tombstones / markers.
//  3. Swaps each group's new segment in (cleaner_swap.go: crash safe) and
//     finally writes the checkpoint firstDirty = end.
//
// Invariants: offsets only disappear, never move (a compacted log has gaps,
// which Read, the indexes and recovery handle: the offset index maps a
// batch's last offset to its position, lookups take the largest entry <=
// target and scan). Segment bases never change (a group's new segment takes
// its first segment's base), so segments stay sorted and disjoint. The
// pass runs concurrently with appends and reads; it holds the log's locks
// only to swap, and throws its work away if the segments it read are no
// longer the log's (truncation, retention, DeleteRecords, close). Readers
// holding regions of replaced segments keep the old inodes open.
const (
	cleanerCheckpointFile = "cleaner-offset-checkpoint"

	// attrDeleteHorizon (attributes bit 6): baseTimestamp holds the delete
	// horizon set by the cleaner.
	attrDeleteHorizon = 0x40

	// DefaultDedupeBufferSize is log.cleaner.dedupe.buffer.size.
	DefaultDedupeBufferSize = 128 << 20
	// DefaultCleanerBackoff is log.cleaner.backoff.ms.
	DefaultCleanerBackoff = 15 * time.Second
)

// cleanerState is the per-log cleaner bookkeeping (a field of Log).
type cleanerState struct {
	mu sync.Mutex // one pass at a time per log
	// nextHorizon is the earliest delete horizon (ms) of a tombstone or
	// marker the last pass kept; the log is due for cleaning once it passes
	// even below min.cleanable.dirty.ratio. 0 when none.
	nextHorizon atomic.Int64
	// crashAt (tests) stops a swap right after the named step, leaving the
	// files as a crash there would.
	crashAt string
}

// CompactStats describes one cleaning pass.
type CompactStats struct {
	FirstDirty, End   int64 // dirty range cleaned: [FirstDirty, End); End is the new checkpoint
	Segments, Groups  int   // segments read, new segments written
	BytesRead         int64 // bytes of the segments rewritten
	BytesWritten      int64
	RecordsRead       int64
	RecordsRetained   int64
	MapFull           bool // the offset map filled before upper: the rest waits for the next pass
	SkippedUncleaned  bool // nothing cleanable
	LatestDeleteHoriz int64
}

// Compact runs one cleaning pass now (whatever the dirty ratio) with the
// default dedupe buffer. It returns SkippedUncleaned when the log is not
// compacted or has nothing cleanable.
func (l *Log) Compact(now time.Time) (CompactStats, error) {
	return l.compact(now, DefaultDedupeBufferSize, nil)
}

// RunCleaner runs one cleaner pass over every compacted log that needs it
// (Kafka's grabFilthiestCompactedLog, all of them dirtiest first): dirty
// ratio above min.cleanable.dirty.ratio, or a dirty segment older than
// max.compaction.lag.ms, or a delete horizon due. It returns how many logs
// were cleaned. The background loop calls it every
// ManagerOptions.CleanerBackoff while it finds nothing to do.
func (m *Manager) RunCleaner() int { return m.runCleaner(nil) }

func (m *Manager) runCleaner(stop <-chan struct{}) int {
	if m.health.failed() != nil {
		return 0
	}
	now := m.opts.Clock()
	type cand struct {
		l     *Log
		ratio float64
	}
	var cands []cand
	for _, l := range m.unsorted() { // every 15 s: only the candidates are sorted
		if r, due := l.cleanableRatio(now); due {
			cands = append(cands, cand{l, r})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.ratio != b.ratio {
			return a.ratio > b.ratio
		}
		if a.l.topic != b.l.topic {
			return a.l.topic < b.l.topic
		}
		return a.l.partition < b.l.partition
	})
	budget := m.opts.CleanerDedupeBufferSize
	if budget <= 0 {
		budget = DefaultDedupeBufferSize
	}
	n := 0
	for _, c := range cands {
		if stopped(stop) {
			break
		}
		st, err := c.l.compact(now, budget, stop)
		if err != nil {
			if isIOError(err) {
				_ = c.l.fail("log cleaner", err)
				break
			}
			if err != errCleanAborted {
				m.opts.Logger.Error("log cleaning failed", zap.String("dir", c.l.dir), zap.Error(err))
			}
			continue
		}
		if !st.SkippedUncleaned {
			n++
			m.opts.Logger.Debug("cleaned log", zap.String("dir", c.l.dir), zap.Int64("from", st.FirstDirty),
				zap.Int64("to", st.End), zap.Int64("read", st.BytesRead), zap.Int64("written", st.BytesWritten))
		}
	}
	return n
}

func stopped(stop <-chan struct{}) bool {
	if stop == nil {
		return false
	}
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// segSnap is what a pass knows of a segment, read under the log's lock.
type segSnap struct {
	seg                *segment
	base, next, size   int64
	idxBytes, tidxByte int
	maxTs              int64
	rollTs             time.Time
}

type cleanPlan struct {
	cfg               Config
	segs              []segSnap // every segment below upper, plus the first one at/after it
	nClean            int       // segs[:nClean] are below upper
	firstDirty, upper int64
	gen               int64
	aborted           []abortedTxn
	lastSeq           map[int64]int32 // producer id → its last sequence
	cleanBytes        int64
	dirtyBytes        int64
}

// plan computes the cleanable range under the read lock.
func (l *Log) plan(now time.Time) (*cleanPlan, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || !l.cfg.compacted() || len(l.segs) < 2 {
		return nil, false
	}
	p := &cleanPlan{cfg: l.cfg, gen: l.truncations}
	fd, ok := readCleanerCheckpoint(l.dir)
	if !ok || fd < l.logStart || fd > l.leo {
		fd = l.logStart
	}
	fd = max(fd, l.segs[0].base)
	act := l.segs[len(l.segs)-1]
	uncleanable := min(act.base, l.lsoLocked())
	if lag := l.cfg.MinCompactionLagMs; lag > 0 {
		for _, s := range l.segs[:len(l.segs)-1] {
			if s.next > fd && s.maxTs > now.UnixMilli()-lag {
				uncleanable = min(uncleanable, s.base)
				break
			}
		}
	}
	ui := l.segmentFor(uncleanable) // the segment holding it is not cleaned
	if l.segs[ui].base > uncleanable {
		ui = 0
	}
	p.nClean = ui
	p.upper = l.segs[ui].base
	p.firstDirty = fd
	for i := 0; i <= ui; i++ {
		s := l.segs[i]
		p.segs = append(p.segs, segSnap{seg: s, base: s.base, next: s.next, size: s.size,
			idxBytes: s.idx.n * offsetEntrySize, tidxByte: s.tidx.n * timeEntrySize, maxTs: s.maxTs, rollTs: s.rollTs})
		if i < ui {
			if s.next > fd && s.size > 0 {
				p.dirtyBytes += s.size
			} else {
				p.cleanBytes += s.size
			}
		}
	}
	for _, s := range l.segs {
		p.aborted = append(p.aborted, s.txns...)
	}
	p.lastSeq = make(map[int64]int32, len(l.producers.producers))
	for pid, e := range l.producers.producers {
		if len(e.batches) > 0 {
			p.lastSeq[pid] = e.lastSeq()
		}
	}
	return p, fd < p.upper
}

// cleanableRatio reports the dirty ratio and whether the Manager should
// clean the log now.
func (l *Log) cleanableRatio(now time.Time) (float64, bool) {
	p, ok := l.plan(now)
	if !ok || p.dirtyBytes+p.cleanBytes == 0 {
		if h := l.cleaner.nextHorizon.Load(); p != nil && h > 0 && now.UnixMilli() >= h && p.cleanBytes > 0 {
			return 0, true
		}
		return 0, false
	}
	ratio := float64(p.dirtyBytes) / float64(p.dirtyBytes+p.cleanBytes)
	if ratio > p.cfg.MinCleanableDirtyRatio {
		return ratio, true
	}
	// max.compaction.lag.ms: the first dirty segment is too old to wait.
	if p.dirtyBytes > 0 && p.cfg.MaxCompactionLagMs < math.MaxInt64 {
		for _, s := range p.segs[:p.nClean] {
			if s.next > p.firstDirty && s.size > 0 {
				if !s.rollTs.IsZero() && now.Sub(s.rollTs).Milliseconds() > p.cfg.MaxCompactionLagMs {
					return ratio, true
				}
				break
			}
		}
	}
	if h := l.cleaner.nextHorizon.Load(); h > 0 && now.UnixMilli() >= h {
		return ratio, true
	}
	return ratio, false
}

func (l *Log) compact(now time.Time, budget int64, stop <-chan struct{}) (CompactStats, error) {
	l.cleaner.mu.Lock()
	defer l.cleaner.mu.Unlock()
	st := CompactStats{SkippedUncleaned: true}
	p, ok := l.plan(now)
	if !ok {
		// Nothing dirty, but a due delete horizon still warrants a pass over
		// the clean section.
		h := l.cleaner.nextHorizon.Load()
		if p == nil || h <= 0 || now.UnixMilli() < h || p.nClean == 0 {
			return st, nil
		}
		p.firstDirty = p.upper
	}
	st.SkippedUncleaned = false
	st.FirstDirty = p.firstDirty
	c := &cleanPass{l: l, p: p, nowMs: now.UnixMilli(), stop: stop, st: &st}
	defer c.codecs.close()
	sort.Slice(p.aborted, func(i, j int) bool { return p.aborted[i].firstOffset < p.aborted[j].firstOffset })

	// 1. Offset map over the dirty range.
	c.m = newOffsetMap(budget)
	end := p.upper
	if p.firstDirty < p.upper {
		full, err := c.buildMap()
		if err != nil {
			return st, err
		}
		if full {
			st.MapFull = true
			end = c.m.latest + 1
			if end <= p.firstDirty {
				return st, fmt.Errorf("storage: log.cleaner.dedupe.buffer.size too small for one batch of %s", l.dir)
			}
		}
	} else {
		c.m.latest = p.upper - 1
	}
	st.End = end

	// 2. Rewrite every segment with base < end, in groups.
	var todo []segSnap
	for _, s := range p.segs[:p.nClean] {
		if s.base < end {
			todo = append(todo, s)
		}
	}
	c.txn = newTxnTracker(p.aborted, end)
	groups := groupSegmentsBySize(todo, p.cfg.SegmentBytes, p.cfg.SegmentIndexBytes)
	c.minHorizon = 0
	groupEnd := 0
	for _, g := range groups {
		if stopped(stop) {
			return st, errCleanAborted
		}
		// The group replaces [g[0].base, E): E is the base of the segment
		// after it, which exists because p.segs ends with an uncleaned one.
		e := p.segs[groupEnd+len(g)].base
		groupEnd += len(g)
		w, err := c.cleanGroup(g, e)
		if err != nil {
			return st, err
		}
		if err := l.swapIn(g, w, p.gen); err != nil {
			return st, err
		}
		st.Groups++
	}
	l.cleaner.nextHorizon.Store(c.minHorizon)
	st.LatestDeleteHoriz = c.minHorizon

	// 3. Checkpoint.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.truncations != p.gen {
		return st, errCleanAborted
	}
	return st, writeCleanerCheckpoint(l.fs, l.dir, end, l.noSync)
}

// groupSegmentsBySize splits segments into runs whose .log sizes sum to at
// most maxSize, whose index sizes sum to at most maxIndex each, and whose
// offsets span at most MaxInt32 (so the merged segment's relative offsets
// fit), as Kafka's groupSegmentsBySize.
func groupSegmentsBySize(segs []segSnap, maxSize int64, maxIndex int) [][]segSnap {
	var out [][]segSnap
	for len(segs) > 0 {
		g := []segSnap{segs[0]}
		size, isz, tsz := segs[0].size, segs[0].idxBytes, segs[0].tidxByte
		segs = segs[1:]
		for len(segs) > 0 {
			s := segs[0]
			if size+s.size > maxSize || isz+s.idxBytes > maxIndex || tsz+s.tidxByte > maxIndex ||
				s.next-1-g[0].base > math.MaxInt32 {
				break
			}
			g = append(g, s)
			size, isz, tsz = size+s.size, isz+s.idxBytes, tsz+s.tidxByte
			segs = segs[1:]
		}
		out = append(out, g)
	}
	return out
}

type cleanPass struct {
	l          *Log
	p          *cleanPlan
	m          *offsetMap
	txn        *txnTracker
	nowMs      int64
	stop       <-chan struct{}
	st         *CompactStats
	minHorizon int64
	body       []byte // scratch for rebuilt record bodies
	codecs     passCodecs
}

// nextRawRecord splits the first length-prefixed record off body.
func nextRawRecord(body []byte) (raw, rest []byte, ok bool) {
	length, n := binary.Varint(body)
	if n <= 0 || length < 0 || int64(len(body)-n) < length {
		return nil, body, false
	}
	return body[:int64(n)+length], body[int64(n)+length:], true
}

// decodeRawRecord decodes a length-prefixed record.
func decodeRawRecord(raw []byte, r *Record) error {
	_, n := binary.Varint(raw)
	return decodeRecord(raw[n:], r)
}

// eachBatch calls fn with every whole, CRC-valid batch of s whose last
// offset is >= from. The batch bytes are only valid during the call.
func eachBatch(s segSnap, from int64, fn func(b []byte, h *BatchHeader) (stop bool, err error)) error {
	ref, pos, err := s.seg.locate(max(from, s.base))
	if err != nil {
		return err
	}
	defer ref.release()
	if pos > s.size {
		return nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(ref.f, pos, s.size-pos), 1<<20)
	var buf []byte
	for pos < s.size {
		hdr, err := r.Peek(logOverhead)
		if err != nil {
			return fmt.Errorf("storage: cleaner: short read in %s at %d: %w", s.seg.path(".log"), pos, err)
		}
		size := int64(int32(binary.BigEndian.Uint32(hdr[offLength:]))) + logOverhead
		if size < batchHeaderSize || pos+size > s.size {
			return fmt.Errorf("storage: cleaner: bad batch length in %s at %d", s.seg.path(".log"), pos)
		}
		if int64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		h, err := checkBatchFrame(buf)
		if err != nil {
			return fmt.Errorf("storage: cleaner: corrupt batch in %s at %d: %w", s.seg.path(".log"), pos, err)
		}
		pos += size
		if h.LastOffset() < from {
			continue
		}
		if stop, err := fn(buf, &h); stop || err != nil {
			return err
		}
	}
	return nil
}

// buildMap fills the offset map from the dirty range (Kafka's
// buildOffsetMap). It reports whether the map filled up before upper.
func (c *cleanPass) buildMap() (bool, error) {
	p := c.p
	tx := newTxnTracker(p.aborted, p.upper)
	full := false
	for _, s := range p.segs[:p.nClean] {
		if s.next <= p.firstDirty || s.size == 0 {
			continue
		}
		if stopped(c.stop) {
			return false, errCleanAborted
		}
		err := eachBatch(s, p.firstDirty, func(b []byte, h *BatchHeader) (bool, error) {
			if h.IsControl() {
				typ, _ := controlType(b, h)
				tx.onControl(h, typ)
			} else if !tx.onBatch(h) {
				var rerr error
				err := c.codecs.records(b, h, func(r *Record) bool {
					off := h.BaseOffset + int64(r.OffsetDelta)
					if r.Key == nil || off < p.firstDirty {
						return true
					}
					if c.m.full() && c.m.get(r.Key) < 0 {
						full = true
						return false
					}
					c.m.put(r.Key, off)
					return true
				})
				if err != nil {
					rerr = fmt.Errorf("storage: cleaner: undecodable batch at offset %d: %w", h.BaseOffset, err)
				}
				if full || rerr != nil {
					return true, rerr
				}
			}
			if h.LastOffset() >= p.firstDirty {
				c.m.latest = h.LastOffset()
			}
			return false, nil
		})
		if err != nil {
			return false, err
		}
		if full {
			return true, nil
		}
	}
	return false, nil
}

// txnTracker follows transactions through a pass in offset order (Kafka's
// CleanedTransactionMetadata): which batches belong to aborted
// transactions, and whether a marker's transaction still has batches.
type txnTracker struct {
	aborted   []abortedTxn // by firstOffset
	next      int
	ongoing   map[int64]*abortState // producer → its current aborted transaction
	committed map[int64]bool        // producers with a committed-transaction batch seen
	keep      []abortedTxn          // .txnindex entries for the segment being written
}

type abortState struct {
	t    abortedTxn
	seen bool
}

func newTxnTracker(all []abortedTxn, below int64) *txnTracker {
	t := &txnTracker{ongoing: map[int64]*abortState{}, committed: map[int64]bool{}}
	seen := map[[2]int64]bool{}
	for _, a := range all {
		k := [2]int64{a.producerID, a.firstOffset}
		if a.firstOffset < below && !seen[k] {
			seen[k] = true
			t.aborted = append(t.aborted, a)
		}
	}
	return t
}

func (t *txnTracker) consumeUpTo(off int64) {
	for t.next < len(t.aborted) && t.aborted[t.next].firstOffset <= off {
		a := t.aborted[t.next]
		t.ongoing[a.producerID] = &abortState{t: a}
		t.next++
	}
}

// onBatch reports whether a data batch belongs to an aborted transaction.
func (t *txnTracker) onBatch(h *BatchHeader) bool {
	t.consumeUpTo(h.LastOffset())
	if !h.IsTransactional() {
		return false
	}
	if a := t.ongoing[h.ProducerID]; a != nil {
		a.seen = true
		return true
	}
	t.committed[h.ProducerID] = true
	return false
}

// onControl reports whether a marker could go (no batch of its transaction
// seen in this pass); a kept abort marker's entry goes to t.keep.
func (t *txnTracker) onControl(h *BatchHeader, typ int16) bool {
	t.consumeUpTo(h.LastOffset())
	switch typ {
	case ControlAbort:
		a := t.ongoing[h.ProducerID]
		delete(t.ongoing, h.ProducerID)
		if a != nil && a.seen {
			t.keep = append(t.keep, a.t)
			return false
		}
		return true
	case ControlCommit:
		had := t.committed[h.ProducerID]
		delete(t.committed, h.ProducerID)
		return !had
	}
	return false
}

// cleanedSeg accumulates one group's new segment in <base>.*.cleaned files.
type cleanedSeg struct {
	dir, base        string
	baseOff, end     int64
	f                *os.File
	w                *bufio.Writer
	pos              int64
	idx, tidx        []byte
	bytesSinceIndex  int
	maxTs, maxTsOff  int64
	lastIdxTs        int64
	next             int64
	firstBatchMaxTs  int64
	interval         int
	txns             []abortedTxn
	mtime            time.Time
	idxN, tidxN      int
	haveTime, noSync bool
	fs               FileOps
}

// fsWriter writes to f through fs (the cleaner's buffered .log writes).
type fsWriter struct {
	fs FileOps
	f  *os.File
}

func (w fsWriter) Write(b []byte) (int, error) { return w.fs.Write(w.f, b) }

func (c *cleanPass) cleanGroup(g []segSnap, end int64) (*cleanedSeg, error) {
	l := c.l
	base := g[0].base
	f, err := l.fs.OpenFile(swapPath(l.dir, base, ".log", ".cleaned"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	w := &cleanedSeg{dir: l.dir, baseOff: base, end: end, f: f, fs: l.fs, w: bufio.NewWriterSize(fsWriter{l.fs, f}, 1<<20),
		maxTs: -1, maxTsOff: base, lastIdxTs: -1, next: base, firstBatchMaxTs: -1,
		interval: c.p.cfg.IndexIntervalBytes, noSync: l.noSync}
	fail := func(err error) (*cleanedSeg, error) {
		w.f.Close()
		w.remove()
		return nil, err
	}
	c.txn.keep = nil
	for _, s := range g {
		if mt := s.seg.lastModified(); mt.After(w.mtime) {
			w.mtime = mt
		}
		c.st.Segments++
		c.st.BytesRead += s.size
		if s.size == 0 {
			continue
		}
		if stopped(c.stop) {
			return fail(errCleanAborted)
		}
		if err := eachBatch(s, s.base, func(b []byte, h *BatchHeader) (bool, error) {
			return false, c.filterBatch(b, h, w)
		}); err != nil {
			return fail(err)
		}
	}
	w.txns = c.txn.keep
	if err := w.finish(); err != nil {
		return fail(err)
	}
	c.st.BytesWritten += w.pos
	return w, nil
}

// filterBatch writes what the cleaner keeps of one batch to w.
func (c *cleanPass) filterBatch(b []byte, h *BatchHeader, w *cleanedSeg) error {
	hasHorizon := h.Attributes&attrDeleteHorizon != 0
	horizonPassed := hasHorizon && c.nowMs >= h.BaseTimestamp
	discard, markerEmpty := false, false
	if h.IsControl() {
		typ, err := controlType(b, h)
		if err != nil {
			typ = -1
		}
		markerEmpty = c.txn.onControl(h, typ)
		discard = markerEmpty && horizonPassed
	} else {
		discard = c.txn.onBatch(h)
	}
	retainEmpty := false
	if h.ProducerID >= 0 {
		if seq, ok := c.p.lastSeq[h.ProducerID]; ok && seq == h.LastSequence() {
			retainEmpty = true
		}
	}
	c.st.RecordsRead += int64(h.RecordCount)
	if discard {
		if retainEmpty {
			return w.add(emptyBatch(h), c)
		}
		return nil
	}
	if h.IsControl() {
		if markerEmpty && !hasHorizon {
			nb, err := c.rebuild(b, h, nil, true)
			if err != nil {
				return err
			}
			c.st.RecordsRetained += int64(h.RecordCount)
			return w.add(nb, c)
		}
		c.st.RecordsRetained += int64(h.RecordCount)
		return w.add(b, c)
	}
	// Data batch: decide per record.
	body := b[batchHeaderSize:h.Size()]
	if h.Codec() != CodecNone {
		var err error
		if body, err = c.codecs.decompress(h.Codec(), body); err != nil {
			return fmt.Errorf("storage: cleaner: batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	var kept [][]byte // raw records (length prefix included)
	var r Record
	all, tomb := true, false
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(body)
		if n <= 0 || length < 0 || int64(len(body)-n) < length {
			return fmt.Errorf("storage: cleaner: malformed record at offset %d", h.BaseOffset)
		}
		raw := body[:int64(n)+length]
		if err := decodeRecord(body[n:int64(n)+length], &r); err != nil {
			return fmt.Errorf("storage: cleaner: malformed record at offset %d", h.BaseOffset)
		}
		body = body[int64(n)+length:]
		off := h.BaseOffset + int64(r.OffsetDelta)
		keep := true
		if off <= c.m.latest {
			switch {
			case r.Key == nil:
				keep = false
			case func() bool { f := c.m.get(r.Key); return f >= 0 && off < f }():
				keep = false
			case r.Value == nil && horizonPassed:
				keep = false
			}
		}
		if !keep {
			all = false
			continue
		}
		if r.Value == nil {
			tomb = true
		}
		kept = append(kept, raw)
	}
	c.st.RecordsRetained += int64(len(kept))
	needHorizon := tomb && !hasHorizon
	switch {
	case len(kept) == 0 && retainEmpty:
		return w.add(emptyBatch(h), c)
	case len(kept) == 0:
		return nil
	case all && !needHorizon:
		if tomb {
			c.noteHorizon(h.BaseTimestamp)
		}
		return w.add(b, c)
	}
	nb, err := c.rebuild(b, h, kept, needHorizon)
	if err != nil {
		return err
	}
	if tomb {
		hb, _ := ParseBatchHeader(nb)
		c.noteHorizon(hb.BaseTimestamp)
	}
	return w.add(nb, c)
}

func (c *cleanPass) noteHorizon(h int64) {
	if c.minHorizon == 0 || h < c.minHorizon {
		c.minHorizon = h
	}
}

// rebuild encodes a batch with the same header fields as h and the given raw
// records (nil: all of b's records). With setHorizon the delete horizon
// now+delete.retention.ms goes into baseTimestamp and record timestamp
// deltas are rebased on it.
func (c *cleanPass) rebuild(b []byte, h *BatchHeader, kept [][]byte, setHorizon bool) ([]byte, error) {
	oldBase := h.BaseTimestamp
	newBase := oldBase
	attrs := uint16(h.Attributes)
	if setHorizon {
		newBase = c.nowMs + c.p.cfg.DeleteRetentionMs
		if c.p.cfg.DeleteRetentionMs > math.MaxInt64-c.nowMs {
			newBase = math.MaxInt64
		}
		attrs |= attrDeleteHorizon
		c.noteHorizon(newBase)
	}
	if kept == nil {
		body := b[batchHeaderSize:h.Size()]
		if h.Codec() != CodecNone {
			var err error
			if body, err = c.codecs.decompress(h.Codec(), body); err != nil {
				return nil, err
			}
		}
		for i := int32(0); i < h.RecordCount; i++ {
			length, n := binary.Varint(body)
			if n <= 0 || length < 0 || int64(len(body)-n) < length {
				return nil, errRecordParse
			}
			kept = append(kept, body[:int64(n)+length])
			body = body[int64(n)+length:]
		}
	}
	maxTs := int64(math.MinInt64)
	out := c.body[:0]
	var r Record
	for _, raw := range kept {
		_, n := binary.Varint(raw)
		if err := decodeRecord(raw[n:], &r); err != nil {
			return nil, err
		}
		ts := oldBase + r.TimestampDelta
		maxTs = max(maxTs, ts)
		if newBase == oldBase {
			out = append(out, raw...)
			continue
		}
		out = appendRecord(out, r.OffsetDelta, builtRecord{tsDelta: ts - newBase, key: r.Key, value: r.Value, headers: r.Headers})
	}
	c.body = out
	if h.LogAppendTime() || h.IsControl() || len(kept) == 0 {
		maxTs = h.MaxTimestamp
	}
	payload := out
	if h.Codec() != CodecNone {
		var err error
		if payload, err = c.codecs.compress(h.Codec(), out); err != nil {
			return nil, err
		}
	}
	nb := make([]byte, batchHeaderSize, batchHeaderSize+len(payload))
	copy(nb, b[:batchHeaderSize])
	nb = append(nb, payload...)
	be := binary.BigEndian
	be.PutUint32(nb[offLength:], uint32(len(nb)-logOverhead))
	be.PutUint16(nb[offAttributes:], attrs)
	be.PutUint64(nb[offBaseTimestamp:], uint64(newBase))
	be.PutUint64(nb[offMaxTimestamp:], uint64(maxTs))
	be.PutUint32(nb[offRecordCount:], uint32(len(kept)))
	setCRC(nb)
	return nb, nil
}

// emptyBatch is h's header with no records (Kafka's writeEmptyHeader): same
// offsets, producer id, epoch and sequences, so the producer's last
// sequence survives cleaning.
func emptyBatch(h *BatchHeader) []byte {
	nb := make([]byte, batchHeaderSize)
	be := binary.BigEndian
	be.PutUint64(nb[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(nb[offLength:], uint32(batchHeaderSize-logOverhead))
	be.PutUint32(nb[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	nb[offMagic] = 2
	attrs := uint16(h.Attributes) &^ attrCodecMask
	base := h.MaxTimestamp
	if attrs&attrDeleteHorizon != 0 {
		base = h.BaseTimestamp
	}
	be.PutUint16(nb[offAttributes:], attrs)
	be.PutUint32(nb[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(nb[offBaseTimestamp:], uint64(base))
	be.PutUint64(nb[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(nb[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(nb[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(nb[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(nb[offRecordCount:], 0)
	setCRC(nb)
	return nb
}

// add appends one batch and maintains the indexes as segment.indexBatch
// does for appends.
func (w *cleanedSeg) add(b []byte, c *cleanPass) error {
	h, _ := ParseBatchHeader(b)
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	size := int64(len(b))
	if w.firstBatchMaxTs < 0 && w.pos == 0 {
		w.firstBatchMaxTs = h.MaxTimestamp
	}
	if h.MaxTimestamp > w.maxTs {
		w.maxTs, w.maxTsOff = h.MaxTimestamp, h.LastOffset()
	}
	if w.bytesSinceIndex > w.interval {
		w.idx = binary.BigEndian.AppendUint32(w.idx, uint32(h.LastOffset()-w.baseOff))
		w.idx = binary.BigEndian.AppendUint32(w.idx, uint32(w.pos))
		w.idxN++
		if w.maxTs >= 0 && w.maxTs > w.lastIdxTs {
			w.appendTime()
		}
		w.bytesSinceIndex = 0
	}
	w.bytesSinceIndex += int(size)
	w.pos += size
	w.next = h.LastOffset() + 1
	return nil
}

func (w *cleanedSeg) appendTime() {
	w.tidx = binary.BigEndian.AppendUint64(w.tidx, uint64(w.maxTs))
	w.tidx = binary.BigEndian.AppendUint32(w.tidx, uint32(w.maxTsOff-w.baseOff))
	w.tidxN++
	w.lastIdxTs = w.maxTs
}

// finish writes the index, txnindex and range files and fsyncs all of them.
func (w *cleanedSeg) finish() error {
	if w.maxTs >= 0 && w.maxTs > w.lastIdxTs {
		w.appendTime()
	}
	if err := w.w.Flush(); err != nil {
		return err
	}
	if !w.noSync {
		if err := w.fs.Sync(w.f); err != nil {
			return err
		}
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	var txn []byte
	for _, t := range w.txns {
		txn = encodeTxn(txn, t)
	}
	files := map[string][]byte{
		".index":     w.idx,
		".timeindex": w.tidx,
		".txnindex":  txn,
		".range":     []byte(strconv.FormatInt(w.end, 10) + "\n"),
	}
	for ext, data := range files {
		if err := writeSynced(w.fs, swapPath(w.dir, w.baseOff, ext, ".cleaned"), data, w.noSync); err != nil {
			return err
		}
	}
	if !w.mtime.IsZero() {
		_ = os.Chtimes(swapPath(w.dir, w.baseOff, ".log", ".cleaned"), w.mtime, w.mtime)
	}
	return nil
}

func (w *cleanedSeg) remove() {
	for _, ext := range []string{".log", ".index", ".timeindex", ".txnindex", ".range"} {
		for _, suf := range []string{".cleaned", ".swap"} {
			_ = w.fs.Remove(swapPath(w.dir, w.baseOff, ext, suf))
		}
	}
}

// errSimulatedCrash is returned when cleanerState.crashAt stops a swap.
var errSimulatedCrash = fmt.Errorf("storage: simulated crash")

// swapIn replaces the group's segments with the cleaned one, following the
// protocol in cleaner_swap.go, under appendMu and mu. If the log no longer
// holds exactly those segments (or was truncated or closed) the cleaned
// files are deleted and errCleanAborted returned.
func (l *Log) swapIn(g []segSnap, w *cleanedSeg, gen int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	at := -1
	if !l.closed && l.truncations == gen {
		for i, s := range l.segs {
			if s == g[0].seg {
				at = i
				break
			}
		}
	}
	if at >= 0 && at+len(g) < len(l.segs) {
		for k := range g {
			if l.segs[at+k] != g[k].seg {
				at = -1
				break
			}
		}
	} else {
		at = -1
	}
	if at < 0 {
		w.remove()
		return errCleanAborted
	}
	crash := func(step string) bool { return l.cleaner.crashAt == step }
	dir, base := l.dir, w.baseOff
	// Step 2: .cleaned → .swap; the .log rename commits.
	for _, ext := range swapIndexExts {
		if err := l.fs.Rename(swapPath(dir, base, ext, ".cleaned"), swapPath(dir, base, ext, ".swap")); err != nil {
			w.remove()
			return err
		}
	}
	if crash("before-commit") {
		return errSimulatedCrash
	}
	if err := l.fs.Rename(swapPath(dir, base, ".log", ".cleaned"), swapPath(dir, base, ".log", ".swap")); err != nil {
		w.remove()
		return err
	}
	if err := syncDirUnlessFS(l.fs, dir, l.noSync); err != nil {
		return err
	}
	if crash("committed") {
		return errSimulatedCrash
	}
	// Step 3: old segments → .deleted.
	var gone []string
	for k, s := range g {
		paths, err := s.seg.markDeleted()
		gone = append(gone, paths...)
		if err != nil {
			return err
		}
		if k == 0 && crash("one-deleted") && len(g) > 1 {
			return errSimulatedCrash
		}
	}
	if err := syncDirUnlessFS(l.fs, dir, l.noSync); err != nil {
		return err
	}
	if crash("deleted") {
		return errSimulatedCrash
	}
	// Step 4: .swap → final names, the .log last.
	for _, ext := range swapIndexExts[:3] {
		if err := l.fs.Rename(swapPath(dir, base, ext, ".swap"), swapPath(dir, base, ext, "")); err != nil {
			return err
		}
		if ext == ".index" && crash("index-renamed") {
			return errSimulatedCrash
		}
	}
	if err := l.fs.Rename(swapPath(dir, base, ".log", ".swap"), swapPath(dir, base, ".log", "")); err != nil {
		return err
	}
	if err := syncDirUnlessFS(l.fs, dir, l.noSync); err != nil {
		return err
	}
	if crash("renamed") {
		return errSimulatedCrash
	}
	_ = l.fs.Remove(swapPath(dir, base, ".range", ".swap"))

	ns := l.newSegment(base)
	ns.size, ns.next = w.pos, w.next
	ns.maxTs, ns.maxTsOffset = w.maxTs, w.maxTsOff
	ns.idx.n, ns.tidx.n = w.idxN, w.tidxN
	ns.txns = w.txns
	ns.rollTs = tsTime(w.firstBatchMaxTs)
	if ns.rollTs.IsZero() {
		ns.rollTs = w.mtime
	}
	segs := make([]*segment, 0, len(l.segs)-len(g)+1)
	segs = append(segs, l.segs[:at]...)
	segs = append(segs, ns)
	segs = append(segs, l.segs[at+len(g):]...)
	l.segs = segs
	l.deleter(gone, msDuration(l.cfg.FileDeleteDelayMs))
	return nil
}

func readCleanerCheckpoint(dir string) (int64, bool) {
	b, err := os.ReadFile(dir + string(os.PathSeparator) + cleanerCheckpointFile)
	if err != nil {
		return 0, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || strings.TrimSpace(lines[0]) != "0" {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	return v, err == nil && v >= 0
}

func writeCleanerCheckpoint(fs FileOps, dir string, off int64, noSync bool) error {
	return writeFileAtomicFS(fs, dir+string(os.PathSeparator)+cleanerCheckpointFile, []byte("0\n"+strconv.FormatInt(off, 10)+"\n"), noSync)
}

// cleanerTruncated lowers the cleaner checkpoint to the new log end after a
// truncation (Kafka's maybeTruncateCheckpoint), so re-appended offsets are
// treated as dirty. Called under l.mu.
func (l *Log) cleanerTruncated(leo int64) {
	if off, ok := readCleanerCheckpoint(l.dir); ok && off > leo {
		if err := writeCleanerCheckpoint(l.fs, l.dir, leo, l.noSync); err != nil {
			l.logger.Error("cleaner checkpoint write failed", zap.String("dir", l.dir), zap.Error(err))
		}
	}
}
