package storage

import (
	"errors"
	"fmt"
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
			if err := forEachRecord(b[:h.Size()], &h, func(r *Record) bool {
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
	err = forEachRecord(b[:h.Size()], &h, func(r *Record) bool {
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
