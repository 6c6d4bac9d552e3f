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
// The active segment's index files are preallocated (sparse) to
// segment.index.bytes and written through a shared mmap; they are trimmed to
// their entries on roll and on clean shutdown. After an unclean shutdown the
// indexes of every segment past the recovery point are rebuilt from the log,
// so only trimmed, synced indexes are ever trusted.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

var errIndexCorrupt = errors.New("storage: index corrupt")

// mmIndex is a file of fixed-size entries mapped into memory while its
// segment is open. n (the number of valid entries) survives unmapping.
type mmIndex struct {
	path      string
	entrySize int
	n         int
	maxN      int    // capacity in entries when writable
	mm        []byte // nil while unmapped or empty
	writable  bool
}

// mapIndex maps the file. Writable maps preallocate the file to maxBytes
// (rounded down to whole entries).
func (ix *mmIndex) mapIndex(writable bool, maxBytes int) error {
	if ix.mm != nil && ix.writable == writable && (!writable || maxBytes/ix.entrySize <= ix.maxN) {
		return nil
	}
	ix.unmap()
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR | os.O_CREATE
	}
	f, err := os.OpenFile(ix.path, flag, 0o644)
	if err != nil {
		if os.IsNotExist(err) && !writable && ix.n == 0 {
			return nil
		}
		return err
	}
	defer f.Close()
	size := ix.n * ix.entrySize
	prot := unix.PROT_READ
	if writable {
		size = maxBytes / ix.entrySize * ix.entrySize
		if size < ix.n*ix.entrySize {
			size = ix.n * ix.entrySize
		}
		if err := f.Truncate(int64(size)); err != nil {
			return err
		}
		prot |= unix.PROT_WRITE
		ix.maxN = size / ix.entrySize
	} else {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.Size() < int64(size) {
			return fmt.Errorf("%w: %s shorter than its %d entries", errIndexCorrupt, ix.path, ix.n)
		}
	}
	if size == 0 {
		ix.writable = writable
		return nil
	}
	mm, err := unix.Mmap(int(f.Fd()), 0, size, prot, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	ix.mm, ix.writable = mm, writable
	return nil
}

func (ix *mmIndex) unmap() {
	if ix.mm != nil {
		_ = unix.Munmap(ix.mm)
		ix.mm = nil
	}
	ix.writable = false
}

func (ix *mmIndex) sync() error {
	if ix.mm != nil && ix.writable {
		return unix.Msync(ix.mm, unix.MS_SYNC)
	}
	return nil
}

// trim cuts the file to its entries (unmapping first).
func (ix *mmIndex) trim() error {
	ix.unmap()
	err := os.Truncate(ix.path, int64(ix.n*ix.entrySize))
	if os.IsNotExist(err) && ix.n == 0 {
		return nil
	}
	return err
}

func (ix *mmIndex) full() bool { return ix.writable && ix.n >= ix.maxN }

func (ix *mmIndex) entry(i int) []byte {
	return ix.mm[i*ix.entrySize : (i+1)*ix.entrySize]
}

// --- offset index ---

func (ix *mmIndex) offsetAt(i int) (rel uint32, pos uint32) {
	e := ix.entry(i)
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

func (ix *mmIndex) appendOffset(rel uint32, pos uint32) {
	e := ix.mm[ix.n*offsetEntrySize:]
	binary.BigEndian.PutUint32(e, rel)
	binary.BigEndian.PutUint32(e[4:], pos)
	ix.n++
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
	if ix.mm == nil {
		ix.n = 0
		return
	}
	ix.n = sort.Search(ix.n, func(i int) bool { r, _ := ix.offsetAt(i); return r >= rel })
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

func (ix *mmIndex) appendTime(ts int64, rel uint32) {
	e := ix.mm[ix.n*timeEntrySize:]
	binary.BigEndian.PutUint64(e, uint64(ts))
	binary.BigEndian.PutUint32(e[8:], rel)
	ix.n++
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
	if ix.mm == nil {
		ix.n = 0
		return
	}
	ix.n = sort.Search(ix.n, func(i int) bool { _, r := ix.timeAt(i); return r >= rel })
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
