package storage

import (
	"bufio"
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A segment is one <20-digit base offset>.log file with its .index,
// .timeindex and optional .txnindex. The .log holds whole RecordBatch v2
// batches back to back, offsets increasing; all offsets in it are in
// [base, base+MaxInt32] so index entries fit their 4-byte relative offsets.
//
// Fields above mu are owned by the Log (written under its write lock, read
// under its read lock); fields below mu are the open handles, which the
// handle cache may close at any time it can take mu.
type segment struct {
	dir  string
	base int64

	size            int64 // valid bytes in the .log
	next            int64 // offset after the last batch (base when empty)
	maxTs           int64 // largest batch max-timestamp (-1 if none)
	maxTsOffset     int64 // last offset of the batch that has maxTs
	rollTs          time.Time
	bytesSinceIndex int
	txns            []abortedTxn
	active          bool // indexes writable and preallocated
	indexBytes      int
	noSync          bool
	fs              FileOps
	// fresh: the segment is being created (roll, new or emptied log), so
	// its .log may be created on first open. Every other segment's .log
	// must exist: one missing under a running broker is a log-dir failure,
	// never re-created empty (which would hide a lost offset range).
	fresh bool
	// txnDirty: the .txnindex was written since the segment's last sync;
	// the next sync fsyncs it with the .log.
	txnDirty atomic.Bool
	// unsynced: the .log changed (bytes written or cut) since its last
	// fsync, guarded by mu. A segment opened from disk starts synced: a
	// clean open trusts it, and an unclean one fsyncs what it recovered.
	// A sync of a segment that is not unsynced skips the .log's fsync, so
	// closing idle partitions costs no I/O.
	unsynced bool

	cache *handleCache

	mu   sync.Mutex
	file *fileRef
	idx  mmIndex
	tidx mmIndex
	elem *list.Element // in the handle cache, guarded by cache.mu
}

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

func (s *segment) path(ext string) string {
	return filepath.Join(s.dir, segmentName(s.base)+ext)
}

func newSegmentStruct(fs FileOps, dir string, base int64, cache *handleCache, indexBytes int) *segment {
	fs = fileOpsOrOS(fs)
	s := &segment{dir: dir, base: base, next: base, maxTs: -1, maxTsOffset: base, cache: cache, indexBytes: indexBytes, fs: fs}
	s.idx = mmIndex{path: s.path(".index"), entrySize: offsetEntrySize, fs: fs}
	s.tidx = mmIndex{path: s.path(".timeindex"), entrySize: timeEntrySize, fs: fs}
	return s
}

// errSegmentMissing wraps the error of opening a segment whose .log is gone.
var errSegmentMissing = errors.New("storage: segment file missing")

// parseSegmentBase returns the base offset of a "<20 digits>.log" name.
func parseSegmentBase(name string) (int64, bool) {
	if !strings.HasSuffix(name, ".log") || len(name) != 24 {
		return 0, false
	}
	v, err := strconv.ParseInt(name[:20], 10, 64)
	return v, err == nil && v >= 0
}

// openLocked makes sure the .log is open and the indexes are mapped. The
// caller holds s.mu.
func (s *segment) openLocked() error {
	if s.file != nil {
		if s.cache != nil {
			s.cache.touch(s)
		}
		return nil
	}
	flag := os.O_RDWR
	if s.fresh {
		flag |= os.O_CREATE
	}
	f, err := s.fs.OpenFile(s.path(".log"), flag, 0o644)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%w: %w", errSegmentMissing, err)
		}
		return err
	}
	if s.fresh {
		// A new segment has no index files yet unless an earlier one
		// left some behind; only missing ones are known to match n = 0.
		for _, ix := range []*mmIndex{&s.idx, &s.tidx} {
			if _, err := os.Stat(ix.path); ix.n == 0 && os.IsNotExist(err) {
				ix.onDisk = true
			}
		}
	}
	s.fresh = false
	if err := s.idx.open(s.active, s.indexBytes); err != nil {
		f.Close()
		return err
	}
	if err := s.tidx.open(s.active, s.indexBytes); err != nil {
		s.idx.unmap()
		f.Close()
		return err
	}
	s.file = newFileRef(f)
	if s.cache != nil {
		s.cache.opened(s)
	}
	return nil
}

