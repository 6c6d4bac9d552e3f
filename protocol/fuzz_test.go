package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzParseRequest: any frame either decodes into a request within the
// version bounds or fails with a *RequestError; nothing panics, and decoding
// never allocates more than a small multiple of the frame.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range seedRequests() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := ParseRequest(frame)
		// TotalAlloc is process-wide and the fuzzing engine allocates
		// beside us, so one measurement can be inflated: the bound must be
		// exceeded on every one of a few tries to count. The ceiling is
		// the decode budget the connection layer charges to the request
		// memory pool (budget.go), with room for the engine's noise.
		limit := uint64(DecodeBudget(len(frame))) + (48 << 10)
		grew := uint64(1<<63 - 1)
		for try := 0; try < 3 && grew > limit; try++ {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _ = ParseRequest(frame)
			runtime.ReadMemStats(&after)
			grew = min(grew, after.TotalAlloc-before.TotalAlloc)
		}
		if grew > limit {
			t.Fatalf("%d bytes allocated for a %d-byte frame", grew, len(frame))
		}
		if err != nil {
			if _, ok := err.(*RequestError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if !Supported(req.Key, req.Version) || req.Body.Key() != req.Key || req.Body.GetVersion() != req.Version {
			t.Fatalf("decoded out-of-bounds request %d v%d", req.Key, req.Version)
		}
		_ = req.Body.AppendTo(nil) // a decoded body re-encodes without panicking
	})
}

// FuzzReadFrameHead: reading a frame's head and then its rest (as the
// connection layer does, charging the request memory pool in between)
// gives what ReadFrame gives, and the head never exceeds the frame.
func FuzzReadFrameHead(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s.in, s.max, uint8(4))
	}
	f.Fuzz(func(t *testing.T, in []byte, maxSize int32, headLen uint8) {
		want, wantErr := ReadFrame(bytes.NewReader(in), maxSize, nil)
		r := bytes.NewReader(in)
		head := make([]byte, headLen%16)
		size, n, err := ReadFrameHead(r, maxSize, head)
		var got []byte
		if err == nil {
			if n > size || n > len(head) {
				t.Fatalf("head of %d bytes for a %d-byte frame", n, size)
			}
			var pool FramePool
			got, err = ReadPooledFrameRest(r, size, head[:n], &pool)
		}
		if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("head+rest %q, %v; ReadFrame %q, %v", got, err, want, wantErr)
		}
	})
}

// FuzzReadFrame: the returned frame never exceeds the limit nor the input.
func FuzzReadFrame(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s.in, s.max)
	}
	f.Fuzz(func(t *testing.T, in []byte, maxSize int32) {
		got, err := ReadFrame(bytes.NewReader(in), maxSize, nil)
		if err != nil {
			return
		}
		if len(got) > int(maxSize) || len(got) > len(in)-4 {
			t.Fatalf("frame of %d bytes from %d input bytes, max %d", len(got), len(in), maxSize)
		}
	})
}

// seedRequests returns valid frames for every key kmsg knows (at its floor
// and its maximum version) plus a few broken ones.
func seedRequests() [][]byte {
	var out [][]byte
	for key := int16(0); key < 100; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			continue
		}
		for _, v := range []int16{Floor(key), r.MaxVersion()} {
			r.SetVersion(v)
			out = append(out, wiretest.EncodeRequest(r, 1, wiretest.Str("seed")))
		}
	}
	// Frames of minimal elements, the worst decode expansion kmsg has
	// (expansion_test.go), so the fuzzer starts from the hostile shapes.
	for key := int16(0); key < 100; key++ {
		if kmsg.RequestForKey(key) == nil || !Supported(key, Floor(key)) {
			continue
		}
		frames := expansionFrames(key, MaxKnown(key), 16)
		out = append(out, frames[:min(len(frames), 3)]...)
		if len(frames) > 3 {
			out = append(out, frames[len(frames)-1]) // the unknown tags
		}
	}
	out = append(out,
		nil,
		[]byte{0, 18, 0, 99, 0, 0, 0, 1},     // ApiVersions v99
		[]byte{0x27, 0x0f, 0, 0, 0, 0, 0, 1}, // key 9999
		[]byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 5, 0x80}, // bad tags
	)
	return out
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from seedRequests when
// RUNNEL_WRITE_CORPUS=1; otherwise it checks the corpus exists.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParseRequest")
	if os.Getenv("RUNNEL_WRITE_CORPUS") != "1" {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Fatalf("seed corpus missing in %s: %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	written := map[string]int{}
	for i, seed := range seedRequests() {
		name := fmt.Sprintf("seed-%03d", i)
		if len(seed) >= 4 {
			name = fmt.Sprintf("seed-%s-v%d", kmsg.NameForKey(int16(binary.BigEndian.Uint16(seed))), int16(binary.BigEndian.Uint16(seed[2:])))
		}
		base := name
		if n := written[base]; n > 0 { // expansion frames share a key and version
			name = fmt.Sprintf("%s-%d", base, n)
		}
		written[base]++
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	frameDir := filepath.Join("testdata", "fuzz", "FuzzReadFrame")
	if err := os.MkdirAll(frameDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, seed := range seedFrames() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nint32(%d)\n", seed.in, seed.max)
		if err := os.WriteFile(filepath.Join(frameDir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type frameSeed struct {
	in  []byte
	max int32
}

func seedFrames() []frameSeed {
	return []frameSeed{
		{wiretest.Sized([]byte("abc")), 100},
		{binary.BigEndian.AppendUint32(nil, 0xffffffff), 100},
		{binary.BigEndian.AppendUint32(nil, 200), 100},
		{[]byte{0, 0}, 10},
		{wiretest.Sized(make([]byte, 50)), 50},
		{wiretest.Sized(make([]byte, 50))[:30], DefaultMaxRequestSize},
	}
}
