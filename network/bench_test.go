package network

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"

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
			req := wiretest.Sized(wiretest.EncodeRequest(r, 1, wiretest.Str("bench")))
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
// against none: the cost of the accounting itself per request. Requests: a
// small Metadata, and a 1 MiB Produce (16 partitions of 64 KiB) whose
// charge to the pool is its worst-case decode budget until decoded.
func BenchmarkServerRoundTripLimits(b *testing.B) {
	small := kmsg.NewPtrMetadataRequest()
	small.SetVersion(12)
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(12)
	produce.Acks = 1
	produce.Topics = []kmsg.ProduceRequestTopic{{Topic: "t"}}
	for p := range int32(16) {
		produce.Topics[0].Partitions = append(produce.Topics[0].Partitions,
			kmsg.ProduceRequestTopicPartition{Partition: p, Records: make([]byte, 64<<10)})
	}
	for _, c := range []struct {
		name string
		req  kmsg.Request
	}{{"metadata", small}, {"produce1MiB", produce}} {
		for _, limited := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/limits=%v", c.name, limited), func(b *testing.B) {
				benchRoundTrip(b, c.req, limited)
			})
		}
	}
}

func benchRoundTrip(b *testing.B, r kmsg.Request, limited bool) {
	cfg := Config{Listeners: []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}}}
	if limited {
		cfg.Listeners[0].MaxConnections = 10000
		cfg.Listeners[0].MaxConnectionCreationRate = 10000
		cfg.MaxConnections = 10000
		cfg.MaxConnectionsPerIP = 1000
		cfg.MaxConnectionCreationRate = 10000
		cfg.QueuedMaxRequestBytes = 100 << 20
		cfg.QueuedMaxRequests = 500
	}
	md, pr := kmsg.NewPtrMetadataResponse(), kmsg.NewPtrProduceResponse()
	s, err := NewServer(cfg, map[int16]Handler{
		3: {MaxVersion: 12, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
			return Response{Msg: md}, nil
		}},
		0: {MaxVersion: 12, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
			return Response{Msg: pr}, nil
		}},
	})
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
	req := wiretest.Sized(wiretest.EncodeRequest(r, 1, wiretest.Str("bench")))
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(req)))
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
}