// closeHandlesLocked drops the segment's own file reference and unmaps the
// indexes. Readers holding references keep the file open.
func (s *segment) closeHandlesLocked() {
	if s.file != nil {
		s.file.release()
		s.file = nil
	}
	s.idx.unmap()
	s.tidx.unmap()
}

func (s *segment) closeHandles() {
	s.mu.Lock()
	s.closeHandlesLocked()
	if s.cache != nil {
		s.cache.closed(s)
	}
	s.mu.Unlock()
}

// acquireFile returns a new reference to the open .log file.
func (s *segment) acquireFile() (*fileRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openLocked(); err != nil {
		return nil, err
	}
	s.file.acquire()
	return s.file, nil
}

// batchInfo is what the append path tells a segment about each batch.
type batchInfo struct {
	pos, size         int64
	base, last, maxTs int64
}

// write appends buf (whole batches described by infos, positions relative to
// buf) at the end of the segment and updates the indexes. Called under the
// Log's write lock.
func (s *segment) write(buf []byte, infos []batchInfo, interval int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openLocked(); err != nil {
		return err
	}
	s.markChangedLocked()
	if _, err := s.fs.WriteAt(s.file.f, buf, s.size); err != nil {
		// Leave no partial batch behind (if this fails too, recovery
		// cuts the torn tail: the dir is failed and nothing after s.size
		// was acknowledged).
		_ = s.fs.Truncate(s.file.f, s.size)
		return err
	}
	for _, b := range infos {
		s.indexBatch(s.size+b.pos, b, interval)
	}
	s.size += int64(len(buf))
	return nil
}

// indexBatch updates the in-memory and index state for one batch at pos.
// Caller holds s.mu with the indexes mapped writable.
func (s *segment) indexBatch(pos int64, b batchInfo, interval int) {
	if b.maxTs > s.maxTs {
		s.maxTs, s.maxTsOffset = b.maxTs, b.last
	}
	if s.bytesSinceIndex > interval {
		if !s.idx.full() {
			s.idx.appendOffset(uint32(b.last-s.base), uint32(pos))
		}
		if t, _, ok := s.tidx.lastTime(); (!ok || s.maxTs > t) && s.maxTs >= 0 && !s.tidx.full() {
			s.tidx.appendTime(s.maxTs, uint32(s.maxTsOffset-s.base))
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int(b.size)
	s.next = b.last + 1
}

// indexFull reports whether either index has no room for another entry.
func (s *segment) indexFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.full() || s.tidx.full()
}

// finish makes the segment inactive: a last time-index entry for its max
// timestamp (so it can be read back on load), indexes trimmed, everything
// synced.
func (s *segment) finish(sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finishLocked(sync)
}

func (s *segment) finishLocked(sync bool) error {
	if s.active && (sync || s.file != nil || !s.finishesUnopened()) {
		if err := s.openLocked(); err != nil {
			return err
		}
	}
	if s.active {
		if t, _, ok := s.tidx.lastTime(); (!ok || s.maxTs > t) && s.maxTs >= 0 && s.tidx.n < s.tidx.maxN {
			s.tidx.appendTime(s.maxTs, uint32(s.maxTsOffset-s.base))
		}
	}
	var err error
	if sync {
		err = s.syncLocked()
	}
	if s.active {
		// The index files become what a clean open trusts: written,
		// trimmed and (with sync) fsynced. A segment whose indexes could
		// not be finished stays active in memory (the dir is failed).
		fsync := sync && !s.noSync
		if e := s.idx.finish(fsync); err == nil {
			err = e
		}
		if e := s.tidx.finish(fsync); err == nil {
			err = e
		}
		if !s.idx.active && !s.tidx.active {
			s.active = false
			if s.file != nil {
				if e := s.idx.open(false, 0); err == nil {
					err = e
				}
				if e := s.tidx.open(false, 0); err == nil {
					err = e
				}
			}
		}
	}
	return err
}

// finishesUnopened reports whether finishing the segment without a sync
// needs nothing read from its files, so a segment whose handles are
// closed (the open-file budget evicted it, or a clean open never opened
// an empty one) is not opened only to be closed again: a clean shutdown
// of 100k idle partitions would otherwise open and close 100k .log files
// (most of its CPU). Finishing reads nothing when each index is either in
// memory (active: the authority, written from memory by finish) or known
// to be exactly what its file holds (onDisk: nothing to write), and the
// last time-index entry, if one is due (maxTs >= 0), can be checked
// against entries in memory. finish writes index files by path, so the
// .log need not be open for that either.
func (s *segment) finishesUnopened() bool {
	return (s.idx.active || s.idx.onDisk) && (s.tidx.active || (s.tidx.onDisk && s.maxTs < 0))
}

// makeActive turns the segment back into the writable, last segment (after
// a truncation removed the segments that followed it).
func (s *segment) makeActive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active {
		return nil
	}
	s.active = true
	if s.file == nil {
		return nil // read into memory on next open
	}
	if err := s.idx.open(true, s.indexBytes); err != nil {
		return err
	}
	return s.tidx.open(true, s.indexBytes)
}

