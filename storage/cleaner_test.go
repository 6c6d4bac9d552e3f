package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type crec struct {
	off        int64
	key, value string
	null       bool
	ts         int64
}

func (r crec) String() string { return fmt.Sprintf("%d:%s=%s(null=%v)", r.off, r.key, r.value, r.null) }

func compactCfg(mod func(*Config)) func(*Config) {
	return func(c *Config) {
		c.CleanupPolicy = "compact"
		c.SegmentBytes = 600
		c.IndexIntervalBytes = 100
		c.SegmentIndexBytes = 4096
		c.DeleteRetentionMs = 1000
		c.FileDeleteDelayMs = 0
		if mod != nil {
			mod(c)
		}
	}
}

// readRecs decodes every data record of the log (control batches skipped).
func readRecs(t testing.TB, l *Log, from int64) []crec {
	t.Helper()
	b := readAll(t, l, from)
	var out []crec
	for len(b) > 0 {
		h, err := checkBatchFrame(b)
		if err != nil {
			t.Fatalf("bad batch: %v", err)
		}
		if !h.IsControl() {
			if err := forEachRecord(b[:h.Size()], &h, nil, func(r *Record) bool {
				out = append(out, crec{off: h.BaseOffset + int64(r.OffsetDelta), key: string(r.Key), value: string(r.Value),
					null: r.Value == nil, ts: h.BaseTimestamp + r.TimestampDelta})
				return true
			}); err != nil {
				t.Fatalf("records: %v", err)
			}
		}
		b = b[h.Size():]
	}
	return out
}

func kv(codec int8, ts int64, pairs ...string) []byte {
	b := BatchBuilder{Codec: codec}
	for i := 0; i < len(pairs); i += 2 {
		var v []byte
		if pairs[i+1] != "<nil>" {
			v = []byte(pairs[i+1])
		}
		b.Add(ts, []byte(pairs[i]), v)
	}
	return b.Build()
}

func mustApp(t testing.TB, l *Log, b []byte, o AppendOptions) AppendResult {
	t.Helper()
	r, err := l.Append(b, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fillKeys appends n single-record batches cycling over nk keys, then sets
// the HW to the log end.
func fillKeys(t testing.TB, l *Log, n, nk int, codec int8) {
	t.Helper()
	for i := 0; i < n; i++ {
		mustApp(t, l, kv(codec, int64(1000+i), fmt.Sprintf("k%d", i%nk), fmt.Sprintf("v%d", i)), leader)
	}
	l.SetHighWatermark(l.LogEndOffset())
}

func latestPerKey(recs []crec) map[string]crec {
	m := map[string]crec{}
	for _, r := range recs {
		m[r.key] = r
	}
	return m
}

func checkIncreasing(t testing.TB, recs []crec) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if recs[i].off <= recs[i-1].off {
			t.Fatalf("offsets not increasing at %d: %v %v", i, recs[i-1], recs[i])
		}
	}
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	_, l := newLog(t, compactCfg(nil))
	fillKeys(t, l, 200, 10, CodecNone)
	before := readRecs(t, l, 0)
	segsBefore := len(l.segs)
	activeBase := l.segs[len(l.segs)-1].base
	st, err := l.Compact(time.UnixMilli(5000))
	if err != nil {
		t.Fatal(err)
	}
	if st.SkippedUncleaned || st.End != activeBase || st.Groups == 0 {
		t.Fatalf("stats %+v active %d", st, activeBase)
	}
	after := readRecs(t, l, 0)
	checkIncreasing(t, after)
	if fmt.Sprint(latestPerKey(before)) != fmt.Sprint(latestPerKey(after)) {
		t.Fatalf("latest values changed:\n%v\n%v", latestPerKey(before), latestPerKey(after))
	}
	// Below the active segment each key appears at most once.
	seen := map[string]bool{}
	for _, r := range after {
		if r.off >= activeBase {
			continue
		}
		if seen[r.key] {
			t.Fatalf("key %s twice below the active segment", r.key)
		}
		seen[r.key] = true
	}
	// The active segment is untouched.
	var act []crec
	for _, r := range before {
		if r.off >= activeBase {
			act = append(act, r)
		}
	}
	if got := readRecs(t, l, activeBase); fmt.Sprint(got) != fmt.Sprint(act) {
		t.Fatalf("active segment changed")
	}
	_ = segsBefore
	// Reads from every offset (gaps included) start at the next kept record.
	for off := int64(0); off < l.LogEndOffset(); off++ {
		got := readRecs(t, l, off)
		var want []crec
		for _, r := range after {
			if r.off >= off {
				want = append(want, r)
			}
		}
		// A read starts at the batch holding off: single-record batches here.
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("read from %d: got %v want %v", off, got, want)
		}
	}
	// Time lookups work over gaps.
	for _, r := range after {
		off, ts, ok := l.OffsetForTimestamp(r.ts)
		if !ok || off != r.off || ts != r.ts {
			t.Fatalf("OffsetForTimestamp(%d) = %d %d %v want %d", r.ts, off, ts, ok, r.off)
		}
	}
	// A second pass finds nothing dirty.
	if st, err := l.Compact(time.UnixMilli(5000)); err != nil || !st.SkippedUncleaned {
		t.Fatalf("second pass %+v %v", st, err)
	}
	// Groups are formed from the sizes before cleaning, so the shrunken
	// segments of the first pass merge in the next one.
	n := len(l.segs)
	fillKeys(t, l, 30, 10, CodecNone)
	if _, err := l.Compact(time.UnixMilli(5000)); err != nil {
		t.Fatal(err)
	}
	if len(l.segs) >= n {
		t.Fatalf("small segments not grouped: %d -> %d", n, len(l.segs))
	}
	if got := latestPerKey(readRecs(t, l, 0)); len(got) != 10 {
		t.Fatalf("keys after grouping: %v", got)
	}
}

