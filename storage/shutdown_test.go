package storage

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookFS is the OS with a function called before every file operation
// (under one lock, so a hook sees the operations one at a time).
type hookFS struct {
	osFileOps
	mu     sync.Mutex
	before func(op, path string)
}

func (h *hookFS) hook(op, path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.before != nil {
		h.before(op, path)
	}
}

func (h *hookFS) set(fn func(op, path string)) {
	h.mu.Lock()
	h.before = fn
	h.mu.Unlock()
}

func (h *hookFS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	h.hook("open", name)
	return os.OpenFile(name, flag, perm)
}
func (h *hookFS) WriteAt(f *os.File, b []byte, off int64) (int, error) {
	h.hook("writeat", f.Name())
	return f.WriteAt(b, off)
}
func (h *hookFS) Write(f *os.File, b []byte) (int, error) {
	h.hook("write", f.Name())
	return f.Write(b)
}
func (h *hookFS) Sync(f *os.File) error { h.hook("sync", f.Name()); return f.Sync() }
func (h *hookFS) Truncate(f *os.File, size int64) error {
	h.hook("truncate", f.Name())
	return f.Truncate(size)
}
func (h *hookFS) Rename(oldpath, newpath string) error {
	h.hook("rename", oldpath)
	return os.Rename(oldpath, newpath)
}
func (h *hookFS) Remove(name string) error { h.hook("remove", name); return os.Remove(name) }
func (h *hookFS) SyncFS(dir string) error  { h.hook("syncfs", dir); return syncFS(dir) }

// snapshotDir copies the regular files under src to dst as they are now:
// what a process killed at this instant leaves on disk (the page cache
// survives a kill). Files are copied, never linked, so later writes to
// src do not show in dst.
func snapshotDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
}

