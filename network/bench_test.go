package network

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkServerRoundTrip is the connection layer's cost per request:
// one raw client sends a small Metadata request and reads its response,
// one at a time, with and without connections.max.idle.ms (whose read and
// write deadlines are set around every response).
func BenchmarkServerRoundTrip(b *testing.B) {
	md := kmsg.NewPtrMetadataResponse()
	for _, idle := range []time.Duration{0, 10 * time.Minute} {
		b.Run(fmt.Sprintf("idle=%v", idle), func(b *testing.B) {
			s, err := NewServer(Config{
				Listeners:   []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}},
				IdleTimeout: idle,
			}, map[int16]Handler{3: {MaxVersion: 12, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
				return Response{Msg: md}, nil
			}}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Start(); err != nil {
				b.Fatal(err)
			}
			c, err := net.Dial("tcp", s.Addrs()[0].String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := kmsg.NewPtrMetadataRequest()
			r.SetVersion(12)
			req := sized(encodeRequest(r, 1, strp("bench")))
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if buf, err = protocol.ReadFrame(c, 1<<20, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServerRoundTripLimits is BenchmarkServerRoundTrip with every
// connection limit and the request memory pool configured but not binding,
// against none: the cost of the accounting itself per request.
func BenchmarkServerRoundTripLimits(b *testing.B) {
	md := kmsg.NewPtrMetadataResponse()
	limits := func(c Config) Config {
		c.Listeners[0].MaxConnections = 10000
		c.Listeners[0].MaxConnectionCreationRate = 10000
		c.MaxConnections = 10000
		c.MaxConnectionsPerIP = 1000
		c.MaxConnectionCreationRate = 10000
		c.QueuedMaxRequestBytes = 1 << 30
		c.QueuedMaxRequests = 500
		return c
	}
	for _, limited := range []bool{false, true} {
		b.Run(fmt.Sprintf("limits=%v", limited), func(b *testing.B) {
			cfg := Config{Listeners: []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}}}
			if limited {
				cfg = limits(cfg)
			}
			s, err := NewServer(cfg, map[int16]Handler{3: {MaxVersion: 12, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
				return Response{Msg: md}, nil
			}}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Start(); err != nil {
				b.Fatal(err)
			}
			c, err := net.Dial("tcp", s.Addrs()[0].String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := kmsg.NewPtrMetadataRequest()
			r.SetVersion(12)
			req := sized(encodeRequest(r, 1, strp("bench")))
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if buf, err = protocol.ReadFrame(c, 1<<20, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