func TestCompactSurvivesReopen(t *testing.T) {
	m, l := newLog(t, compactCfg(nil))
	fillKeys(t, l, 120, 7, CodecNone)
	if _, err := l.Compact(time.UnixMilli(5000)); err != nil {
		t.Fatal(err)
	}
	want := readRecs(t, l, 0)
	cfg := l.Config()
	dir := m.opts.Dir
	for _, crash := range []bool{false, true} {
		if crash {
			m.abandon()
		} else if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m = openTestManager(t, dir, nil)
		l2, err := m.GetOrCreate("t", 0, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := readRecs(t, l2, 0); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after reopen (crash=%v):\n%v\nwant\n%v", crash, got, want)
		}
		l = l2
	}
	m.Close()
}

func TestCompactBoundedByHighWatermarkAndLSO(t *testing.T) {
	_, l := newLog(t, compactCfg(nil))
	fillKeys(t, l, 100, 5, CodecNone)
	l.SetHighWatermark(3)
	st, err := l.Compact(time.UnixMilli(5000))
	if err != nil {
		t.Fatal(err)
	}
	if !st.SkippedUncleaned {
		// Only segments entirely below the HW may be cleaned.
		if st.End > 3 {
			t.Fatalf("cleaned past the HW: %+v", st)
		}
	}
	// An open transaction bounds cleaning at its first offset.
	_, l = newLog(t, compactCfg(nil))
	fillKeys(t, l, 30, 5, CodecNone)
	txn := mustApp(t, l, func() []byte {
		b := BatchBuilder{ProducerID: 9, ProducerEpoch: 0, BaseSequence: 0, Idempotent: true, Transactional: true}
		b.Add(1, []byte("k1"), []byte("txn"))
		return b.Build()
	}(), leader)
	fillKeys(t, l, 60, 5, CodecNone)
	if lso := l.LastStableOffset(); lso != txn.BaseOffset {
		t.Fatalf("lso %d", lso)
	}
	st, err = l.Compact(time.UnixMilli(5000))
	if err != nil {
		t.Fatal(err)
	}
	if !st.SkippedUncleaned && st.End > txn.BaseOffset {
		t.Fatalf("cleaned past the LSO %d: %+v", txn.BaseOffset, st)
	}
	for _, r := range readRecs(t, l, 0) {
		if r.off >= txn.BaseOffset {
			break
		}
	}
	// Everything at or above the LSO is still there.
	n := 0
	for _, r := range readRecs(t, l, txn.BaseOffset) {
		_ = r
		n++
	}
	if want := int(l.LogEndOffset() - txn.BaseOffset); n != want {
		t.Fatalf("records above the LSO: %d want %d", n, want)
	}
}

