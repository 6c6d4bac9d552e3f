package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Lazily materialised logs (issue 14: creating thousands of partitions a
// second).
//
// A new partition's log (GetOrCreateLogs, GetOrCreate of a partition the
// log dir does not hold) does no file-system work: it is an in-memory
// empty log — one active segment at offset 0 with no file, no leader
// epochs, no producers — and its "on disk" state is recorded as what an
// absent directory means: the partition checkpoint {recovery point 0, log
// start 0, HW 0, end segment 0 at position 0} and an empty
// leader-epoch-checkpoint. Writing the same again is skipped as for any
// log (writeCheckpointFile, epochCache.persist), so flushes, closes and
// checkpoints of a log that never changed write nothing; the first write
// that needs a file — an append (leader or follower), a truncation that
// restarts the log elsewhere, a leader epoch, producer snapshot or
// partition checkpoint with other content — creates it through the log's
// FileOps, which is a lazyDir until then: the first file created makes
// the directory (materialisation).
//
// Invariant: nothing written into a lazily created log counts as durable
// (an fsync of its .log, the recovery point passing it, an
// acknowledgement relying on either) before the directory's entry in the
// log dir and the entry of its first .log in the directory are durable.
// Every one of those steps is an fsync through the log's FileOps (a
// segment's sync before the recovery point moves or a durable append is
// acknowledged; a checkpoint's .tmp), or the Manager's syncfs (close,
// open), which covers the directories too. So lazyDir does not fsync the
// directories when it makes them: it owes the fsyncs, and pays them —
// the partition directory, then the log dir, once — in the first Sync of
// anything in the log after the directory or its first .log was made,
// before that Sync. (Paid at once, two directory fsyncs took 7 ms a
// partition on the loaded test machine: a first produce to 10,000 new
// partitions would have waited over a minute for them; now an append
// that is not fsynced costs a mkdir and a create more, and the fsyncs
// go with the log's first flush, where one fsync is paid anyway.) Files
// created after the first .log are the same as in any log (rolls,
// atomic small files that fsync their directory).
//
// A crash before or during materialisation leaves no directory, or an
// empty directory, or one holding an empty (or partly fsynced) first
// file: the first is the empty log the metadata recreates lazily at the
// next start, the others open as any log without a checkpoint (recovered
// from offset 0, complete batches only). Until materialisation nothing
// on disk belongs to the log: reads see an empty log (no file is opened
// for an empty segment), Size is 0, deletion and stray renames have
// nothing to move, close writes nothing, retention and compaction find
// nothing to do. The Manager knows every partition directory of its log
// dir (OpenManager loads all of them, and every later one is made by a
// log it holds), so a log it creates lazily has no directory on disk; one
// that appears all the same is not adopted (materialisation fails with
// EEXIST, failing the log dir) rather than written over.

// lazyDir states.
const (
	lazyAbsent  int32 = iota // no directory: the log is the in-memory empty log
	lazyDirMade              // directory made, no .log created in it yet
	lazyDone                 // materialised: directory and first .log made
	lazyRetired              // deleted or set aside while absent: never made
)

// errLazyRetired is the error of a file created in a lazily created log
// that was deleted before it was materialised.
var errLazyRetired = fmt.Errorf("storage: log deleted before it was written: %w", fs.ErrNotExist)

// lazyDir is the FileOps of a lazily created log: the log's own FileOps
// (the Manager's) plus materialisation on the first file created, and
// the directory fsyncs that materialisation owes before the first fsync
// of anything in the log.
type lazyDir struct {
	FileOps
	dir    string
	noSync bool

	mu      sync.Mutex // serializes materialisation and the owed fsyncs
	state   atomic.Int32
	owed    atomic.Bool // the directory fsyncs are owed (see above)
	madeDir bool        // under mu: this lazyDir's Mkdir succeeded
}

func newLazyDir(inner FileOps, dir string, noSync bool) *lazyDir {
	return &lazyDir{FileOps: inner, dir: dir, noSync: noSync}
}

// OpenFile materialises the directory before the first file is created
// in it; every other call goes straight through.
func (d *lazyDir) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if flag&os.O_CREATE == 0 || d.state.Load() == lazyDone {
		return d.FileOps.OpenFile(name, flag, perm)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state.Load() {
	case lazyRetired:
		return nil, errLazyRetired
	case lazyDone:
		return d.FileOps.OpenFile(name, flag, perm)
	case lazyAbsent:
		if err := os.Mkdir(d.dir, 0o755); err != nil && !(d.madeDir && errors.Is(err, fs.ErrExist)) {
			return nil, fmt.Errorf("storage: materialise %s: %w", d.dir, err)
		}
		d.madeDir = true
		d.owed.Store(true) // the directory's entry in the log dir
		d.state.Store(lazyDirMade)
	}
	f, err := d.FileOps.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if isSegmentLog(name) {
		d.owed.Store(true) // the first .log's entry in the directory
		d.state.Store(lazyDone)
	}
	return f, nil
}

// Sync first pays the directory fsyncs materialisation owes: the
// partition directory (the first .log's entry), then the log dir (the
// directory's entry), once.
func (d *lazyDir) Sync(f *os.File) error {
	if d.owed.Load() {
		if err := d.syncOwed(); err != nil {
			return err
		}
	}
	return d.FileOps.Sync(f)
}

func (d *lazyDir) syncOwed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.owed.Load() || d.noSync {
		d.owed.Store(false)
		return nil
	}
	if err := syncDirFS(d.FileOps, d.dir); err != nil {
		return err
	}
	if err := syncDirFS(d.FileOps, filepath.Dir(d.dir)); err != nil {
		return err
	}
	d.owed.Store(false)
	return nil
}