// syncLocked writes the active indexes' pending entries and fsyncs the .log
// and, if it changed, the .txnindex. The active index files are not
// fsynced here: only a finished segment's indexes are trusted (index.go).
func (s *segment) syncLocked() error {
	if err := s.idx.writePending(); err != nil {
		return err
	}
	if err := s.tidx.writePending(); err != nil {
		return err
	}
	return s.syncDataLocked()
}

// syncData fsyncs the .log and a changed .txnindex without writing index
// entries: recovery's sync, which must not need disk space (index.go).
func (s *segment) syncData() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncDataLocked()
}

func (s *segment) syncDataLocked() error {
	if s.noSync {
		return nil
	}
	if s.unsynced {
		if err := s.syncLogLocked(); err != nil {
			return err
		}
		s.unsynced = false
	}
	if s.txnDirty.Load() {
		s.txnDirty.Store(false)
		if err := syncFile(s.fs, s.path(".txnindex")); err != nil {
			s.txnDirty.Store(true)
			return err
		}
	}
	return nil
}

// markChangedLocked records that the .log is about to change: it needs an
// fsync, and its indexes a finish (the files must exist and match the
// log once it holds batches), whether or not their entries change.
func (s *segment) markChangedLocked() {
	s.unsynced = true
	s.idx.onDisk, s.tidx.onDisk = false, false
}

// syncLogLocked fsyncs the .log, opening it if its handle was closed.
func (s *segment) syncLogLocked() error {
	if s.file != nil {
		return s.fs.Sync(s.file.f)
	}
	f, err := s.fs.OpenFile(s.path(".log"), os.O_RDONLY, 0)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%w: %w", errSegmentMissing, err)
		}
		return err
	}
	err = s.fs.Sync(f)
	f.Close()
	return err
}

func (s *segment) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

// appendTxns appends aborted transactions to the .txnindex; the next sync
// fsyncs it.
func (s *segment) appendTxns(ts []abortedTxn) error {
	if err := appendTxnIndex(s.fs, s.path(".txnindex"), ts); err != nil {
		return err
	}
	s.txnDirty.Store(true)
	return nil
}

// writeTxns rewrites the .txnindex; the next sync fsyncs it.
func (s *segment) writeTxns(ts []abortedTxn) error {
	if err := writeTxnIndex(s.fs, s.path(".txnindex"), ts); err != nil {
		return err
	}
	s.txnDirty.Store(true)
	return nil
}

// readAt reads exactly len(b) bytes at off from f.
func preadFull(f *os.File, b []byte, off int64) error {
	_, err := f.ReadAt(b, off)
	return err
}

// headerPrefix is how much of a batch header the read path needs: through
// lastOffsetDelta.
const headerPrefix = offLastOffsetDelta + 4

type scanEntry struct {
	pos, size  int64
	base, last int64
}