func TestCompactCodecs(t *testing.T) {
	for _, codec := range []int8{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			_, l := newLog(t, compactCfg(func(c *Config) { c.SegmentBytes = 400 }))
			var want []crec
			for i := 0; i < 40; i++ {
				k1, k2 := fmt.Sprintf("a%d", i%3), fmt.Sprintf("b%d", i%4)
				r := mustApp(t, l, kv(codec, int64(100+i), k1, fmt.Sprint("x", i), k2, fmt.Sprint("y", i), "c", fmt.Sprint("z", i)), leader)
				want = append(want, crec{off: r.BaseOffset, key: k1, value: fmt.Sprint("x", i), ts: int64(100 + i)},
					crec{off: r.BaseOffset + 1, key: k2, value: fmt.Sprint("y", i), ts: int64(100 + i)},
					crec{off: r.BaseOffset + 2, key: "c", value: fmt.Sprint("z", i), ts: int64(100 + i)})
			}
			l.SetHighWatermark(l.LogEndOffset())
			before := readAll(t, l, 0)
			if _, err := l.Compact(time.UnixMilli(5000)); err != nil {
				t.Fatal(err)
			}
			raw := readAll(t, l, 0)
			if len(raw) >= len(before) {
				t.Fatalf("nothing removed")
			}
			// Every batch keeps its codec, base offset and lastOffsetDelta.
			orig := map[int64]BatchHeader{}
			for b := before; len(b) > 0; {
				h, _ := checkBatchFrame(b)
				orig[h.BaseOffset] = h
				b = b[h.Size():]
			}
			for b := raw; len(b) > 0; {
				h, err := ValidateBatchStored(b)
				if err != nil {
					t.Fatal(err)
				}
				o, ok := orig[h.BaseOffset]
				if !ok || o.LastOffsetDelta != h.LastOffsetDelta || h.Codec() != codec {
					t.Fatalf("batch %+v vs original %+v", h, o)
				}
				b = b[h.Size():]
			}
			got := readRecs(t, l, 0)
			checkIncreasing(t, got)
			if fmt.Sprint(latestPerKey(got)) != fmt.Sprint(latestPerKey(want)) {
				t.Fatalf("latest:\n%v\n%v", latestPerKey(got), latestPerKey(want))
			}
			for _, r := range got {
				found := false
				for _, w := range want {
					if w == r {
						found = true
					}
				}
				if !found {
					t.Fatalf("record %v not as written", r)
				}
			}
		})
	}
}

// ValidateBatchStored checks a stored (possibly compacted) batch: frame, CRC
// and that every record decodes with increasing offset deltas within
// lastOffsetDelta.
func ValidateBatchStored(b []byte) (BatchHeader, error) {
	h, err := checkBatchFrame(b)
	if err != nil {
		return h, err
	}
	prev := int32(-1)
	n := 0
	err = forEachRecord(b[:h.Size()], &h, nil, func(r *Record) bool {
		if r.OffsetDelta <= prev || r.OffsetDelta > h.LastOffsetDelta {
			err = errors.New("bad offset delta")
			return false
		}
		prev = r.OffsetDelta
		n++
		return true
	})
	if err == nil && n != int(h.RecordCount) {
		err = errors.New("record count")
	}
	return h, err
}

