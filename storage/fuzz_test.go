package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Seeds live in testdata/fuzz/<FuzzName>; f.Add adds a few more built here.

func fuzzSeeds() [][]byte {
	var out [][]byte
	out = append(out, mkBatch(3, 1000))
	for _, c := range []int8{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := BatchBuilder{Codec: c}
		b.Add(1, []byte("k"), []byte("v"), Header{Key: []byte("h"), Value: []byte("x")})
		b.Add(2, nil, nil)
		out = append(out, b.Build())
	}
	out = append(out, idemBatch(5, 1, 7, 2, true), ControlBatch(5, 1, false, 3, 9))
	return out
}

// FuzzValidateBatch: the produce-path parser and validator never panic, and
// whatever they accept is a well-formed batch whose records all decode.
func FuzzValidateBatch(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, false)
	}
	var codecs decompressors // shared, as a Manager's logs share theirs
	f.Cleanup(codecs.close)
	f.Fuzz(func(t *testing.T, data []byte, keys bool) {
		h, err := ValidateBatch(data, keys)
		if err != nil {
			var ke *kerr.Error
			if !errors.As(err, &ke) {
				t.Fatalf("non-kerr error %T %v", err, err)
			}
			return
		}
		if h.Size() > int64(len(data)) || h.Magic != 2 {
			t.Fatalf("accepted inconsistent batch %+v", h)
		}
		if h.Codec() == CodecNone {
			n := 0
			if err := forEachRecord(data[:h.Size()], &h, nil, func(*Record) bool { n++; return true }); err != nil || n != int(h.RecordCount) {
				t.Fatalf("accepted batch whose records do not decode: %v %d", err, n)
			}
		}
		// The same bytes through Append behave the same, apart from
		// the leader's timestamp checks.
		chk := &recordChecks{topic: "fuzz", timestamps: true, createTime: true, now: 1000, beforeMaxMs: 1 << 40, afterMaxMs: 1 << 40, codecs: &codecs}
		_, err = parseBatches(bytes.Clone(data[:h.Size()]), AppendOptions{AssignOffsets: true, AllowControl: true}, DefaultConfig(), chk)
		if err != nil && !errors.Is(err, kerr.MessageTooLarge) && !errors.Is(err, kerr.InvalidRecord) && !errors.Is(err, kerr.InvalidTimestamp) {
			t.Fatalf("parseBatches rejected a valid batch: %v", err)
		}
	})
}

// FuzzRecovery: any bytes as a segment file recover (after a crash) to a
// prefix of valid batches, which reads back byte for byte, and appends
// continue after it.
func FuzzRecovery(f *testing.F) {
	var all []byte
	for _, s := range fuzzSeeds()[:3] {
		all = append(all, s...)
	}
	f.Add(all)
	f.Add(all[:len(all)-3])
	f.Add(mkBatch(1, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		dir := t.TempDir()
		pdir := filepath.Join(dir, "f-0")
		os.MkdirAll(pdir, 0o755)
		if err := os.WriteFile(filepath.Join(pdir, segmentName(0)+".log"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := OpenManager(ManagerOptions{Dir: dir, noSync: true})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer m.Close()
		l := m.Get("f", 0)
		got := readAll(t, l, l.LogStartOffset())
		if !bytes.Equal(got, data[:len(got)]) {
			t.Fatal("recovered bytes are not a prefix of the file")
		}
		next := int64(0)
		for b := got; len(b) > 0; {
			h, err := checkBatchFrame(b)
			if err != nil {
				t.Fatalf("served an invalid batch: %v", err)
			}
			if h.BaseOffset < next {
				t.Fatal("offsets go backwards")
			}
			next = h.LastOffset() + 1
			b = b[h.Size():]
		}
		if next != l.LogEndOffset() && len(got) > 0 {
			t.Fatalf("LEO %d, batches end at %d", l.LogEndOffset(), next)
		}
		res, err := l.Append(mkBatch(1, 1), AppendOptions{AssignOffsets: true})
		if err != nil || res.BaseOffset != l.LogEndOffset()-1 {
			t.Fatalf("append after recovery: %+v %v", res, err)
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz seed files when
// RUNNEL_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("RUNNEL_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set RUNNEL_WRITE_FUZZ_SEEDS=1 to regenerate")
	}
	write := func(target, name string, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		body := "go test fuzz v1\n"
		for _, l := range lines {
			body += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lit := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	names := []string{"plain", "gzip", "snappy", "lz4", "zstd", "txn", "control"}
	var all []byte
	for i, s := range fuzzSeeds() {
		write("FuzzValidateBatch", "seed-"+names[i], lit(s), "bool(false)")
		all = append(all, s...)
	}
	write("FuzzValidateBatch", "seed-keys", lit(mkBatch(2, 5)), "bool(true)")
	write("FuzzRecovery", "seed-all", lit(all))
	write("FuzzRecovery", "seed-torn", lit(all[:len(all)-7]))
	write("FuzzRecovery", "seed-one", lit(mkBatch(1, 1)))
	bad := bytes.Clone(all)
	bad[len(fuzzSeeds()[0])+30] ^= 0xff
	write("FuzzRecovery", "seed-corrupt-second", lit(bad))
}
