package integration

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBadInputClosesOnlyThatConnection sends the broker malformed traffic
// on several connections and checks that each such connection is closed (or
// answered with Kafka's error) while a well-behaved client keeps working.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "survivor", 1)
	good := b.franz(t)

	cases := map[string][]byte{
		"oversized frame":  be32(200 << 20),
		"negative size":    be32(-5),
		"garbage":          append(be32(12), []byte("hello, kafka")...),
		"unknown api key":  request(9999, 0, nil),
		"truncated header": append(be32(3), 0, 3, 0),
		"metadata v99":     request(3, 99, nil),
		"produce v0 body":  request(0, 0, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial(t, b)
			defer c.Close()
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
			assertClosed(t, c)
		})
	}

	t.Run("unsupported ApiVersions version gets v0 UNSUPPORTED_VERSION and the table", func(t *testing.T) {
		c := dial(t, b)
		defer c.Close()
		if _, err := c.Write(request(18, 99, nil)); err != nil {
			t.Fatal(err)
		}
		body := readResponse(t, c)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decoding v0 ApiVersions response: %v", err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
			t.Fatalf("error %d with %d keys; want UNSUPPORTED_VERSION and the table", resp.ErrorCode, len(resp.ApiKeys))
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	topic := kmsg.NewMetadataRequestTopic()
	topic.Topic = kmsg.StringPtr("survivor")
	req.Topics = append(req.Topics, topic)
	resp, err := req.RequestWith(ctx, good)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("a good client after bad ones: %v %+v", err, resp)
	}
}

func dial(t *testing.T, b *broker) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// request frames a v1 request header (key, version, correlation id 7,
// client id "it") and body.
func request(key, version int16, body []byte) []byte {
	var hdr []byte
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(key))
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(version))
	hdr = binary.BigEndian.AppendUint32(hdr, 7)
	hdr = binary.BigEndian.AppendUint16(hdr, 2)
	hdr = append(hdr, "it"...)
	msg := append(hdr, body...)
	return append(be32(int32(len(msg))), msg...)
}

func be32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

// assertClosed waits for the broker to close c without answering.
func assertClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1)
	_, err := c.Read(buf)
	if err == nil {
		t.Fatal("broker answered instead of closing the connection")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("broker kept the connection open")
	}
}

// readResponse reads one response frame and returns its body after the
// v0 response header (correlation id).
func readResponse(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, frame); err != nil {
		t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != 7 {
		t.Fatalf("correlation id %d", got)
	}
	return frame[4:]
}
