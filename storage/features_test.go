package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func newLog(t *testing.T, mod func(*Config)) (*Manager, *Log) {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	m := openTestManager(t, t.TempDir(), nil)
	t.Cleanup(func() { m.Close() })
	l, err := m.GetOrCreate("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, l
}

func idemBatch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	b := BatchBuilder{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Idempotent: true, Transactional: txn}
	for i := 0; i < n; i++ {
		b.Add(1000, []byte("k"), []byte("v"))
	}
	return b.Build()
}

var leader = AppendOptions{AssignOffsets: true, LeaderEpoch: 0}

func TestValidation(t *testing.T) {
	_, l := newLog(t, func(c *Config) { c.MaxMessageBytes = 200 })
	good := mkBatch(2, 1)
	cases := []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, kerr.CorruptMessage},
		{"short", good[:30], kerr.CorruptMessage},
		{"torn", good[:len(good)-1], kerr.CorruptMessage},
		{"crc", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(), kerr.CorruptMessage},
		{"magic1", func() []byte { b := bytes.Clone(good); b[offMagic] = 1; return b }(), kerr.UnsupportedForMessageFormat},
		{"count", func() []byte {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint32(b[offRecordCount:], 3)
			setCRC(b)
			return b
		}(), kerr.InvalidRecord},
		{"too large", mkBatch(20, 1), kerr.MessageTooLarge},
		{"control from client", ControlBatch(1, 0, true, 0, 1), kerr.InvalidRecord},
		{"second bad", append(bytes.Clone(good), good[:40]...), kerr.CorruptMessage},
	}
	for _, c := range cases {
		if _, err := l.Append(c.b, leader); !errors.Is(err, c.err) {
			t.Errorf("%s: got %v want %v", c.name, err, c.err)
		}
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatal("rejected appends wrote something")
	}
	if _, err := l.Append(good, leader); err != nil {
		t.Fatal(err)
	}
}

func TestCompactedRequiresKeys(t *testing.T) {
	_, l := newLog(t, func(c *Config) { c.CleanupPolicy = "compact" })
	for _, codec := range []int8{CodecNone, CodecZstd} {
		b := BatchBuilder{Codec: codec}
		b.Add(1, nil, []byte("v"))
		if _, err := l.Append(b.Build(), leader); !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("codec %d: %v", codec, err)
		}
	}
}

func TestIdempotence(t *testing.T) {
	m, l := newLog(t, nil)
	r1, err := l.Append(idemBatch(7, 0, 0, 3, false), leader)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Append(idemBatch(7, 0, 3, 2, false), leader)
	if err != nil {
		t.Fatal(err)
	}
	// Retry of the first batch.
	d, err := l.Append(idemBatch(7, 0, 0, 3, false), leader)
	if err != nil || !d.Duplicate || d.BaseOffset != r1.BaseOffset || d.LastOffset != r1.LastOffset {
		t.Fatalf("dup: %+v %v", d, err)
	}
	if _, err := l.Append(idemBatch(7, 0, 9, 1, false), leader); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatal("gap:", err)
	}
	if _, err := l.Append(idemBatch(7, 1, 5, 1, false), leader); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatal("new epoch not at 0:", err)
	}
	if _, err := l.Append(idemBatch(7, 1, 0, 1, false), leader); err != nil {
		t.Fatal("new epoch:", err)
	}
	if _, err := l.Append(idemBatch(7, 0, 5, 1, false), leader); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatal("old epoch:", err)
	}
	// Unknown producer with any sequence is accepted (state lost to retention).
	if _, err := l.Append(idemBatch(8, 0, 42, 1, false), leader); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	// State survives a clean restart (the last batch only, as Kafka).
	dir := m.opts.Dir
	m.Close()
	m2 := openTestManager(t, dir, nil)
	defer m2.Close()
	l = m2.Get("t", 0)
	d, err = l.Append(idemBatch(8, 0, 42, 1, false), leader)
	if err != nil || !d.Duplicate || d.BaseOffset != leo-1 {
		t.Fatalf("dup after restart: %+v %v", d, err)
	}
	if _, err := l.Append(idemBatch(7, 1, 2, 1, false), leader); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatal("gap after restart:", err)
	}
	_ = r2
	// And a crash: state rebuilt from snapshot + log tail.
	if _, err := l.Append(idemBatch(7, 1, 1, 1, false), leader); err != nil {
		t.Fatal(err)
	}
	m2.abandon()
	m3 := openTestManager(t, dir, nil)
	defer m3.Close()
	l = m3.Get("t", 0)
	if d, err := l.Append(idemBatch(7, 1, 1, 1, false), leader); err != nil || !d.Duplicate {
		t.Fatalf("dup after crash: %+v %v", d, err)
	}
}

