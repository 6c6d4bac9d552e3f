// Package wiretest sends hand-built Kafka requests over a raw connection
// and reads the answers, for tests that must send what no client sends (a
// malformed frame, a forbidden version, a request out of order). It
// depends on kmsg only, so that package protocol's own tests can use it.
package wiretest

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Guard bounds every blocking step on a connection from Dial: a hung test
// fails with a timeout instead of stalling the package. It is not a
// timing assertion.
const Guard = 30 * time.Second

// Dial connects to addr, with Guard as the connection's deadline; the
// connection is closed at the end of the test.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(Guard))
	t.Cleanup(func() { c.Close() })
	return c
}

// EncodeRequest is a request as a client frames it, without the size
// prefix: the header (v1, v2 for flexible versions, v0 for ControlledShutdown
// v0) and the body.
func EncodeRequest(r kmsg.Request, corr int32, clientID *string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(r.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(r.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if !(r.Key() == 7 && r.GetVersion() == 0) {
		if clientID == nil {
			b = binary.BigEndian.AppendUint16(b, 0xffff)
		} else {
			b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
			b = append(b, *clientID...)
		}
	}
	if r.IsFlexible() {
		b = append(b, 0)
	}
	return r.AppendTo(b)
}

// Sized prefixes p with its int32 length, as every Kafka frame is.
func Sized(p []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...)
}

// Str is a pointer to s, for nullable strings.
func Str(s string) *string { return &s }

// Send writes r as one frame with client id "raw".
func Send(t testing.TB, c net.Conn, r kmsg.Request, corr int32) {
	t.Helper()
	if _, err := c.Write(Sized(EncodeRequest(r, corr, Str("raw")))); err != nil {
		t.Fatal(err)
	}
}

// maxResponse bounds a response frame the helpers read.
const maxResponse = 64 << 20

// ReadResponse reads one response frame and returns its correlation id and
// what follows it (the body, after header tags for header v1).
func ReadResponse(t testing.TB, c net.Conn) (int32, []byte) {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("reading a response size: %v", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxResponse {
		t.Fatalf("response of %d bytes", n)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(c, frame); err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	return int32(binary.BigEndian.Uint32(frame)), frame[4:]
}
