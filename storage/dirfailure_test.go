package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// faultFS is a FileOps that fails chosen calls: the fault-injection seam
// of the log-dir failure tests. Rules stay armed once set.
type faultFS struct {
	osFileOps
	mu    sync.Mutex
	rules []faultRule
	calls map[string][]string // op -> paths, every call
}

type faultRule struct {
	op      string // "open", "write", "writeat", "sync", "truncate", "rename", "remove"
	suffix  string // the path (file name, or rename's source) ends with it
	err     error
	partial bool // writeat/write: the first half of the bytes land before the error
}

func newFaultFS() *faultFS { return &faultFS{calls: map[string][]string{}} }

func (f *faultFS) arm(r faultRule) {
	f.mu.Lock()
	f.rules = append(f.rules, r)
	f.mu.Unlock()
}

func (f *faultFS) check(op, path string) (faultRule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op] = append(f.calls[op], path)
	for _, r := range f.rules {
		if r.op == op && strings.HasSuffix(path, r.suffix) {
			return r, true
		}
	}
	return faultRule{}, false
}

func (f *faultFS) count(op, suffix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.calls[op] {
		if strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if r, ok := f.check("open", name); ok {
		return nil, &os.PathError{Op: "open", Path: name, Err: r.err}
	}
	return os.OpenFile(name, flag, perm)
}

func (f *faultFS) WriteAt(fl *os.File, b []byte, off int64) (int, error) {
	if r, ok := f.check("writeat", fl.Name()); ok {
		n := 0
		if r.partial {
			n, _ = fl.WriteAt(b[:len(b)/2], off)
		}
		return n, &os.PathError{Op: "write", Path: fl.Name(), Err: r.err}
	}
	return fl.WriteAt(b, off)
}

func (f *faultFS) Write(fl *os.File, b []byte) (int, error) {
	if r, ok := f.check("write", fl.Name()); ok {
		n := 0
		if r.partial {
			n, _ = fl.Write(b[:len(b)/2])
		}
		return n, &os.PathError{Op: "write", Path: fl.Name(), Err: r.err}
	}
	return fl.Write(b)
}

func (f *faultFS) Sync(fl *os.File) error {
	if r, ok := f.check("sync", fl.Name()); ok {
		return &os.PathError{Op: "sync", Path: fl.Name(), Err: r.err}
	}
	return fl.Sync()
}

func (f *faultFS) Truncate(fl *os.File, size int64) error {
	if r, ok := f.check("truncate", fl.Name()); ok {
		return &os.PathError{Op: "truncate", Path: fl.Name(), Err: r.err}
	}
	return fl.Truncate(size)
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if r, ok := f.check("rename", oldpath); ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: r.err}
	}
	return os.Rename(oldpath, newpath)
}

func (f *faultFS) Remove(name string) error {
	if r, ok := f.check("remove", name); ok {
		return &os.PathError{Op: "remove", Path: name, Err: r.err}
	}
	return os.Remove(name)
}

