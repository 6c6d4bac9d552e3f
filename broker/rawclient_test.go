package broker

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every blocking step of a test; it is not a timing assertion.
const guard = 30 * time.Second

// Raw-client helpers for tests that send hand-built requests to a broker
// (network's tests have their own: test files do not cross packages).

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(guard))
	t.Cleanup(func() { c.Close() })
	return c
}

func encodeRequest(r kmsg.Request, corr int32, clientID *string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(r.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(r.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	if r.IsFlexible() {
		b = append(b, 0)
	}
	return r.AppendTo(b)
}

func sized(p []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...)
}

func strp(s string) *string { return &s }

func sendRequest(t *testing.T, c net.Conn, r kmsg.Request, corr int32) {
	t.Helper()
	if _, err := c.Write(sized(encodeRequest(r, corr, strp("raw")))); err != nil {
		t.Fatal(err)
	}
}

// readResponse reads one response frame and returns its correlation id and
// what follows it (the body, plus header tags for header v1).
func readResponse(t *testing.T, c net.Conn) (int32, []byte) {
	t.Helper()
	frame, err := protocol.ReadFrame(c, 64<<20, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if len(frame) < 4 {
		t.Fatalf("response of %d bytes", len(frame))
	}
	return int32(binary.BigEndian.Uint32(frame)), frame[4:]
}