// scanFrom reads batch headers starting at pos (a batch boundary) until
// stop returns true or end is reached. Called with a file reference; end is
// the segment size observed under the Log lock.
func scanFrom(f *os.File, pos, end int64, stop func(e scanEntry) bool) error {
	var hb [headerPrefix]byte
	for pos < end {
		if end-pos < headerPrefix {
			return fmt.Errorf("storage: short batch header at %d", pos)
		}
		if err := preadFull(f, hb[:], pos); err != nil {
			return err
		}
		base := int64(binary.BigEndian.Uint64(hb[offBaseOffset:]))
		size := int64(int32(binary.BigEndian.Uint32(hb[offLength:]))) + logOverhead
		if size < batchHeaderSize || pos+size > end {
			return fmt.Errorf("storage: bad batch length at %d", pos)
		}
		last := base + int64(int32(binary.BigEndian.Uint32(hb[offLastOffsetDelta:])))
		if stop(scanEntry{pos: pos, size: size, base: base, last: last}) {
			return nil
		}
		pos += size
	}
	return nil
}

// recoveredBatch is passed to the recovery callback for each valid batch.
type recoveredBatch struct {
	h     BatchHeader
	pos   int64
	bytes []byte // the whole batch; valid only during the callback
}

// recover re-reads the whole .log, rebuilding both indexes and keeping only
// the valid prefix: it stops at the first torn, CRC-invalid or out-of-order
// batch and truncates the file there. fn sees every valid batch in order.
// It returns whether bytes were truncated. The segment is left active
// (indexes writable) or finished (indexes trimmed) as asked.
func (s *segment) recover(active bool, interval int, prevNext int64, fn func(rb *recoveredBatch) error) (truncated bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeHandlesLocked()
	if s.cache != nil {
		s.cache.closed(s)
	}
	// Fresh indexes, rebuilt in memory (index.go): nothing is written
	// here, so a log recovers on a full disk.
	s.idx.reset()
	s.tidx.reset()
	for _, p := range []string{s.idx.path, s.tidx.path} {
		if err := removeIfExists(s.fs, p); err != nil {
			return false, err
		}
	}
	s.active = true
	if err := s.openLocked(); err != nil {
		return false, err
	}
	f := s.file.f
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	fileSize := st.Size()
	s.size, s.next, s.maxTs, s.maxTsOffset, s.bytesSinceIndex = 0, s.base, -1, s.base, 0
	s.txns = nil
	// A 1 MiB buffer for a big segment; an empty or small one (most of
	// a broker's partitions after a crash) must not allocate and zero 1
	// MiB each. bufio rounds tiny sizes up to its minimum.
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, fileSize), int(min(fileSize, 1<<20)))
	var buf []byte
	pos := int64(0)
	next := max(prevNext, s.base)
	for {
		hdr, err := r.Peek(logOverhead)
		if err != nil {
			break
		}
		size := int64(int32(binary.BigEndian.Uint32(hdr[offLength:]))) + logOverhead
		if size < batchHeaderSize || size > math.MaxInt32 || pos+size > fileSize {
			break
		}
		if int64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		h, err := checkBatchFrame(buf)
		if err != nil || h.BaseOffset < next || h.LastOffset()-s.base > math.MaxInt32 || h.LastOffset() < h.BaseOffset {
			break
		}
		if err := fn(&recoveredBatch{h: h, pos: pos, bytes: buf}); err != nil {
			return false, err
		}
		if s.idx.full() || s.tidx.full() {
			// The segment was written with a larger segment.index.bytes
			// than the config it is recovered with: grow, never drop data.
			s.indexBytes *= 2
			if err := s.idx.open(true, s.indexBytes); err != nil {
				return false, err
			}
			if err := s.tidx.open(true, s.indexBytes); err != nil {
				return false, err
			}
		}
		s.indexBatch(pos, batchInfo{pos: pos, size: size, base: h.BaseOffset, last: h.LastOffset(), maxTs: h.MaxTimestamp}, interval)
		next = h.LastOffset() + 1
		pos += size
	}
	s.size = pos
	if pos < fileSize {
		if err := s.fs.Truncate(f, pos); err != nil {
			return false, err
		}
		truncated = true
	}
	// What is recovered may be only in the page cache (a killed
	// process's last writes): the caller's sync must reach the disk, and
	// until then no checkpoint records this end as fsynced. An empty
	// segment has no bytes to lose: a cut that did not reach the disk
	// shows as another size at the next open, which recovers it again.
	s.unsynced = s.size > 0
	if s.size > 0 {
		var hb [batchHeaderSize]byte
		if err := preadFull(f, hb[:], 0); err == nil {
			h, _ := ParseBatchHeader(hb[:])
			s.rollTs = tsTime(h.MaxTimestamp)
		}
	}
	if !active {
		// On a full disk the rebuilt indexes stay in memory (the segment
		// stays active for its indexes) and are written when the log
		// closes: a log must open on a full disk (index.go).
		if err = s.finishLocked(false); isNoSpace(err) {
			err = nil
		}
	}
	return truncated, err
}