func openFaultManager(t *testing.T, dir string, fs FileOps) *Manager {
	t.Helper()
	m, err := OpenManager(ManagerOptions{Dir: dir, FileOps: fs, RetentionCheckInterval: time.Hour,
		ProducerIDExpiration: 100 * 365 * 24 * time.Hour, CleanerDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustAppend(t *testing.T, l *Log, b []byte) AppendResult {
	t.Helper()
	r, err := l.Append(b, leader)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// requireFailed checks the state every failure must leave: the dir
// reported failed (Failed and FailureC), appends and reads refused with
// KAFKA_STORAGE_ERROR without touching the files, the log end where the
// last acknowledged append left it.
func requireFailed(t *testing.T, m *Manager, l *Log, fs *faultFS, leo int64) {
	t.Helper()
	if m.Failed() == nil || l.Failed() == nil {
		t.Fatal("dir not reported failed")
	}
	select {
	case <-m.FailureC():
	default:
		t.Fatal("FailureC not closed")
	}
	if got := l.LogEndOffset(); got != leo {
		t.Fatalf("log end %d after the failure, want %d (the failed batch must not count)", got, leo)
	}
	if l.HighWatermark() > leo {
		t.Fatalf("HW %d past the acknowledged end %d", l.HighWatermark(), leo)
	}
	writes := fs.count("writeat", ".log")
	for i := 0; i < 3; i++ {
		if _, err := l.Append(mkBatch(2, 1000), leader); !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("append after failure: %v, want KAFKA_STORAGE_ERROR", err)
		}
	}
	if fs.count("writeat", ".log") != writes {
		t.Fatal("an append after the failure wrote to the log")
	}
	if _, err := l.Read(0, leo, 1<<20, true); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("read after failure: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if err := l.Flush(); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("flush after failure: %v", err)
	}
	if _, err := m.GetOrCreate("other", 0, DefaultConfig()); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("GetOrCreate on a failed dir: %v", err)
	}
}

// reopenAndCheck closes the failed Manager (which must not claim a clean
// shutdown), opens a new one on the OS and checks the log holds exactly
// the acknowledged batches and takes appends again.
func reopenAndCheck(t *testing.T, m *Manager, dir string, want [][2]int64) {
	t.Helper()
	if err := m.Close(); err == nil {
		t.Fatal("Close of a failed dir reported success")
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err == nil {
		t.Fatal("a failed dir was marked cleanly shut down")
	}
	m2 := openTestManager(t, dir, nil)
	defer m2.Close()
	l := m2.Get("t", 0)
	if l == nil {
		t.Fatal("log gone after reopen")
	}
	got := batchOffsets(t, readAll(t, l, 0))
	if len(got) != len(want) {
		t.Fatalf("after reopen: batches %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after reopen: batches %v, want %v", got, want)
		}
	}
	end := want[len(want)-1][1] + 1
	if l.LogEndOffset() != end {
		t.Fatalf("after reopen: log end %d, want %d", l.LogEndOffset(), end)
	}
	if m2.Failed() != nil {
		t.Fatal("a new Manager starts failed")
	}
	if r := mustAppend(t, l, mkBatch(1, 5000)); r.BaseOffset != end {
		t.Fatalf("append after reopen at %d, want %d", r.BaseOffset, end)
	}
}

func TestDirFailureEIOOnWrite(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	l, err := m.GetOrCreate("t", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	acked := int64(len(mkBatch(3, 1000)) + len(mkBatch(2, 1000)))
	mustAppend(t, l, mkBatch(3, 1000))
	mustAppend(t, l, mkBatch(2, 1000))
	// Half the batch reaches the file, and the disk then refuses even
	// the truncation that would remove it: a torn tail stays on disk.
	fs.arm(faultRule{op: "writeat", suffix: ".log", err: syscall.EIO, partial: true})
	fs.arm(faultRule{op: "truncate", suffix: ".log", err: syscall.EIO})
	if _, err := l.Append(mkBatch(4, 1000), leader); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("append on EIO: %v", err)
	}
	if !errors.Is(m.Failed(), syscall.EIO) {
		t.Fatalf("Failed() = %v, want the EIO", m.Failed())
	}
	requireFailed(t, m, l, fs, 5)
	if st, err := os.Stat(l.segs[0].path(".log")); err != nil || st.Size() <= acked {
		t.Fatalf("expected a torn tail past %d bytes on disk: %v %v", acked, st.Size(), err)
	}
	reopenAndCheck(t, m, dir, [][2]int64{{0, 2}, {3, 4}})
}

func TestDirFailureEIOOnFsync(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	cfg := DefaultConfig()
	cfg.Durable = true
	l, err := m.GetOrCreate("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, mkBatch(3, 1000))
	fs.arm(faultRule{op: "sync", suffix: ".log", err: syscall.EIO})
	if _, err := l.Append(mkBatch(4, 1000), leader); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("durable append whose fsync failed: %v, want KAFKA_STORAGE_ERROR", err)
	}
	requireFailed(t, m, l, fs, 3)
	reopenAndCheck(t, m, dir, [][2]int64{{0, 2}})
}

// TestDirFailureFsyncOnFlushMessages: flush.messages makes the append
// that reaches it fsync; a failed fsync is not acknowledged.
func TestDirFailureFsyncOnFlushMessages(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	cfg := DefaultConfig()
	cfg.FlushMessages = 4
	l, err := m.GetOrCreate("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, mkBatch(2, 1000))
	fs.arm(faultRule{op: "sync", suffix: ".log", err: syscall.EIO})
	if _, err := l.Append(mkBatch(2, 1000), leader); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("append whose flush failed: %v", err)
	}
	requireFailed(t, m, l, fs, 2)
	reopenAndCheck(t, m, dir, [][2]int64{{0, 1}})
}

// TestDirFailureEIOOnRename: the roll writes the producer snapshot and the
// partition checkpoint by rename; a failed rename fails the dir and the
// append that rolled is not acknowledged.
func TestDirFailureEIOOnRename(t *testing.T) {
	for _, target := range []string{".snapshot.tmp", partitionCheckpointFile + ".tmp"} {
		t.Run(target, func(t *testing.T) {
			dir := t.TempDir()
			fs := newFaultFS()
			m := openFaultManager(t, dir, fs)
			cfg := DefaultConfig()
			cfg.SegmentBytes = 300 // about two batches a segment
			l, err := m.GetOrCreate("t", 0, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var want [][2]int64
			for l.segmentCount() < 2 {
				r := mustAppend(t, l, mkBatch(2, 1000))
				want = append(want, [2]int64{r.BaseOffset, r.LastOffset})
			}
			fs.arm(faultRule{op: "rename", suffix: target, err: syscall.EIO})
			leo := l.LogEndOffset()
			for n := l.segmentCount(); l.segmentCount() == n; {
				r, err := l.Append(mkBatch(2, 1000), leader)
				if err != nil {
					if !errors.Is(err, kerr.KafkaStorageError) {
						t.Fatalf("append whose roll failed: %v", err)
					}
					break
				}
				leo = r.LastOffset + 1
				want = append(want, [2]int64{r.BaseOffset, r.LastOffset})
			}
			if m.Failed() == nil {
				t.Fatal("a failed roll did not fail the dir")
			}
			requireFailed(t, m, l, fs, leo)
			reopenAndCheck(t, m, dir, want)
		})
	}
}

// TestDirFailureDurableDuplicate: in durable mode an idempotent retry is
// acknowledged through the duplicate path only once the first append is
// on disk: here the first was written before the log became durable, so
// the retry fsyncs — and when that fsync fails it is not acknowledged.
func TestDirFailureDurableDuplicate(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	l, err := m.GetOrCreate("t", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	idem := func(seq int32) []byte { return idemBatch(7, 0, seq, 2, false) }
	mustAppend(t, l, idem(0))
	cfg := DefaultConfig()
	cfg.Durable = true
	l.SetConfig(cfg)

	syncs := fs.count("sync", ".log")
	r := mustAppend(t, l, idem(0))
	if !r.Duplicate || r.BaseOffset != 0 {
		t.Fatalf("retry: %+v, want the duplicate of offset 0", r)
	}
	if fs.count("sync", ".log") == syncs {
		t.Fatal("durable duplicate acknowledged without an fsync")
	}

	mustAppend(t, l, idem(2)) // durable: synced before it returns
	syncs = fs.count("sync", ".log")
	if r := mustAppend(t, l, idem(2)); !r.Duplicate || r.BaseOffset != 2 {
		t.Fatalf("retry: %+v", r)
	}
	if fs.count("sync", ".log") != syncs {
		t.Fatal("a duplicate of an fsynced append synced again")
	}

	// A non-durable append, then durable again with a failing disk: the
	// retry cannot be acknowledged.
	cfg.Durable = false
	l.SetConfig(cfg)
	mustAppend(t, l, idem(4))
	cfg.Durable = true
	l.SetConfig(cfg)
	fs.arm(faultRule{op: "sync", suffix: ".log", err: syscall.EIO})
	if _, err := l.Append(idem(4), leader); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("duplicate whose fsync failed: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if m.Failed() == nil {
		t.Fatal("dir not failed")
	}
	m.Close()
}

// TestMissingSegmentFailsDir: an inactive segment's file deleted under a
// running broker is a log-dir failure at its next open, never re-created
// empty.
func TestMissingSegmentFailsDir(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	cfg := DefaultConfig()
	cfg.SegmentBytes = 300
	l, err := m.GetOrCreate("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for l.segmentCount() < 3 {
		mustAppend(t, l, mkBatch(2, 1000))
	}
	l.SetHighWatermark(l.LogEndOffset())
	first := l.segs[0]
	first.closeHandles()
	if err := os.Remove(first.path(".log")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(0, l.LogEndOffset(), 1<<20, true); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("read of a deleted segment: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if !errors.Is(m.Failed(), errSegmentMissing) {
		t.Fatalf("Failed() = %v, want a missing segment", m.Failed())
	}
	if _, err := os.Stat(first.path(".log")); !os.IsNotExist(err) {
		t.Fatalf("the deleted segment was re-created: %v", err)
	}
	m.Close()
}

func (l *Log) segmentCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}

// TestDirFailureRetentionRename: retention renames a segment's files to
// *.deleted; a rename refused by the disk fails the dir instead of being
// ignored.
func TestDirFailureRetentionRename(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	cfg := DefaultConfig()
	cfg.SegmentBytes = 300
	l, err := m.GetOrCreate("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for l.segmentCount() < 3 {
		mustAppend(t, l, mkBatch(2, 1000))
	}
	leo := l.LogEndOffset()
	cfg.RetentionBytes = 0
	l.SetConfig(cfg)
	fs.arm(faultRule{op: "rename", suffix: ".log", err: syscall.EIO})
	m.RunRetention()
	if !errors.Is(m.Failed(), syscall.EIO) {
		t.Fatalf("Failed() = %v after a failed retention rename", m.Failed())
	}
	requireFailed(t, m, l, fs, leo)
	_ = m.Close()
}

// TestNewSegmentEntryFsynced: a segment made by a roll or a truncation
// is a new entry in the log's directory, so the directory is fsynced
// before the recovery point passes the segment's bytes — once per new
// segment, not per durable append. (A flush that writes a new partition
// checkpoint fsyncs the directory for the checkpoint's rename anyway.)
func TestNewSegmentEntryFsynced(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	defer m.Close()
	cfg := DefaultConfig()
	cfg.SegmentBytes = int64(len(mkBatch(3, 1000))) // the second append rolls
	l, err := m.GetOrCreate("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dirSyncs := func() int { return fs.count("sync", string(filepath.Separator)+"t-0") }
	mustAppend(t, l, mkBatch(3, 1000))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	n := dirSyncs()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := dirSyncs(); got != n {
		t.Fatalf("a flush with no new segment fsynced the directory %d times", got-n)
	}
	mustAppend(t, l, mkBatch(3, 1000)) // rolls
	if got := dirSyncs(); got == n {
		t.Fatal("a roll moved the recovery point to the new segment without a directory fsync")
	}

	// A follower's truncation below the log start restarts the log in
	// a new segment; the first durable append into it fsyncs the
	// directory (its recovery point moves without a checkpoint), the
	// next does not.
	if _, err := l.AdvanceLogStart(5); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(4); err != nil {
		t.Fatal(err)
	}
	cfg.Durable, cfg.SegmentBytes = true, 1<<30
	l.SetConfig(cfg)
	n = dirSyncs()
	mustAppend(t, l, mkBatch(2, 1000))
	if got := dirSyncs(); got != n+1 {
		t.Fatalf("the first durable append into a truncation's new segment fsynced the directory %d times, want 1", got-n)
	}
	mustAppend(t, l, mkBatch(2, 1000))
	if got := dirSyncs(); got != n+1 {
		t.Fatalf("a second durable append fsynced the directory again")
	}
}
