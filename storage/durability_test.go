package storage

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestTxnIndexSyncedWithSegment: an abort's .txnindex entry is fsynced
// with the segment — by the durable append of the marker itself and by
// Flush — and a failed fsync of it fails the dir like the .log's.
func TestTxnIndexSyncedWithSegment(t *testing.T) {
	coord := AppendOptions{AssignOffsets: true, AllowControl: true}
	for _, durable := range []bool{false, true} {
		dir := t.TempDir()
		fs := newFaultFS()
		m := openFaultManager(t, dir, fs)
		cfg := DefaultConfig()
		cfg.Durable = durable
		l, err := m.GetOrCreate("t", 0, cfg)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, idemBatch(1, 0, 0, 2, true))
		mustAppend(t, l, idemBatch(2, 0, 0, 2, true))
		if _, err := l.Append(ControlBatch(1, 0, false, 0, 1), coord); err != nil {
			t.Fatal(err)
		}
		if durable {
			if fs.count("sync", ".txnindex") != 1 {
				t.Fatalf("durable abort: .txnindex synced %d times before the append returned", fs.count("sync", ".txnindex"))
			}
		} else {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if fs.count("sync", ".txnindex") != 1 {
				t.Fatalf("Flush synced .txnindex %d times", fs.count("sync", ".txnindex"))
			}
		}
		// Nothing new: the next flush does not sync it again.
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if fs.count("sync", ".txnindex") != 1 {
			t.Fatal(".txnindex synced again without a change")
		}
		// A failing fsync of the .txnindex is a log-dir failure.
		fs.arm(faultRule{op: "sync", suffix: ".txnindex", err: syscall.EIO})
		leo := l.LogEndOffset()
		_, err = l.Append(ControlBatch(2, 0, false, 0, 1), coord)
		if !durable {
			if err != nil {
				t.Fatal(err)
			}
			leo = l.LogEndOffset()
			err = l.Flush()
		}
		if !errors.Is(err, kerr.KafkaStorageError) || !errors.Is(m.Failed(), syscall.EIO) {
			t.Fatalf("durable=%v: failed .txnindex fsync: %v, dir %v", durable, err, m.Failed())
		}
		if l.LogEndOffset() != leo {
			t.Fatalf("durable=%v: log end %d, want %d", durable, l.LogEndOffset(), leo)
		}
		_ = m.Close()
	}
}

// TestEpochCheckpointRebuilt: a leader-epoch-checkpoint that does not
// parse is rebuilt from the batches' partition leader epochs, not
// replaced by an empty cache.
func TestEpochCheckpointRebuilt(t *testing.T) {
	for _, clean := range []bool{true, false} {
		dir := t.TempDir()
		m := openTestManager(t, dir, nil)
		l, err := m.GetOrCreate("t", 0, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []int32{1, 1, 2, 5, 5} {
			if _, err := l.Append(mkBatch(3, 1000), AppendOptions{AssignOffsets: true, LeaderEpoch: e}); err != nil {
				t.Fatal(err)
			}
		}
		want := []epochEntry{{1, 0}, {2, 6}, {5, 9}}
		if !reflect.DeepEqual(l.epochs.entries, want) {
			t.Fatalf("epochs %v, want %v", l.epochs.entries, want)
		}
		if clean {
			m.Close()
		} else {
			m.abandon()
		}
		p := filepath.Join(dir, "t-0", epochCheckpointFile)
		if err := os.WriteFile(p, []byte("0\n3\n1 0\n2 6\n5 x"), 0o644); err != nil {
			t.Fatal(err)
		}
		m = openTestManager(t, dir, nil)
		l = m.Get("t", 0)
		if !reflect.DeepEqual(l.epochs.entries, want) {
			t.Fatalf("clean=%v: rebuilt epochs %v, want %v", clean, l.epochs.entries, want)
		}
		if e, end := l.EndOffsetForEpoch(2); e != 2 || end != 9 {
			t.Fatalf("EndOffsetForEpoch(2) = %d, %d", e, end)
		}
		es, err := readEpochs(p)
		if err != nil || !reflect.DeepEqual(es, want) {
			t.Fatalf("rewritten checkpoint %v, %v", es, err)
		}
		m.Close()
	}
}

// TestFlushMsVisitsOnlyUnflushedLogs: flush.ms flushes a log whose
// unflushed records are older than it, and the periodic check looks only
// at logs holding unflushed records under a finite flush.ms — with
// Kafka's default (Long.MAX) an idle broker visits none.
func TestFlushMsVisitsOnlyUnflushedLogs(t *testing.T) {
	m, err := OpenManager(ManagerOptions{Dir: t.TempDir(), FlushCheckInterval: 10 * time.Millisecond,
		RetentionCheckInterval: time.Hour, CleanerDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	timed := DefaultConfig()
	timed.FlushMs = 30
	a, err := m.GetOrCreate("timed", 0, timed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.GetOrCreate("default", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	recoveryPoint := func(l *Log) int64 {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return l.recoveryPoint
	}
	pending := func(l *Log) bool {
		m.flushMu.Lock()
		defer m.flushMu.Unlock()
		_, ok := m.flushPending[l]
		return ok
	}
	mustAppend(t, a, mkBatch(3, 1000))
	mustAppend(t, b, mkBatch(3, 1000))
	if pending(b) {
		t.Fatal("a log under flush.ms = Long.MAX is checked for flush.ms")
	}
	testenv.Eventually(t, "the timed log to be flushed and leave the check", func() bool {
		return recoveryPoint(a) == 3 && !pending(a)
	})
	if recoveryPoint(b) != 0 {
		t.Fatal("a log under flush.ms = Long.MAX was flushed by time")
	}
	// Lowering flush.ms of a log holding unflushed records puts it in.
	b.SetConfig(timed)
	testenv.Eventually(t, "the reconfigured log to be flushed", func() bool {
		return recoveryPoint(b) == 3 && !pending(b)
	})
}