func TestTransactions(t *testing.T) {
	m, l := newLog(t, nil)
	coord := AppendOptions{AssignOffsets: true, AllowControl: true}
	mustAppend := func(b []byte, o AppendOptions) AppendResult {
		t.Helper()
		r, err := l.Append(b, o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mustAppend(mkBatch(2, 1), leader)                    // 0-1
	a := mustAppend(idemBatch(1, 0, 0, 2, true), leader) // 2-3 txn of producer 1
	b := mustAppend(idemBatch(2, 0, 0, 1, true), leader) // 4 txn of producer 2
	mustAppend(mkBatch(1, 1), leader)                    // 5
	l.SetHighWatermark(l.LogEndOffset())
	if lso := l.LastStableOffset(); lso != a.BaseOffset {
		t.Fatalf("lso %d want %d", lso, a.BaseOffset)
	}
	abort := mustAppend(ControlBatch(1, 0, false, 0, 1), coord) // 6
	l.SetHighWatermark(l.LogEndOffset())
	if lso := l.LastStableOffset(); lso != b.BaseOffset {
		t.Fatalf("lso after abort %d want %d", lso, b.BaseOffset)
	}
	mustAppend(ControlBatch(2, 0, true, 0, 1), coord) // 7
	l.SetHighWatermark(l.LogEndOffset())
	if lso := l.LastStableOffset(); lso != l.LogEndOffset() {
		t.Fatalf("lso after commit %d", lso)
	}
	got := l.AbortedTransactions(0, 100)
	if len(got) != 1 || got[0] != (AbortedTxn{1, a.BaseOffset}) {
		t.Fatalf("aborted: %+v", got)
	}
	if got := l.AbortedTransactions(abort.BaseOffset+1, 100); len(got) != 0 {
		t.Fatalf("aborted after marker: %+v", got)
	}
	if _, err := l.Append(idemBatch(1, 0, 2, 1, false), leader); err != nil {
		t.Fatal(err)
	}
	// Coordinator fencing.
	mustAppend(idemBatch(3, 0, 0, 1, true), leader)
	mustAppend(ControlBatch(3, 0, true, 5, 1), coord)
	if _, err := l.Append(ControlBatch(3, 0, true, 4, 1), coord); !errors.Is(err, kerr.TransactionCoordinatorFenced) {
		t.Fatal(err)
	}
	// The txn index is rebuilt after a crash.
	dir := m.opts.Dir
	os.Remove(filepath.Join(l.Dir(), segmentName(0)+".txnindex"))
	m.abandon()
	m2 := openTestManager(t, dir, nil)
	defer m2.Close()
	l = m2.Get("t", 0)
	if got := l.AbortedTransactions(0, 100); len(got) != 1 {
		t.Fatalf("aborted after recovery: %+v", got)
	}
}

func TestRollAndRetention(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(1_000_000)}
	m := openTestManager(t, t.TempDir(), clock.now)
	defer m.Close()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1000
	cfg.RetentionMs = 10_000
	cfg.FileDeleteDelayMs = 0
	l, _ := m.GetOrCreate("r", 0, cfg)
	for i := 0; i < 30; i++ {
		if _, err := l.Append(mkBatch(5, int64(1_000_000+i*1000)), leader); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	nseg := len(l.segs)
	if nseg < 3 {
		t.Fatalf("expected rolls, have %d segments", nseg)
	}
	// Hold a read on the first segment across its deletion.
	r, err := l.Read(0, l.HighWatermark(), 100000, true)
	if err != nil {
		t.Fatal(err)
	}
	clock.t = time.UnixMilli(1_000_000 + 35_000)
	if n := m.RunRetention(); n == 0 {
		t.Fatal("nothing deleted")
	}
	if l.LogStartOffset() == 0 || len(l.segs) == nseg {
		t.Fatal("log start did not move")
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || int64(buf.Len()) != r.Size {
		t.Fatalf("read after deletion: %v %d/%d", err, buf.Len(), r.Size)
	}
	r.Release()
	if _, err := l.Read(0, 100, 100, true); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatal(err)
	}
	// Time roll.
	before := len(l.segs)
	clock.t = clock.t.Add(8 * 24 * time.Hour)
	l.Append(mkBatch(1, clock.t.UnixMilli()), leader)
	if len(l.segs) != before+1 {
		t.Fatal("no time roll")
	}
	// Bytes retention keeps the active segment only.
	cfg.RetentionMs = -1
	cfg.RetentionBytes = 0
	l.SetConfig(cfg)
	m.RunRetention()
	if len(l.segs) != 1 {
		t.Fatalf("bytes retention left %d segments", len(l.segs))
	}
}

func TestFileBudgetAndTimestamps(t *testing.T) {
	m, err := OpenManager(ManagerOptions{Dir: t.TempDir(), MaxOpenFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 600
	var logs []*Log
	for p := int32(0); p < 10; p++ {
		l, err := m.GetOrCreate("many", p, cfg)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	for round := 0; round < 10; round++ {
		for _, l := range logs {
			if _, err := l.Append(mkBatch(3, int64(round*10)), leader); err != nil {
				t.Fatal(err)
			}
			if m.OpenSegments() > 3 {
				t.Fatalf("open segments %d > budget", m.OpenSegments())
			}
		}
	}
	for _, l := range logs {
		if n := len(batchOffsets(t, readAll(t, l, 0))); n != 10 {
			t.Fatalf("read %d batches", n)
		}
		off, ts, ok := l.OffsetForTimestamp(51)
		if !ok || off != 16 || ts != 51 {
			t.Fatalf("offset for ts: %d %d %v", off, ts, ok)
		}
		if _, _, ok := l.OffsetForTimestamp(1000); ok {
			t.Fatal("found future ts")
		}
		if ts, off := l.MaxTimestamp(); ts != 92 || off != 29 {
			t.Fatalf("max ts %d at %d", ts, off)
		}
	}
}

func TestLogAppendTimeAndCompressedTimestamps(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(5000)}
	m := openTestManager(t, t.TempDir(), clock.now)
	defer m.Close()
	l, _ := m.GetOrCreate("lat", 0, Config{MessageTimestampType: "LogAppendTime", RetentionMs: -1})
	r, err := l.Append(mkBatch(3, 10), leader)
	if err != nil || r.LogAppendTime != 5000 {
		t.Fatal(r, err)
	}
	got := readAll(t, l, 0)
	h, err := checkBatchFrame(got)
	if err != nil || !h.LogAppendTime() || h.MaxTimestamp != 5000 {
		t.Fatalf("%+v %v", h, err)
	}
	l2, _ := m.GetOrCreate("zstd", 0, DefaultConfig())
	for _, c := range []int8{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := BatchBuilder{Codec: c}
		for i := 0; i < 4; i++ {
			b.Add(int64(100*int(c)+i), nil, []byte("value"))
		}
		if _, err := l2.Append(b.Build(), leader); err != nil {
			t.Fatal(c, err)
		}
	}
	if off, ts, ok := l2.OffsetForTimestamp(302); !ok || off != 10 || ts != 302 {
		t.Fatal(off, ts, ok)
	}
}

func TestEpochsAndTruncate(t *testing.T) {
	m, l := newLog(t, func(c *Config) { c.SegmentBytes = 500 })
	for e := int32(1); e <= 3; e++ {
		for i := 0; i < 5; i++ {
			if _, err := l.Append(mkBatch(2, 1), AppendOptions{AssignOffsets: true, LeaderEpoch: e}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if l.LatestEpoch() != 3 {
		t.Fatal(l.LatestEpoch())
	}
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 10 {
		t.Fatal(e, off)
	}
	if e, off := l.EndOffsetForEpoch(2); e != 2 || off != 20 {
		t.Fatal(e, off)
	}
	if e, off := l.EndOffsetForEpoch(0); e != 0 || off != 0 {
		t.Fatal(e, off)
	}
	if e, off := l.EndOffsetForEpoch(4); e != -1 || off != -1 {
		t.Fatal(e, off)
	}
	// Truncating mid-batch drops the whole batch.
	if err := l.Truncate(15); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 14 {
		t.Fatal(l.LogEndOffset())
	}
	if l.LatestEpoch() != 2 {
		t.Fatal(l.LatestEpoch())
	}
	// Follower path continues at LEO, and not below it.
	var b BatchBuilder
	b.BaseOffset, b.PartitionLeaderEpoch = 14, 5
	b.Add(1, nil, []byte("x"))
	if _, err := l.Append(b.Build(), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	b.BaseOffset = 3
	if _, err := l.Append(b.Build(), AppendOptions{}); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatal(err)
	}
	if l.LatestEpoch() != 5 {
		t.Fatal(l.LatestEpoch())
	}
	dir := m.opts.Dir
	m.Close()
	es, err := readEpochs(filepath.Join(dir, "t-0", epochCheckpointFile))
	if err != nil || len(es) != 3 || es[2] != (epochEntry{5, 14}) {
		t.Fatal(es, err)
	}
}

// TestTruncateAtLogEndDropsEmptyEpoch: a truncation that removes no batch
// (to the log end or past it) still drops a leader epoch that starts at
// the log end — one stamped by a leadership that wrote nothing — as
// Kafka's UnifiedLog.truncateTo does; older epochs stay.
func TestTruncateAtLogEndDropsEmptyEpoch(t *testing.T) {
	m, l := newLog(t, nil)
	if _, err := l.Append(mkBatch(3, 1), AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	for _, end := range []int64{3, 4} {
		if err := l.AssignEpoch(2, 3); err != nil {
			t.Fatal(err)
		}
		if l.LatestEpoch() != 2 {
			t.Fatal(l.LatestEpoch())
		}
		if err := l.Truncate(end); err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != 3 || l.LatestEpoch() != 1 {
			t.Fatalf("truncate to %d: log end %d, latest epoch %d; want 3 and 1", end, l.LogEndOffset(), l.LatestEpoch())
		}
		if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 3 {
			t.Fatal(e, off)
		}
	}
	// Written to the checkpoint: a restart does not bring it back.
	if err := l.AssignEpoch(2, 3); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(3); err != nil {
		t.Fatal(err)
	}
	dir := m.opts.Dir
	m.Close()
	es, err := readEpochs(filepath.Join(dir, "t-0", epochCheckpointFile))
	if err != nil || len(es) != 1 || es[0] != (epochEntry{1, 0}) {
		t.Fatal(es, err)
	}
}

func TestDeletePartition(t *testing.T) {
	m, l := newLog(t, nil)
	l.Append(mkBatch(3, 1), leader)
	r, _ := l.Read(0, 3, 1000, true)
	if err := m.Delete("t", 0); err != nil {
		t.Fatal(err)
	}
	if m.Get("t", 0) != nil {
		t.Fatal("still there")
	}
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) {
		t.Fatal("dir remains", err)
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || int64(buf.Len()) != r.Size || r.Size == 0 {
		t.Fatal("read after delete", err)
	}
	r.Release()
}
