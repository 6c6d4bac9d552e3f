package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestLazyCreateNothingOnDisk: a new log is the empty log in memory only:
// no directory before or after reads, flushes, a leader epoch and a clean
// close; it is not found by the next open (the metadata creates it again).
func TestLazyCreateNothingOnDisk(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	logs, errs := m.GetOrCreateLogs([]NewLog{{Topic: "z", Partition: 0, Config: DefaultConfig()}, {Topic: "z", Partition: 1, Config: DefaultConfig()}})
	compact := DefaultConfig()
	compact.CleanupPolicy = "compact,delete"
	compact.RetentionMs = 1
	l2, err := m.GetOrCreate("z", 2, compact)
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatal(err, errs)
	}
	for _, l := range append(logs, l2) {
		if l.Materialised() {
			t.Fatalf("%s materialised at creation", l.Dir())
		}
		r, err := l.Read(0, 1<<40, 1<<20, true)
		if err != nil || r.Size != 0 {
			t.Fatalf("read of a new log: %v, %d bytes", err, r.Size)
		}
		r.Release()
		if l.Size() != 0 || l.LogEndOffset() != 0 || l.LastStableOffset() != 0 {
			t.Fatalf("new log: size %d, LEO %d", l.Size(), l.LogEndOffset())
		}
		if off, _, ok := l.OffsetForTimestamp(0); ok {
			t.Fatalf("OffsetForTimestamp on a new log: %d", off)
		}
		l.SetHighWatermark(0)
		if err := l.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if err := l.Truncate(-1); err != nil { // below the log start: emptied, again at 0
			t.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l2.AssignEpoch(3, 0); err != nil {
		t.Fatal(err)
	}
	if m.RunRetention() != 0 {
		t.Fatal("retention deleted from a new log")
	}
	if m.RunCleaner() != 0 {
		t.Fatal("the cleaner cleaned a new log")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for p := 0; p < 3; p++ {
		if _, err := os.Stat(filepath.Join(dir, "z-"+string(rune('0'+p)))); !os.IsNotExist(err) {
			t.Fatalf("z-%d on disk: %v", p, err)
		}
	}
	if w := fileWrites(fs, "z", nil); len(w) != 0 {
		t.Fatalf("writes for logs never written to: %q", w)
	}
	m = openTestManager(t, dir, nil)
	defer m.Close()
	if m.Get("z", 0) != nil {
		t.Fatal("a log never written to found by the next open")
	}
	// The metadata still places it here: the same empty log, lazily again.
	logs, errs = m.GetOrCreateLogs([]NewLog{{Topic: "z", Partition: 0, Config: DefaultConfig()}})
	if errs[0] != nil || logs[0].Materialised() || logs[0].LogEndOffset() != 0 {
		t.Fatalf("re-created after the restart: %v", errs[0])
	}
}

// TestLazyFirstAppendMaterialises: the first append creates the directory
// and the .log; the partition directory and the log dir are fsynced once,
// with the log's first fsync and before it (the invariant in lazy.go): at
// once for a durable append, at the first flush otherwise.
func TestLazyFirstAppendMaterialises(t *testing.T) {
	for _, durable := range []bool{true, false} {
		dir := t.TempDir()
		fs := newFaultFS()
		m := openFaultManager(t, dir, fs)
		cfg := DefaultConfig()
		cfg.Durable = durable
		l, err := m.GetOrCreate("a", 0, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(mkBatch(2, 1000), AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err != nil {
			t.Fatal(err)
		}
		if !l.Materialised() {
			t.Fatal("not materialised by an append")
		}
		logFile := filepath.Join(l.Dir(), "00000000000000000000.log")
		if _, err := os.Stat(logFile); err != nil {
			t.Fatal(err)
		}
		// The syncs in order: the partition dir, the log dir, then the .log.
		order := func() []string {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			var out []string
			for _, p := range fs.calls["sync"] {
				switch filepath.Clean(p) {
				case filepath.Clean(l.Dir()):
					out = append(out, "pdir")
				case filepath.Clean(dir):
					out = append(out, "logdir")
				case logFile:
					out = append(out, "log")
				}
			}
			return out
		}
		if !durable {
			if got := order(); len(got) != 0 {
				t.Fatalf("syncs for an append that is not fsynced: %v", got)
			}
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if got := order(); len(got) < 3 || got[0] != "pdir" || got[1] != "logdir" || got[2] != "log" {
			t.Fatalf("durable=%v: syncs %v, want the partition dir, the log dir, then the .log", durable, got)
		}
		n := len(order())
		if _, err := l.Append(mkBatch(2, 1000), AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, s := range order()[n:] {
			if s == "logdir" { // (the partition dir is fsynced by every checkpoint write)
				t.Fatalf("durable=%v: the log dir synced again: %v", durable, order())
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLazyMaterialiseFailureFailsDir: an I/O error while materialising
// fails the log dir like any write; nothing is acknowledged.
func TestLazyMaterialiseFailureFailsDir(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	defer m.Close()
	cfg := DefaultConfig()
	cfg.Durable = true
	l, err := m.GetOrCreate("f", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fs.arm(faultRule{op: "sync", suffix: "/f-0", err: syscall.EIO})
	if _, err := l.Append(mkBatch(1, 1), AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err == nil {
		t.Fatal("append acknowledged although the directory could not be made durable")
	}
	if m.Failed() == nil {
		t.Fatal("log dir not failed")
	}
}

// TestLazyCrashKeepsFirstBatch: a durable (fsynced) first batch of a
// lazily created log survives a crash, and a follower's first append too.
func TestLazyCrashKeepsFirstBatch(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	cfg := DefaultConfig()
	cfg.Durable = true
	logs, errs := m.GetOrCreateLogs([]NewLog{{Topic: "c", Partition: 0, Config: cfg}, {Topic: "c", Partition: 1, Config: cfg}})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if _, err := logs[0].Append(mkBatch(3, 1000), AppendOptions{AssignOffsets: true, LeaderEpoch: 2}); err != nil {
		t.Fatal(err)
	}
	fb := mkBatch(2, 1000)
	if _, err := logs[1].Append(fb, AppendOptions{}); err != nil { // follower: offsets as given
		t.Fatal(err)
	}
	want0, want1 := readAll(t, logs[0], 0), readAll(t, logs[1], 0)
	m.abandon()
	m = openTestManager(t, dir, nil)
	defer m.Close()
	for i, want := range [][]byte{want0, want1} {
		l := m.Get("c", int32(i))
		if l == nil {
			t.Fatalf("c-%d lost by the crash", i)
		}
		if got := readAll(t, l, 0); !bytes.Equal(got, want) {
			t.Fatalf("c-%d: %d bytes after the crash, want %d", i, len(got), len(want))
		}
	}
	if e := m.Get("c", 0).LatestEpoch(); e != 2 {
		t.Fatalf("leader epoch %d after the crash, want 2", e)
	}
}

// TestLazyDeleteUnmaterialised: deleting or setting aside a log never
// written to moves nothing and leaves nothing, and a write racing with
// the deletion cannot create its directory afterwards.
func TestLazyDeleteUnmaterialised(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	defer m.Close()
	l, err := m.GetOrCreate("d", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.GetOrCreate("d", 1, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete("d", 0); err != nil {
		t.Fatal(err)
	}
	if p, err := m.RenameStray("d", 1); err != nil || p != "" {
		t.Fatalf("RenameStray of a log never written: %q, %v", p, err)
	}
	if _, err := l.Append(mkBatch(1, 1), AppendOptions{AssignOffsets: true}); err == nil {
		t.Fatal("append to a deleted log")
	}
	if _, err := l.fs.OpenFile(filepath.Join(l.Dir(), "x"), os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		t.Fatal("a file created in a deleted, never materialised log")
	}
	_ = s
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "d-") {
			t.Fatalf("left in the log dir: %s", e.Name())
		}
	}
	if m.Failed() != nil {
		t.Fatal(m.Failed())
	}
	// The name is free: a new log, written this time, is on disk.
	l, err = m.GetOrCreate("d", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(mkBatch(1, 1), AppendOptions{AssignOffsets: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete("d", 0); err != nil {
		t.Fatal(err)
	}
	if d := retiredDirs(t, dir, "-delete"); len(d) != 1 {
		t.Fatalf("-delete dirs after deleting a written log: %v", d)
	}
}

// BenchmarkFirstAppend is the cost creation moved to the first write: a
// round creates 200 logs lazily and appends one batch to each (mkdir, the
// .log, two directory fsyncs per log), against an append to a log already
// written to.
func BenchmarkFirstAppend(b *testing.B) {
	const n = 200
	for _, first := range []bool{true, false} {
		name := "materialised"
		if first {
			name = "first"
		}
		b.Run(name, func(b *testing.B) {
			m := openTestManager(b, b.TempDir(), nil)
			defer m.Close()
			opts := AppendOptions{AssignOffsets: true, LeaderEpoch: 1}
			round := 0
			var logs []*Log
			for b.Loop() {
				round++
				if first || logs == nil {
					logs = logs[:0]
					specs := make([]NewLog, n)
					for i := range specs {
						specs[i] = NewLog{Topic: "r" + strconv.Itoa(round), Partition: int32(i), Config: DefaultConfig()}
					}
					logs, _ = m.GetOrCreateLogs(specs)
				}
				for _, l := range logs {
					if _, err := l.Append(mkBatch(1, 1), opts); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/append")
		})
	}
}