func TestCompactTombstones(t *testing.T) {
	_, l := newLog(t, compactCfg(func(c *Config) { c.DeleteRetentionMs = 10_000 }))
	for i := 0; i < 30; i++ {
		mustApp(t, l, kv(CodecNone, int64(i), fmt.Sprintf("k%d", i%3), "v"), leader)
	}
	mustApp(t, l, kv(CodecNone, 50, "k0", "<nil>"), leader) // tombstone for k0
	fillKeys(t, l, 40, 2, CodecNone)                        // keys k0,k1 again? no: other keys
	l.SetHighWatermark(l.LogEndOffset())
	// fillKeys wrote k0 and k1 again; add a tombstone for k2 that stays latest.
	mustApp(t, l, kv(CodecNone, 60, "k2", "<nil>"), leader)
	fillKeys(t, l, 40, 1, CodecNone) // roll past the tombstone with k0 only
	tomb := func() bool {
		for _, r := range readRecs(t, l, 0) {
			if r.key == "k2" {
				return r.null
			}
		}
		return false
	}
	if _, err := l.Compact(time.UnixMilli(1_000)); err != nil {
		t.Fatal(err)
	}
	if !tomb() {
		t.Fatal("tombstone dropped before its delete horizon")
	}
	h := l.cleaner.nextHorizon.Load()
	if h != 1_000+10_000 {
		t.Fatalf("next horizon %d", h)
	}
	// Within the horizon a new pass keeps it.
	if _, err := l.Compact(time.UnixMilli(10_999)); err != nil {
		t.Fatal(err)
	}
	if !tomb() {
		t.Fatal("tombstone dropped within the horizon")
	}
	// The Manager considers the log due once the horizon passes.
	if _, due := l.cleanableRatio(time.UnixMilli(11_000)); !due {
		t.Fatal("log not due at its delete horizon")
	}
	if _, err := l.Compact(time.UnixMilli(11_000)); err != nil {
		t.Fatal(err)
	}
	for _, r := range readRecs(t, l, 0) {
		if r.key == "k2" {
			t.Fatalf("tombstone still there after its horizon: %v", r)
		}
	}
}

