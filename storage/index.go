package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// Index files, as Kafka writes them (big endian, fixed-size entries, no header):
//
//	.index      offset index: relativeOffset uint32, position uint32 (8 bytes).
//	            relativeOffset = a batch's last offset - segment base offset,
//	            position = byte position of that batch in the .log file.
//	            One entry whenever more than index.interval.bytes were appended
//	            since the previous entry; offsets and positions strictly increase.
//	.timeindex  time index: timestamp int64, relativeOffset uint32 (12 bytes).
//	            timestamp = the largest batch max-timestamp seen so far in the
//	            segment, relativeOffset = last offset of the batch that had it.
//	            Appended with the offset-index entries when the timestamp grew,
//	            and once more when the segment becomes inactive; timestamps
//	            strictly increase.
//
// The active segment's entries live in memory (the authority while it is
// active) and are written to the file with pwrite, never through a shared
// writable map: a full disk must come back as ENOSPC from a write, not as a
// SIGBUS on a store into a sparse, preallocated page (issue 11). Pending
// entries are written when the segment is synced (Flush, durable appends)
// and when it becomes inactive (roll, clean shutdown), where the file is
// trimmed to its entries and fsynced; finished segments' indexes are mapped
// read-only. After an unclean shutdown the indexes of every segment past
// the recovery point are rebuilt from the log, so only trimmed, synced
// indexes are ever trusted — which is also why the active index file may
// lag its entries: opening a log writes nothing into it, and a log opens
// on a full disk.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

var errIndexCorrupt = errors.New("storage: index corrupt")

// mmIndex is one index file's entries. While its segment is active they are
// heap memory that survives the segment's handles being closed; while
// inactive, a read-only map of the (trimmed) file while the segment is open.
// n (the number of valid entries) survives unmapping.
type mmIndex struct {
	path      string
	entrySize int
	n         int
	maxN      int    // capacity in entries while active (segment.index.bytes)
	mm        []byte // entries [0,n): heap (active), a read-only map, or nil
	active    bool   // mm is heap memory and the authority
	written   int    // active: entries [0,written) are in the file
	// onDisk: the file holds exactly entries [0,n), trimmed and fsynced
	// (a clean open trusted it, or finish synced it, and nothing changed
	// since), so finishing needs no write: an idle partition closes
	// without touching its indexes. A missing file with n == 0 counts,
	// as a clean open accepts it for an empty segment.
	onDisk bool
	fs     FileOps
}

// open makes the entries readable (and, if active, appendable with room for
// maxBytes of entries). An inactive index is mapped read-only; an active
// one is read into memory once and then kept there.
func (ix *mmIndex) open(active bool, maxBytes int) error {
	if active {
		capN := max(maxBytes/ix.entrySize, ix.n)
		if ix.active {
			ix.maxN = max(ix.maxN, capN)
			return nil
		}
		buf := make([]byte, ix.n*ix.entrySize)
		if ix.n > 0 {
			if ix.mm != nil {
				copy(buf, ix.mm)
			} else if err := ix.readInto(buf); err != nil {
				return err
			}
		}
		ix.unmap()
		ix.mm, ix.active, ix.written, ix.maxN = buf, true, ix.n, capN
		return nil
	}
	if ix.active {
		return fmt.Errorf("storage: %s: mapping an active index read-only", ix.path)
	}
	if ix.mm != nil || ix.n == 0 {
		return nil
	}
	f, err := os.Open(ix.path)
	if err != nil {
		return err
	}
	defer f.Close()
	size := ix.n * ix.entrySize
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < int64(size) {
		return fmt.Errorf("%w: %s shorter than its %d entries", errIndexCorrupt, ix.path, ix.n)
	}
	// A read-only map of a file whose first size bytes exist: no store
	// ever faults, so a full disk cannot SIGBUS here.
	mm, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	ix.mm = mm
	return nil
}

func (ix *mmIndex) readInto(buf []byte) error {
	f, err := os.Open(ix.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, 0); err != nil {
		return fmt.Errorf("%w: %s: %v", errIndexCorrupt, ix.path, err)
	}
	return nil
}

// unmap releases a read-only map (the segment's handles are closing). An
// active index keeps its memory: it is the only copy of unwritten entries.
func (ix *mmIndex) unmap() {
	if ix.mm != nil && !ix.active {
		_ = unix.Munmap(ix.mm)
		ix.mm = nil
	}
}

// reset forgets every entry (recovery rebuilds them).
func (ix *mmIndex) reset() {
	ix.unmap()
	ix.mm, ix.active, ix.n, ix.written, ix.maxN, ix.onDisk = nil, false, 0, 0, 0, false
}