func tsTime(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// loadClean opens a segment after a clean shutdown: the indexes are trusted
// after a sanity check. It fills size, next (by scanning the tail past the
// last index entry), maxTs. Returns errIndexCorrupt if an index looks wrong.
func (s *segment) loadClean(active, emptyEnd bool, has func(name string) bool) error {
	name := segmentName(s.base)
	if emptyEnd && !has(name+".index") && !has(name+".timeindex") {
		// Known empty, with no index: no system call at all, and no
		// descriptor until its first append or read. rollTs stays zero
		// (the Log starts it at the open).
		s.active, s.size, s.next = active, 0, s.base
		s.idx.n, s.tidx.n = 0, 0
		s.idx.onDisk, s.tidx.onDisk = true, true
		return s.loadTxns(has, s.next)
	}
	st, err := os.Stat(s.path(".log"))
	if err != nil {
		return err
	}
	s.size = st.Size()
	for _, ix := range []*mmIndex{&s.idx, &s.tidx} {
		var ist os.FileInfo
		err := os.ErrNotExist
		if has(filepath.Base(ix.path)) {
			ist, err = os.Stat(ix.path)
		}
		if err != nil {
			if os.IsNotExist(err) && s.size == 0 {
				ix.n = 0
				continue
			}
			return fmt.Errorf("%w: %v", errIndexCorrupt, err)
		}
		if ist.Size()%int64(ix.entrySize) != 0 {
			return fmt.Errorf("%w: %s size %d", errIndexCorrupt, ix.path, ist.Size())
		}
		ix.n = int(ist.Size()) / ix.entrySize
	}
	s.active = active
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size == 0 && s.idx.n == 0 && s.tidx.n == 0 {
		// An empty segment (most of a broker's idle partitions) has
		// nothing to check or scan: it is not opened (no descriptor, no
		// map) until its first read or append.
		s.idx.onDisk, s.tidx.onDisk = true, true
		s.next, s.rollTs = s.base, st.ModTime()
		return s.loadTxns(has, s.next)
	}
	if err := s.openLocked(); err != nil {
		return err
	}
	if err := s.idx.checkOffsets(s.size); err != nil {
		return err
	}
	if err := s.tidx.checkTimes(); err != nil {
		return err
	}
	if t, rel, ok := s.tidx.lastTime(); ok {
		s.maxTs, s.maxTsOffset = t, s.base+int64(rel)
	}
	// A clean shutdown left these files trimmed and fsynced.
	s.idx.onDisk, s.tidx.onDisk = true, true
	// Find the end offset: scan from the last index entry.
	start := int64(0)
	if s.idx.n > 0 {
		_, p := s.idx.offsetAt(s.idx.n - 1)
		start = int64(p)
	}
	s.next = s.base
	var scanned int64
	err = scanFrom(s.file.f, start, s.size, func(e scanEntry) bool {
		s.next = e.last + 1
		scanned += e.size
		return false
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errIndexCorrupt, err)
	}
	if s.idx.n > 0 {
		if r, _ := s.idx.offsetAt(s.idx.n - 1); s.base+int64(r) >= s.next {
			return fmt.Errorf("%w: %s beyond log end", errIndexCorrupt, s.idx.path)
		}
	}
	if t, rel, ok := s.tidx.lastTime(); ok && (s.base+int64(rel) >= s.next || t < 0) {
		return fmt.Errorf("%w: %s beyond log end", errIndexCorrupt, s.tidx.path)
	}
	if s.size > 0 {
		var hb [batchHeaderSize]byte
		if err := preadFull(s.file.f, hb[:], 0); err != nil {
			return err
		}
		h, _ := ParseBatchHeader(hb[:])
		s.rollTs = tsTime(h.MaxTimestamp)
	}
	if s.rollTs.IsZero() {
		s.rollTs = st.ModTime()
	}
	return s.loadTxns(has, math.MaxInt64)
}

// loadTxns reads the .txnindex if the listing has one, keeping the
// entries below end.
func (s *segment) loadTxns(has func(name string) bool, end int64) error {
	s.txns = nil
	if !has(segmentName(s.base) + ".txnindex") {
		return nil
	}
	txns, err := loadTxnIndex(s.path(".txnindex"))
	if err != nil {
		return err
	}
	s.txns = slices.DeleteFunc(txns, func(t abortedTxn) bool { return t.lastOffset >= end })
	return nil
}

// errNotFlushed: the segment is not the size its log's checkpoint
// recorded as fsynced, or its batches do not read as written; it is
// recovered instead (Log.load).
var errNotFlushed = errors.New("storage: segment differs from its checkpointed end")

// loadFlushed opens, after a crash, the last segment of a log whose
// partition checkpoint recorded it as fsynced whole at size bytes (the
// recovery point was the log end): if the .log still has exactly that
// size, nothing was written to it since, so its batches are trusted and
// not re-read or CRC-checked (Kafka re-reads every segment from the
// recovery point). Its indexes are not trusted — an active segment's
// index files may lag or hold stale entries (index.go) — and are rebuilt
// in memory from the batch headers, one pread per batch (none for an
// empty segment, which is not even opened). Nothing is written. Any other
// size, or a header that does not chain on from prevNext, returns
// errNotFlushed and the caller recovers the segment.
func (s *segment) loadFlushed(size int64, interval int, prevNext int64, has func(name string) bool) error {
	st, err := os.Stat(s.path(".log"))
	if err != nil {
		return err
	}
	if st.Size() != size {
		return fmt.Errorf("%w: %s is %d bytes, checkpoint says %d", errNotFlushed, s.path(".log"), st.Size(), size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idx.reset()
	s.tidx.reset()
	s.active = true
	s.size, s.next, s.maxTs, s.maxTsOffset, s.bytesSinceIndex = size, s.base, -1, s.base, 0
	s.rollTs = st.ModTime()
	if size > 0 {
		if err := s.openLocked(); err != nil {
			return err
		}
		var hb [batchHeaderSize]byte
		next := max(prevNext, s.base)
		for pos := int64(0); pos < size; {
			if size-pos < batchHeaderSize {
				return fmt.Errorf("%w: short batch at %d", errNotFlushed, pos)
			}
			if err := preadFull(s.file.f, hb[:], pos); err != nil {
				return err
			}
			h, err := ParseBatchHeader(hb[:])
			n := h.Size()
			if err != nil || h.Magic != 2 || n < batchHeaderSize || pos+n > size || h.BaseOffset < next ||
				h.LastOffset() < h.BaseOffset || h.LastOffset()-s.base > math.MaxInt32 {
				return fmt.Errorf("%w: bad batch header at %d", errNotFlushed, pos)
			}
			if pos == 0 {
				if t := tsTime(h.MaxTimestamp); !t.IsZero() {
					s.rollTs = t
				}
			}
			if s.idx.full() || s.tidx.full() {
				// Written under a larger segment.index.bytes: grow.
				s.indexBytes *= 2
				if err := s.idx.open(true, s.indexBytes); err != nil {
					return err
				}
				if err := s.tidx.open(true, s.indexBytes); err != nil {
					return err
				}
			}
			s.indexBatch(pos, batchInfo{pos: pos, size: n, base: h.BaseOffset, last: h.LastOffset(), maxTs: h.MaxTimestamp}, interval)
			next = h.LastOffset() + 1
			pos += n
		}
	}
	// Entries past the end cannot be (an abort's marker is in the .log
	// before its entry is written), but the file is not trusted to have
	// been cut with the log.
	return s.loadTxns(has, s.next)
}

// lastModified is used for retention when no batch carries a timestamp.
func (s *segment) lastModified() time.Time {
	st, err := os.Stat(s.path(".log"))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// truncateTo drops every batch from the one at position pos on, with its
// index entries. If readers still hold the file, the kept prefix is copied
// into a fresh file that replaces it, so their bytes stay intact.
func (s *segment) truncateTo(pos int64, nextOffset int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openLocked(); err != nil {
		return err
	}
	s.markChangedLocked()
	if s.file.refs.Load() > 1 {
		if err := s.replaceFileLocked(pos); err != nil {
			return err
		}
	} else if err := s.fs.Truncate(s.file.f, pos); err != nil {
		return err
	}
	rel := uint32(0)
	if nextOffset > s.base {
		rel = uint32(nextOffset - s.base)
	}
	s.idx.truncateOffsets(rel)
	s.tidx.truncateTimes(rel)
	s.size = pos
	s.next = max(nextOffset, s.base)
	if s.size == 0 {
		s.next = s.base
	}
	// The max timestamp must be recomputed from what remains.
	s.maxTs, s.maxTsOffset = -1, s.base
	if err := s.recomputeMaxTsLocked(); err != nil {
		return err
	}
	var keep []abortedTxn
	for _, t := range s.txns {
		if t.lastOffset < nextOffset {
			keep = append(keep, t)
		}
	}
	if len(keep) != len(s.txns) {
		s.txns = keep
		if err := writeTxnIndex(s.fs, s.path(".txnindex"), keep); err != nil {
			return err
		}
		s.txnDirty.Store(true)
	}
	return nil
}

// cutTail drops what an Append wrote from position pos (offset next) on,
// after an I/O error failed the dir: best effort on disk (the file is
// truncated if the disk lets us; recovery cuts torn batches anyway),
// exact in memory. It is truncated in place: a reader that already got a
// region of these batches (a follower reading up to the LEO) finds the file
// ending early and fails its send, as every read of a failed dir fails.
func (s *segment) cutTail(pos, next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size <= pos {
		return
	}
	if s.file != nil {
		_ = s.fs.Truncate(s.file.f, pos)
	}
	s.markChangedLocked()
	rel := uint32(0)
	if next > s.base {
		rel = uint32(next - s.base)
	}
	s.idx.truncateOffsets(rel)
	s.tidx.truncateTimes(rel)
	s.size = pos
	s.next = max(next, s.base)
	if pos == 0 {
		s.next = s.base
	}
}

func (s *segment) recomputeMaxTsLocked() error {
	var hb [batchHeaderSize]byte
	pos := int64(0)
	for pos < s.size {
		if err := preadFull(s.file.f, hb[:], pos); err != nil {
			return err
		}
		h, _ := ParseBatchHeader(hb[:])
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.LastOffset()
		}
		pos += h.Size()
	}
	return nil
}

// replaceFileLocked writes bytes [0,pos) of the .log into a new file that
// takes its name; the old inode lives on for readers that reference it.
func (s *segment) replaceFileLocked(pos int64) error {
	tmp := s.path(".log.truncating")
	nf, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	var off int64
	for off < pos {
		n, err := unix.CopyFileRange(int(s.file.f.Fd()), &off, int(nf.Fd()), nil, int(pos-off), 0)
		if err != nil || n == 0 {
			// Fall back to a plain copy.
			if _, err := nf.Seek(0, io.SeekStart); err != nil {
				nf.Close()
				return err
			}
			if err := nf.Truncate(0); err != nil {
				nf.Close()
				return err
			}
			if _, err := io.Copy(nf, io.NewSectionReader(s.file.f, 0, pos)); err != nil {
				nf.Close()
				return err
			}
			break
		}
	}
	if err := s.fs.Rename(tmp, s.path(".log")); err != nil {
		nf.Close()
		return err
	}
	s.file.release()
	s.file = newFileRef(nf)
	return nil
}

// remove renames the segment's files to *.deleted (they are removed later,
// after file.delete.delay.ms) and closes the segment's own handles. It
// returns the renamed paths.
func (s *segment) markDeleted() ([]string, error) {
	s.closeHandles()
	var out []string
	var first error
	for _, ext := range []string{".log", ".index", ".timeindex", ".txnindex"} {
		p := s.path(ext)
		if err := s.fs.Rename(p, p+".deleted"); err != nil {
			if !os.IsNotExist(err) && first == nil {
				first = err
			}
			continue
		}
		out = append(out, p+".deleted")
	}
	return out, first
}