// TestCompactCrashDuringSwap stops the swap after each step as a crash
// would, reopens, and checks the log is exactly the old or exactly the new
// one.
func TestCompactCrashDuringSwap(t *testing.T) {
	steps := []struct {
		step   string
		newLog bool
	}{
		{"before-commit", false}, {"committed", true}, {"one-deleted", true},
		{"deleted", true}, {"index-renamed", true}, {"renamed", true},
	}
	for _, sc := range steps {
		t.Run(sc.step, func(t *testing.T) {
			root := t.TempDir()
			m := openTestManager(t, filepath.Join(root, "a"), nil)
			cfg := DefaultConfig()
			compactCfg(func(c *Config) { c.SegmentBytes = 300 })(&cfg)
			l, err := m.GetOrCreate("t", 0, cfg)
			if err != nil {
				t.Fatal(err)
			}
			fillKeys(t, l, 60, 4, CodecNone)
			if _, err := l.Compact(time.UnixMilli(5000)); err != nil { // shrink, so the next pass groups
				t.Fatal(err)
			}
			fillKeys(t, l, 60, 4, CodecNone)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			old := readRecs(t, l, 0)
			// The expected new log: the same pass, uninterrupted, on a copy.
			m.abandon()
			copyDir(t, filepath.Join(root, "a"), filepath.Join(root, "b"))
			mb := openTestManager(t, filepath.Join(root, "b"), nil)
			lb, _ := mb.GetOrCreate("t", 0, cfg)
			lb.SetHighWatermark(lb.LogEndOffset())
			if _, err := lb.Compact(time.UnixMilli(5000)); err != nil {
				t.Fatal(err)
			}
			want := readRecs(t, lb, 0)
			mb.Close()
			if fmt.Sprint(want) == fmt.Sprint(old) {
				t.Fatal("pass changed nothing")
			}

			m = openTestManager(t, filepath.Join(root, "a"), nil)
			l, _ = m.GetOrCreate("t", 0, cfg)
			l.SetHighWatermark(l.LogEndOffset())
			l.cleaner.crashAt = sc.step
			if _, err := l.Compact(time.UnixMilli(5000)); !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("no simulated crash: %v", err)
			}
			m.abandon()
			m = openTestManager(t, filepath.Join(root, "a"), nil)
			defer m.Close()
			l, _ = m.GetOrCreate("t", 0, cfg)
			got := readRecs(t, l, 0)
			checkIncreasing(t, got)
			exp := old
			if sc.newLog {
				exp = want
			}
			// The crashed pass had swapped at most the first group; later
			// groups are still old, so compare what the first group covers
			// and the latest values overall.
			if fmt.Sprint(latestPerKey(got)) != fmt.Sprint(latestPerKey(old)) {
				t.Fatalf("latest values changed")
			}
			end := l.segs[1].base
			var g, e []crec
			for _, r := range got {
				if r.off < end {
					g = append(g, r)
				}
			}
			for _, r := range exp {
				if r.off < end {
					e = append(e, r)
				}
			}
			if fmt.Sprint(g) != fmt.Sprint(e) {
				t.Fatalf("first group after crash at %s:\n%v\nwant\n%v", sc.step, g, e)
			}
			ents, _ := os.ReadDir(l.Dir())
			for _, e := range ents {
				if n := e.Name(); filepath.Ext(n) == ".swap" || filepath.Ext(n) == ".cleaned" {
					t.Fatalf("left over %s", n)
				}
			}
			// And it cleans fine afterwards.
			l.SetHighWatermark(l.LogEndOffset())
			if _, err := l.Compact(time.UnixMilli(5000)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func txnBatch(pid int64, seq int32, txn bool, pairs ...string) []byte {
	b := BatchBuilder{ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq, Idempotent: true, Transactional: txn}
	for i := 0; i < len(pairs); i += 2 {
		b.Add(10, []byte(pairs[i]), []byte(pairs[i+1]))
	}
	return b.Build()
}

func TestCompactTransactions(t *testing.T) {
	_, l := newLog(t, compactCfg(func(c *Config) { c.DeleteRetentionMs = 1000 }))
	coord := AppendOptions{AssignOffsets: true, AllowControl: true}
	mustApp(t, l, kv(CodecNone, 1, "a", "1"), leader)
	ab := mustApp(t, l, txnBatch(1, 0, true, "a", "aborted", "x", "aborted"), leader)
	cm := mustApp(t, l, txnBatch(2, 0, true, "b", "committed"), leader)
	abortM := mustApp(t, l, ControlBatch(1, 0, false, 0, 20), coord)
	commitM := mustApp(t, l, ControlBatch(2, 0, true, 0, 20), coord)
	// Producer 1 moves on, so its aborted batch no longer holds its last
	// sequence (otherwise it would be kept as an empty batch, and with it
	// the abort marker and its .txnindex entry).
	mustApp(t, l, txnBatch(1, 2, false, "y", "1"), leader)
	fillKeys(t, l, 40, 3, CodecNone) // other keys: k0..k2; rolls segments
	l.SetHighWatermark(l.LogEndOffset())
	markers := func() map[int64]bool {
		out := map[int64]bool{}
		for b := readAll(t, l, 0); len(b) > 0; {
			h, _ := checkBatchFrame(b)
			if h.IsControl() {
				out[h.BaseOffset] = true
			}
			b = b[h.Size():]
		}
		return out
	}
	if _, err := l.Compact(time.UnixMilli(100)); err != nil {
		t.Fatal(err)
	}
	recs := readRecs(t, l, 0)
	for _, r := range recs {
		if r.value == "aborted" {
			t.Fatalf("aborted record kept: %v", r)
		}
	}
	lp := latestPerKey(recs)
	if lp["a"].value != "1" || lp["b"].value != "committed" {
		t.Fatalf("latest %v", lp)
	}
	mk := markers()
	// Abort marker: its transaction still had batches this pass, so it stays
	// with its .txnindex entry; commit marker: its data is still there.
	if !mk[abortM.BaseOffset] || !mk[commitM.BaseOffset] {
		t.Fatalf("markers after first pass %v", mk)
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 1 || got[0].FirstOffset != ab.BaseOffset {
		t.Fatalf("aborted txns %v", got)
	}
	// Second pass (after new dirt): no batches of the aborted txn are left;
	// the marker gets a delete horizon and its txnindex entry goes.
	fillKeys(t, l, 30, 3, CodecNone)
	if _, err := l.Compact(time.UnixMilli(200)); err != nil {
		t.Fatal(err)
	}
	if mk := markers(); !mk[abortM.BaseOffset] {
		t.Fatalf("abort marker dropped before its horizon: %v", mk)
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("aborted txns after second pass %v", got)
	}
	// After the horizon: gone. The commit marker stays while b's record does.
	if _, err := l.Compact(time.UnixMilli(200 + 1000)); err != nil {
		t.Fatal(err)
	}
	mk = markers()
	if mk[abortM.BaseOffset] || !mk[commitM.BaseOffset] {
		t.Fatalf("markers after horizon %v", mk)
	}
	// Overwrite b; then the commit marker has no data left and goes too.
	mustApp(t, l, kv(CodecNone, 1, "b", "new"), leader)
	mustApp(t, l, txnBatch(2, 1, false, "w", "1"), leader) // producer 2 moves on
	fillKeys(t, l, 30, 3, CodecNone)
	for _, now := range []int64{2000, 2100, 4000} {
		fillKeys(t, l, 20, 3, CodecNone)
		if _, err := l.Compact(time.UnixMilli(now)); err != nil {
			t.Fatal(err)
		}
	}
	if mk := markers(); mk[commitM.BaseOffset] {
		t.Fatalf("commit marker kept: %v", mk)
	}
	_ = cm
}

// TestCompactRetainsLastSequence: a batch whose records are all superseded
// but that holds its producer's last sequence stays as an empty batch, so
// the producer's next batch is still in sequence after a restart.
func TestCompactRetainsLastSequence(t *testing.T) {
	m, l := newLog(t, compactCfg(nil))
	r := mustApp(t, l, txnBatch(7, 0, false, "p", "1", "q", "1"), leader)
	mustApp(t, l, txnBatch(8, 0, false, "z", "1"), leader)
	mustApp(t, l, txnBatch(8, 1, false, "z", "2"), leader) // producer 8's older batch can go
	fillKeys(t, l, 30, 2, CodecNone)
	mustApp(t, l, kv(CodecNone, 1, "p", "2", "q", "2", "z", "3"), leader)
	fillKeys(t, l, 30, 2, CodecNone)
	if _, err := l.Compact(time.UnixMilli(100)); err != nil {
		t.Fatal(err)
	}
	var empties []BatchHeader
	for b := readAll(t, l, 0); len(b) > 0; {
		h, _ := checkBatchFrame(b)
		if h.RecordCount == 0 {
			empties = append(empties, h)
		}
		if h.ProducerID == 8 && h.BaseSequence == 0 {
			t.Fatalf("producer 8's superseded older batch kept")
		}
		b = b[h.Size():]
	}
	if len(empties) != 2 || empties[0].BaseOffset != r.BaseOffset || empties[0].LastOffset() != r.LastOffset ||
		empties[0].ProducerID != 7 || empties[0].LastSequence() != 1 {
		t.Fatalf("empty batches %+v", empties)
	}
	dir := m.opts.Dir
	cfg := l.Config()
	m.abandon() // rebuild producer state from the log
	os.Remove(filepath.Join(l.Dir(), partitionCheckpointFile))
	for _, s := range mustList(t, l.Dir(), ".snapshot") {
		os.Remove(filepath.Join(l.Dir(), s))
	}
	m2 := openTestManager(t, dir, nil)
	defer m2.Close()
	l2, _ := m2.GetOrCreate("t", 0, cfg)
	if d, err := l2.Append(txnBatch(7, 0, false, "p", "1", "q", "1"), leader); err != nil || !d.Duplicate {
		t.Fatalf("retry of the last batch not a duplicate: %+v %v", d, err)
	}
	if _, err := l2.Append(txnBatch(7, 2, false, "p", "3"), leader); err != nil {
		t.Fatalf("next sequence after cleaning: %v", err)
	}
}

func mustList(t testing.TB, dir, ext string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ext {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestCompactDedupeBudget(t *testing.T) {
	_, l := newLog(t, compactCfg(nil))
	fillKeys(t, l, 300, 300, CodecNone) // all distinct keys
	mustApp(t, l, kv(CodecNone, 1, "k0", "again"), leader)
	fillKeys(t, l, 20, 1, CodecNone)
	// 64 slots * 0.9 = 57 keys per pass.
	st, err := l.compact(time.UnixMilli(100), 64*omSlotSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.MapFull || st.End >= 300 || st.End < 50 {
		t.Fatalf("budget pass %+v", st)
	}
	passes := 1
	for !st.SkippedUncleaned {
		if st, err = l.compact(time.UnixMilli(100), 64*omSlotSize, nil); err != nil {
			t.Fatal(err)
		}
		passes++
		if passes > 20 {
			t.Fatal("no progress")
		}
	}
	recs := readRecs(t, l, 0)
	checkIncreasing(t, recs)
	lp := latestPerKey(recs)
	if len(lp) != 300 || lp["k0"].value != "v19" || lp["k299"].value != "v299" {
		t.Fatalf("keys %d, k0 %v", len(lp), lp["k0"])
	}
	n := 0
	for _, r := range recs {
		if r.key == "k0" && r.off < l.segs[len(l.segs)-1].base {
			n++
		}
	}
	if n > 1 {
		t.Fatalf("k0 %d times in the cleaned part", n)
	}
}

func TestCompactDeleteAlsoRetains(t *testing.T) {
	// Segments emptied by cleaning have no timestamp: retention goes by
	// their mtime, so the clock starts at the wall clock.
	clock := &testClock{t: time.Now()}
	m := openTestManager(t, t.TempDir(), clock.now)
	defer m.Close()
	cfg := DefaultConfig()
	compactCfg(func(c *Config) { c.CleanupPolicy = "compact,delete"; c.RetentionMs = 1000 })(&cfg)
	l, err := m.GetOrCreate("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		mustApp(t, l, kv(CodecNone, clock.t.UnixMilli()+int64(i), fmt.Sprintf("k%d", i%3), "v"), leader)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if n := m.RunCleaner(); n != 1 {
		t.Fatalf("cleaned %d logs", n)
	}
	clock.t = clock.t.Add(time.Hour)
	if n := m.RunRetention(); n == 0 {
		t.Fatal("compact,delete applied no retention")
	}
	if len(l.segs) != 1 {
		t.Fatalf("segments left %d", len(l.segs))
	}
}

func TestManagerCleanerRatioAndLag(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(1_000_000)}
	m := openTestManager(t, t.TempDir(), clock.now)
	defer m.Close()
	cfg := DefaultConfig()
	compactCfg(func(c *Config) { c.MinCleanableDirtyRatio = 0.5; c.MinCompactionLagMs = 60_000 })(&cfg)
	l, _ := m.GetOrCreate("t", 0, cfg)
	for i := 0; i < 40; i++ {
		mustApp(t, l, kv(CodecNone, clock.t.UnixMilli(), fmt.Sprintf("k%d", i%3), "v"), leader)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if n := m.RunCleaner(); n != 0 {
		t.Fatal("cleaned within min.compaction.lag.ms")
	}
	clock.t = clock.t.Add(2 * time.Minute)
	if n := m.RunCleaner(); n != 1 {
		t.Fatal("not cleaned after the lag")
	}
	// Now mostly clean: a little dirt stays below the ratio…
	mustApp(t, l, kv(CodecNone, clock.t.UnixMilli(), "k1", "v"), leader)
	for i := 0; i < 6; i++ {
		mustApp(t, l, kv(CodecNone, clock.t.UnixMilli(), fmt.Sprintf("k%d", i%3), "v"), leader)
	}
	l.SetHighWatermark(l.LogEndOffset())
	clock.t = clock.t.Add(2 * time.Minute)
	if r, due := l.cleanableRatio(clock.t); due || r == 0 {
		t.Logf("ratio %v due %v", r, due)
	}
	// …until max.compaction.lag.ms forces it.
	cfg.MaxCompactionLagMs = 1000
	l.SetConfig(cfg)
	if _, due := l.cleanableRatio(clock.t); !due {
		t.Fatal("max.compaction.lag.ms did not force cleaning")
	}
}

func TestCompactReaderKeepsOldBytes(t *testing.T) {
	_, l := newLog(t, compactCfg(nil))
	fillKeys(t, l, 100, 3, CodecNone)
	r, err := l.Read(0, l.HighWatermark(), 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var before bytes.Buffer
	r.WriteTo(&before)
	if _, err := l.Compact(time.UnixMilli(100)); err != nil {
		t.Fatal(err)
	}
	var after bytes.Buffer
	if _, err := r.WriteTo(&after); err != nil || !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Fatalf("held read changed: %v", err)
	}
}

func TestCompactTruncationLowersCheckpoint(t *testing.T) {
	_, l := newLog(t, compactCfg(nil))
	fillKeys(t, l, 100, 3, CodecNone)
	st, err := l.Compact(time.UnixMilli(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(st.End - 5); err != nil {
		t.Fatal(err)
	}
	if off, ok := readCleanerCheckpoint(l.Dir()); !ok || off > l.LogEndOffset() {
		t.Fatalf("checkpoint %d after truncation to %d", off, l.LogEndOffset())
	}
}

// BenchmarkCompact measures cleaning throughput in MB/s of input (the bytes
// of the segments rewritten): 64 MiB of 1 KiB-value records over 10k keys
// in 16 KiB-ish batches, uncompressed and lz4.
func BenchmarkCompact(b *testing.B) {
	for _, codec := range []int8{CodecNone, CodecLZ4} {
		b.Run(fmt.Sprintf("codec=%d", codec), func(b *testing.B) {
			// Random hex values: about 2:1 under lz4, like typical payloads.
			rng := rand.New(rand.NewPCG(1, 2))
			pool := make([]byte, 1<<20)
			for i := range pool {
				pool[i] = "0123456789abcdef"[rng.IntN(16)]
			}
			var total int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				m, err := OpenManager(ManagerOptions{Dir: b.TempDir(), RetentionCheckInterval: time.Hour, CleanerDisabled: true})
				if err != nil {
					b.Fatal(err)
				}
				cfg := DefaultConfig()
				cfg.CleanupPolicy = "compact"
				cfg.SegmentBytes = 16 << 20
				l, _ := m.GetOrCreate("bench", 0, cfg)
				n := 0
				for l.Size() < 64<<20 {
					bb := BatchBuilder{Codec: codec}
					for j := 0; j < 16; j++ {
						at := rng.IntN(len(pool) - 1024)
						bb.Add(int64(n), []byte(fmt.Sprintf("key-%d", n%10000)), pool[at:at+1024])
						n++
					}
					if _, err := l.Append(bb.Build(), leader); err != nil {
						b.Fatal(err)
					}
				}
				l.SetHighWatermark(l.LogEndOffset())
				b.StartTimer()
				st, err := l.Compact(time.Now())
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				total += st.BytesRead
				m.Close()
			}
			b.SetBytes(total / int64(b.N))
		})
	}
}