// absent reports whether the directory does not exist (yet, or ever).
func (d *lazyDir) absent() bool {
	s := d.state.Load()
	return s == lazyAbsent || s == lazyRetired
}

// Rename and Remove of a file in a directory that does not exist fail as
// the OS would, without a system call (a new log's segment replaced
// before it was written, a truncation of the empty log).
func (d *lazyDir) Rename(oldpath, newpath string) error {
	if d.absent() {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.ENOENT}
	}
	return d.FileOps.Rename(oldpath, newpath)
}

func (d *lazyDir) Remove(name string) error {
	if d.absent() {
		return &os.PathError{Op: "remove", Path: name, Err: syscall.ENOENT}
	}
	return d.FileOps.Remove(name)
}

// retireIfAbsent marks a log that was never materialised as retired
// (deleted or set aside: nothing on disk to move) and reports whether it
// did; a materialised log's directory is the caller's to rename.
func (d *lazyDir) retireIfAbsent() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state.Load() != lazyAbsent {
		return false
	}
	d.state.Store(lazyRetired)
	return true
}

func isSegmentLog(name string) bool {
	_, ok := parseSegmentBase(filepath.Base(name))
	return ok && strings.HasSuffix(name, ".log")
}

// unmaterialised reports whether the log was created lazily and has no
// directory on disk yet (or was retired before it had one).
func (l *Log) unmaterialised() bool {
	d, ok := l.fs.(*lazyDir)
	return ok && d.absent()
}

// Materialised reports whether the log has its directory on disk (false
// only for a lazily created log nothing has been written to yet).
func (l *Log) Materialised() bool { return !l.unmaterialised() }

// initLazy is load for a log created lazily: the empty log at offset 0,
// with the checkpoint and epochs an absent directory stands for recorded
// as on disk (see above). Nothing touches the file system.
func (l *Log) initLazy() error {
	l.fs = newLazyDir(l.fs, l.dir, l.noSync)
	s := l.newSegment(0)
	s.active, s.rollTs, s.fresh = true, l.clock(), true
	l.segs = []*segment{s}
	l.logStart, l.leo, l.recoveryPoint, l.hw = 0, 0, 0, 0
	l.epochs = &epochCache{path: filepath.Join(l.dir, epochCheckpointFile), onDisk: encodeEpochs(nil), noSync: l.noSync, fs: l.fs}
	l.checkpointOnDisk = &partitionCheckpoint{recoveryPoint: 0, logStart: 0, highWatermark: 0, endSegment: 0, endPosition: 0}
	l.checkpointImplicit = true
	return nil
}