// shutdownFixture fills a Manager for the close tests: partitions 0-3 of
// "crash" get deterministic batches (several segments, timestamps),
// partitions 4-5 stay empty with a new leader epoch (only in memory: a
// log never written to is not on disk, lazy.go). With MaxOpenFiles 2 most segments' handles are evicted
// before Close. It returns each partition's acknowledged end offset.
func shutdownFixture(t *testing.T, m *Manager) map[int32]int64 {
	t.Helper()
	acked := map[int32]int64{}
	for p := int32(0); p < 6; p++ {
		l, err := m.GetOrCreate("crash", p, crashConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.AssignEpoch(1, 0); err != nil {
			t.Fatal(err)
		}
		if p >= 4 {
			acked[p] = 0
			continue
		}
		for i := 0; i < 40+int(p)*30; i++ {
			leo := l.LogEndOffset()
			if _, err := l.Append(crashBatch(leo, int(leo%7)+1), AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err != nil {
				t.Fatal(err)
			}
		}
		acked[p] = l.LogEndOffset()
	}
	return acked
}

// TestCloseOpensNoEvictedSegment: a clean close does not open a segment
// the open-file budget evicted (a broker with 100k partitions would open
// and close 100k files to stop), and what it finishes from memory — the
// active indexes, the last time-index entry — is what the next clean
// open trusts: every record and timestamp lookup answers as before.
func TestCloseOpensNoEvictedSegment(t *testing.T) {
	dir := t.TempDir()
	fault := newFaultFS()
	m, err := OpenManager(ManagerOptions{Dir: dir, FileOps: fault, MaxOpenFiles: 2, RetentionCheckInterval: time.Hour,
		ProducerIDExpiration: 100 * 365 * 24 * time.Hour, CleanerDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	acked := shutdownFixture(t, m)
	type answer struct{ maxTs, maxOff, tsOff, ts int64 }
	answers := map[int32]answer{}
	data := map[int32][]byte{}
	for p := range acked {
		l := m.Get("crash", p)
		var a answer
		a.maxTs, a.maxOff = l.MaxTimestamp()
		a.tsOff, a.ts, _ = l.OffsetForTimestamp(1000 + acked[p]/2)
		answers[p], data[p] = a, readAll(t, l, 0)
	}
	// Reads opened segments again; evict all but two once more.
	for p := int32(5); p >= 0; p-- {
		_ = readAll(t, m.Get("crash", p), m.Get("crash", p).LogEndOffset())
	}
	before := fault.count("open", ".log")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fault.count("open", ".log") - before; n != 0 {
		t.Errorf("Close opened %d .log files; want none (their indexes are in memory or on disk)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean-shutdown marker: %v", err)
	}
	// A clean open trusts every index (a corrupt one would be rebuilt
	// with a warning and no error, so compare the answers).
	m = openTestManager(t, dir, nil)
	defer m.Close()
	for p, want := range acked {
		l := m.Get("crash", p)
		if l == nil && want == 0 {
			continue // a log never written to is not on disk (lazy.go)
		}
		if end := verifyCrashLog(t, l); end != want {
			t.Fatalf("partition %d: end %d, want %d", p, end, want)
		}
		if got := readAll(t, l, 0); !bytes.Equal(got, data[p]) {
			t.Fatalf("partition %d: data differs after reopen", p)
		}
		var a answer
		a.maxTs, a.maxOff = l.MaxTimestamp()
		a.tsOff, a.ts, _ = l.OffsetForTimestamp(1000 + acked[p]/2)
		if a != answers[p] {
			t.Fatalf("partition %d: timestamps %+v after reopen, %+v before", p, a, answers[p])
		}
		if e := l.LatestEpoch(); e != 1 {
			t.Fatalf("partition %d: latest epoch %d after reopen, want 1", p, e)
		}
	}
}

// TestCrashAtAnyPointOfClose: Manager.Close writes files without an fsync
// each, one syncfs makes them durable, and only then is the clean-shutdown
// marker written (Close's order). A process killed at any instant of a
// close — simulated by copying the log dir before each file operation of
// Close, among them the one after the syncfs and before the marker —
// leaves a dir whose next open finds every acknowledged record, cut back
// to whole batches, and which is trusted clean only once the marker is
// there.
func TestCrashAtAnyPointOfClose(t *testing.T) {
	dir := t.TempDir()
	hfs := &hookFS{}
	// One close thread: the snapshots then see Close's file operations
	// one at a time, in order.
	m, err := OpenManager(ManagerOptions{Dir: dir, FileOps: hfs, MaxOpenFiles: 2, RetentionCheckInterval: time.Hour,
		ProducerIDExpiration: 100 * 365 * 24 * time.Hour, CleanerDisabled: true, RecoveryThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	acked := shutdownFixture(t, m)
	snaps := t.TempDir()
	var points []string // the operation each snapshot was taken before
	var snapErr error
	hfs.set(func(op, path string) {
		if snapErr == nil {
			snapErr = snapshotDir(dir, filepath.Join(snaps, strconv.Itoa(len(points))))
			points = append(points, op+" "+strings.TrimPrefix(path, dir))
		}
	})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	hfs.set(nil)
	if snapErr != nil {
		t.Fatal(snapErr)
	}
	// The marker comes last: after it only its own steps and the log
	// dir's fsync.
	first := slices.IndexFunc(points, func(p string) bool { return strings.Contains(p, cleanShutdownFile) })
	if first < 0 || slices.ContainsFunc(points[first:], func(p string) bool { return !strings.Contains(p, cleanShutdownFile) && p != "sync " }) {
		t.Fatalf("the marker is not Close's last write: %q", points)
	}
	// Every partition checkpoint that moves a recovery point comes after
	// a syncfs (which made the bytes below it durable), and another
	// syncfs comes between the last of them and the marker.
	firstSync := slices.Index(points, "syncfs ")
	lastCP, lastSync := -1, -1
	for i, p := range points {
		if strings.Contains(p, partitionCheckpointFile) {
			if firstSync < 0 || i < firstSync {
				t.Fatalf("checkpoint written before the syncfs: %q", points)
			}
			lastCP = i
		}
		if p == "syncfs " {
			lastSync = i
		}
	}
	if lastCP < 0 || lastSync < lastCP || lastSync > first {
		t.Fatalf("no syncfs between the checkpoints and the marker: %q", points)
	}
	check := func(name, d string) {
		t.Helper()
		_, err := os.Stat(filepath.Join(d, cleanShutdownFile))
		marked := err == nil
		m := openTestManager(t, d, nil)
		defer m.Close()
		for p, want := range acked {
			l := m.Get("crash", p)
			if l == nil && want == 0 {
				continue // a log never written to is not on disk (lazy.go)
			}
			if l == nil {
				t.Fatalf("%s: partition %d missing", name, p)
			}
			if end := verifyCrashLog(t, l); end != want {
				t.Fatalf("%s (marker %v): partition %d ends at %d, acknowledged %d", name, marked, p, end, want)
			}
		}
	}
	for i, op := range points {
		check("killed before "+op, filepath.Join(snaps, strconv.Itoa(i)))
	}
	check("after Close", dir)
}
