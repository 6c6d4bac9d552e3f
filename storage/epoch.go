package storage

import (
	"bytes"
	"path/filepath"
)

// epochCache is the leader-epoch cache: (epoch, start offset) pairs with both
// strictly increasing, persisted in leader-epoch-checkpoint on every change.
// Guarded by the Log's lock.
type epochCache struct {
	path    string
	entries []epochEntry
	noSync  bool
	fs      FileOps
	// onDisk is the encoding of what the file holds (read at load or
	// last written; nil: unknown): persisting the same entries again
	// writes nothing. unsynced: that file was written by persistLazily
	// and is not fsynced yet.
	onDisk   []byte
	unsynced bool
	// dirty: entries changed in memory only (a new leader's epoch,
	// written with the partition's first batch of it, or by the next
	// persist).
	dirty bool
}

// loadEpochCache reads leader-epoch-checkpoint (absent, or known not to
// exist: an empty cache).
// A file that does not parse comes back as an error beside an empty cache:
// the caller rebuilds it from the batches (Log.rebuildEpochs).
func loadEpochCache(dir string, exists bool) (*epochCache, error) {
	p := filepath.Join(dir, epochCheckpointFile)
	if !exists {
		return &epochCache{path: p, onDisk: encodeEpochs(nil)}, nil
	}
	es, err := readEpochs(p)
	if err != nil {
		return &epochCache{path: p}, err
	}
	return &epochCache{path: p, entries: es, onDisk: encodeEpochs(es)}, nil
}

// persist makes the file hold the entries, durably.
func (c *epochCache) persist() error {
	enc := encodeEpochs(c.entries)
	if c.onDisk != nil && bytes.Equal(enc, c.onDisk) {
		if !c.unsynced || c.noSync {
			c.dirty = false
			return nil
		}
		fs := fileOpsOrOS(c.fs)
		if err := syncFile(fs, c.path); err != nil {
			return err
		}
		if err := syncDirFS(fs, filepath.Dir(c.path)); err != nil {
			return err
		}
		c.unsynced, c.dirty = false, false
		return nil
	}
	c.onDisk = nil
	if err := writeFileAtomicFS(fileOpsOrOS(c.fs), c.path, enc, c.noSync); err != nil {
		return err
	}
	c.onDisk, c.unsynced, c.dirty = enc, false, false
	return nil
}

// persistLazily writes the entries (atomically, by rename) without
// fsyncing: the next persist — a flush, the close — makes them durable.
// A leader's new epoch has no batch yet, so an epoch lost by a crash
// before then loses nothing that recovery needs: recovery re-derives the
// epochs of the batches it re-reads (Log.load), as Kafka's LogLoader does,
// and Kafka writes a new leader's epoch checkpoint without an fsync too.
// Becoming leader of thousands of partitions at startup then costs no
// fsync per partition.
func (c *epochCache) persistLazily() error {
	enc := encodeEpochs(c.entries)
	if c.onDisk != nil && bytes.Equal(enc, c.onDisk) {
		c.dirty = false
		return nil
	}
	c.onDisk = nil
	if err := writeFileAtomicFS(fileOpsOrOS(c.fs), c.path, enc, true); err != nil {
		return err
	}
	c.onDisk, c.unsynced, c.dirty = enc, true, false
	return nil
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at startOffset. Entries that conflict
// (an epoch >= epoch or a start offset >= startOffset) are replaced. It
// reports whether anything changed.
func (c *epochCache) assign(epoch int32, startOffset int64) bool {
	if epoch < 0 {
		return false
	}
	if l, ok := c.latest(); ok && l.epoch == epoch && l.startOffset <= startOffset {
		return false
	}
	keep := c.entries[:0]
	for _, e := range c.entries {
		if e.epoch < epoch && e.startOffset < startOffset {
			keep = append(keep, e)
		}
	}
	c.entries = append(keep, epochEntry{epoch, startOffset})
	return true
}

// endOffsetFor implements OffsetForLeaderEpoch: the largest epoch <= the
// requested one and the start offset of the next higher epoch (or the log
// end when the requested epoch is the latest).
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	l, ok := c.latest()
	if !ok || epoch < 0 {
		return -1, -1
	}
	if epoch == l.epoch {
		return epoch, leo
	}
	hi := -1
	for i, e := range c.entries {
		if e.epoch > epoch {
			hi = i
			break
		}
	}
	if hi < 0 {
		return -1, -1
	}
	if hi == 0 {
		return epoch, c.entries[0].startOffset
	}
	return c.entries[hi-1].epoch, c.entries[hi].startOffset
}

// truncateFromEnd drops entries starting at or after end.
func (c *epochCache) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].startOffset >= end {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops entries wholly below start; the last of them is
// kept with its start moved up to start.
func (c *epochCache) truncateFromStart(start int64) bool {
	i := 0
	for i < len(c.entries) && c.entries[i].startOffset < start {
		i++
	}
	if i == 0 {
		return false
	}
	last := c.entries[i-1]
	rest := append([]epochEntry(nil), c.entries[i:]...)
	if len(rest) == 0 || rest[0].startOffset > start {
		last.startOffset = start
		rest = append([]epochEntry{last}, rest...)
	}
	c.entries = rest
	return true
}

// pendingTail reports whether the cache differs from what its file holds
// only by a last entry starting at leo — a leader's epoch with no batch
// yet, the state every partition is in after a restart's elections — and
// returns that entry. A clean shutdown writes such entries to the log
// dir's one pending-epochs file instead of one file per partition
// (pendingepochs.go).
func (c *epochCache) pendingTail(leo int64) (epochEntry, bool) {
	n := len(c.entries)
	if n == 0 || c.entries[n-1].startOffset != leo || c.onDisk == nil {
		return epochEntry{}, false
	}
	var buf [128]byte // no allocation for the usual few entries (a close checks every log)
	if !bytes.Equal(appendEpochs(buf[:0], c.entries[:n-1]), c.onDisk) {
		return epochEntry{}, false
	}
	return c.entries[n-1], true
}
