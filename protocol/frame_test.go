package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/runnel/runnel/internal/wiretest"
)

func TestReadFrame(t *testing.T) {
	payload := []byte("hello, kafka")
	got, err := ReadFrame(bytes.NewReader(wiretest.Sized(payload)), 100, nil)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("ReadFrame = %q, %v", got, err)
	}

	// Reuses a big-enough buffer.
	buf := make([]byte, 0, 64)
	got, err = ReadFrame(bytes.NewReader(wiretest.Sized(payload)), 100, buf)
	if err != nil || &got[0] != &buf[:1][0] {
		t.Fatalf("buffer not reused: %v", err)
	}

	// Zero-length frame is a frame (ParseRequest rejects it later).
	got, err = ReadFrame(bytes.NewReader(wiretest.Sized(nil)), 100, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty frame = %q, %v", got, err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"eof", nil, io.EOF},
		{"short size", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"negative", binary.BigEndian.AppendUint32(nil, 0xffffffff), ErrFrameSize},
		{"oversized", binary.BigEndian.AppendUint32(nil, 101), ErrFrameSize},
		{"truncated", append(binary.BigEndian.AppendUint32(nil, 10), 1, 2, 3), io.ErrUnexpectedEOF},
		{"size only", binary.BigEndian.AppendUint32(nil, 10), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in), 100, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// An announced 100 MiB frame that never arrives must not cost 100 MiB.
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	in := binary.BigEndian.AppendUint32(nil, uint32(DefaultMaxRequestSize))
	in = append(in, make([]byte, 10)...)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := ReadFrame(bytes.NewReader(in), DefaultMaxRequestSize, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
				b.Fatal(err)
			}
		}
	})
	if per := allocs.AllocedBytesPerOp(); per > 2*frameGrowStep {
		t.Fatalf("allocated %d bytes for a stalled frame", per)
	}
}

// A frame larger than one growth step arrives whole, in pieces.
func TestReadFrameLarge(t *testing.T) {
	payload := make([]byte, 5*frameGrowStep+123)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	r := io.MultiReader(bytes.NewReader(wiretest.Sized(payload)[:1000]), iotestHalf(bytes.NewReader(wiretest.Sized(payload)[1000:])))
	got, err := ReadFrame(r, DefaultMaxRequestSize, nil)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("large frame mismatch: %v", err)
	}
}

// iotestHalf returns a reader that returns at most 4099 bytes per Read.
func iotestHalf(r io.Reader) io.Reader { return &smallReader{r} }

type smallReader struct{ r io.Reader }

func (s *smallReader) Read(p []byte) (int, error) {
	if len(p) > 4099 {
		p = p[:4099]
	}
	return s.r.Read(p)
}