// writePending writes the active entries not yet in the file with one
// pwrite at their place. On error nothing is counted as written.
func (ix *mmIndex) writePending() error {
	if !ix.active || ix.written >= ix.n {
		return nil
	}
	f, err := ix.fs.OpenFile(ix.path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = ix.fs.WriteAt(f, ix.mm[ix.written*ix.entrySize:ix.n*ix.entrySize], int64(ix.written*ix.entrySize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	ix.written = ix.n
	return nil
}

// finish ends the active phase: pending entries written, the file cut to
// its entries (dropping stale ones a truncation left) and, with sync,
// fsynced. The memory is dropped only on success; the segment maps the
// file read-only when it next needs it.
func (ix *mmIndex) finish(sync bool) error {
	if !ix.active {
		return nil
	}
	if ix.onDisk {
		ix.mm, ix.active, ix.written, ix.maxN = nil, false, 0, 0
		return nil
	}
	// One open for the pending entries and the cut (a clean close
	// finishes the indexes of every log written since its last flush).
	f, err := ix.fs.OpenFile(ix.path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if ix.written < ix.n {
		_, err = ix.fs.WriteAt(f, ix.mm[ix.written*ix.entrySize:ix.n*ix.entrySize], int64(ix.written*ix.entrySize))
	}
	if err == nil {
		err = ix.fs.Truncate(f, int64(ix.n*ix.entrySize))
	}
	if err == nil && sync {
		err = ix.fs.Sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	ix.mm, ix.active, ix.written, ix.maxN, ix.onDisk = nil, false, 0, 0, sync
	return nil
}

func (ix *mmIndex) full() bool { return ix.active && ix.n >= ix.maxN }

func (ix *mmIndex) entry(i int) []byte {
	return ix.mm[i*ix.entrySize : (i+1)*ix.entrySize]
}

// --- offset index ---

func (ix *mmIndex) offsetAt(i int) (rel uint32, pos uint32) {
	e := ix.entry(i)
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

// appendOffset adds an entry to an active index (in memory).
func (ix *mmIndex) appendOffset(rel uint32, pos uint32) {
	ix.mm = binary.BigEndian.AppendUint32(ix.mm[:ix.n*offsetEntrySize], rel)
	ix.mm = binary.BigEndian.AppendUint32(ix.mm, pos)
	ix.n++
	ix.onDisk = false
}

// lookupOffset returns the position of the largest entry whose relative
// offset is <= rel (0 if none).
func (ix *mmIndex) lookupOffset(rel uint32) uint32 {
	if ix.mm == nil {
		return 0
	}
	i := sort.Search(ix.n, func(i int) bool { r, _ := ix.offsetAt(i); return r > rel }) - 1
	if i < 0 {
		return 0
	}
	_, pos := ix.offsetAt(i)
	return pos
}

// lookupPosition returns the largest entry position that is <= pos (0 if
// none): a batch boundary to scan from.
func (ix *mmIndex) lookupPosition(pos uint32) uint32 {
	if ix.mm == nil {
		return 0
	}
	i := sort.Search(ix.n, func(i int) bool { _, p := ix.offsetAt(i); return p > pos }) - 1
	if i < 0 {
		return 0
	}
	_, p := ix.offsetAt(i)
	return p
}

// truncateOffsets drops entries with relative offset >= rel.
func (ix *mmIndex) truncateOffsets(rel uint32) {
	n := ix.n
	defer func() { ix.onDisk = ix.onDisk && ix.n == n }()
	if ix.mm == nil {
		ix.n = 0
		return
	}
	ix.n = sort.Search(ix.n, func(i int) bool { r, _ := ix.offsetAt(i); return r >= rel })
	ix.written = min(ix.written, ix.n)
}

// checkOffsets is the sanity check of a trusted (clean-shutdown) index:
// strictly increasing offsets and positions within the log.
func (ix *mmIndex) checkOffsets(logSize int64) error {
	var pr, pp uint32
	for i := 0; i < ix.n; i++ {
		r, p := ix.offsetAt(i)
		if (i > 0 && (r <= pr || p <= pp)) || int64(p) >= logSize {
			return fmt.Errorf("%w: %s entry %d", errIndexCorrupt, ix.path, i)
		}
		pr, pp = r, p
	}
	return nil
}

// --- time index ---

func (ix *mmIndex) timeAt(i int) (ts int64, rel uint32) {
	e := ix.entry(i)
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

// appendTime adds an entry to an active index (in memory).
func (ix *mmIndex) appendTime(ts int64, rel uint32) {
	ix.mm = binary.BigEndian.AppendUint64(ix.mm[:ix.n*timeEntrySize], uint64(ts))
	ix.mm = binary.BigEndian.AppendUint32(ix.mm, rel)
	ix.n++
	ix.onDisk = false
}

func (ix *mmIndex) lastTime() (ts int64, rel uint32, ok bool) {
	if ix.n == 0 || ix.mm == nil {
		return -1, 0, false
	}
	ts, rel = ix.timeAt(ix.n - 1)
	return ts, rel, true
}

// lookupTime returns the relative offset of the largest entry whose timestamp
// is <= ts, or ok=false if there is none.
func (ix *mmIndex) lookupTime(ts int64) (rel uint32, ok bool) {
	if ix.mm == nil {
		return 0, false
	}
	i := sort.Search(ix.n, func(i int) bool { t, _ := ix.timeAt(i); return t > ts }) - 1
	if i < 0 {
		return 0, false
	}
	_, rel = ix.timeAt(i)
	return rel, true
}

// truncateTimes drops entries whose relative offset is >= rel.
func (ix *mmIndex) truncateTimes(rel uint32) {
	n := ix.n
	defer func() { ix.onDisk = ix.onDisk && ix.n == n }()
	if ix.mm == nil {
		ix.n = 0
		return
	}
	ix.n = sort.Search(ix.n, func(i int) bool { _, r := ix.timeAt(i); return r >= rel })
	ix.written = min(ix.written, ix.n)
}

func (ix *mmIndex) checkTimes() error {
	var pt int64
	var pr uint32
	for i := 0; i < ix.n; i++ {
		t, r := ix.timeAt(i)
		if i > 0 && (t <= pt || r < pr) {
			return fmt.Errorf("%w: %s entry %d", errIndexCorrupt, ix.path, i)
		}
		pt, pr = t, r
	}
	return nil
}
