package network

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestMemoryPoolHeaderOnlyFrames: connections that each send only the size
// of a 100 MiB frame and then nothing hold no more than the pool. Without
// it each would hold the first 8 MiB step of its frame buffer (1,000 of
// them 8 GB).
func TestMemoryPoolHeaderOnlyFrames(t *testing.T) {
	const conns, pool = 1000, 32 << 20
	s, err := NewServer(Config{
		Listeners:             []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		MaxRequestSize:        protocol.DefaultMaxRequestSize,
		QueuedMaxRequestBytes: pool,
		Logger:                zap.NewNop(),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := heapInUse()
	header := binary.BigEndian.AppendUint32(nil, uint32(protocol.DefaultMaxRequestSize))
	header = append(header, 0, 0, 0, 12) // Produce v12: the head is read, the body never comes
	var cs []net.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", s.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		if _, err := c.Write(header); err != nil {
			t.Fatal(err)
		}
	}
	// Every connection is accepted and has had its header read (or is
	// waiting on the pool to read it).
	deadline := time.Now().Add(guard)
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		s.pool.mu.Lock()
		used := s.pool.used
		s.pool.mu.Unlock()
		if n == conns && used == pool {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, pool %d used", n, used)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let readers reach their reads; only helps the bound below fail
	grew := int64(heapInUse()) - int64(before)
	// Connections cost their goroutines and buffers (a few KiB each);
	// the frames together hold at most the pool.
	limit := int64(pool) + conns*32<<10
	t.Logf("heap grew %d MiB for %d connections (pool %d MiB)", grew>>20, conns, pool>>20)
	if grew > limit {
		t.Fatalf("heap grew %d bytes, over the pool plus connection overhead (%d)", grew, limit)
	}
}

// TestMemoryPoolServes: with a pool smaller than one request's charge and
// one queue slot, many connections pipelining requests are all answered
// in order: an oversized charge runs alone rather than never, and nothing
// deadlocks.
func TestMemoryPoolServes(t *testing.T) {
	md := kmsg.NewPtrMetadataResponse()
	s, err := NewServer(Config{
		Listeners:             []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		MaxRequestSize:        1 << 20,
		QueuedMaxRequestBytes: 64 << 10,
		QueuedMaxRequests:     1,
		Logger:                zap.NewNop(),
	}, map[int16]Handler{3: {MaxVersion: 12, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
		return Response{Msg: md}, nil
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := kmsg.NewPtrMetadataRequest()
	big.SetVersion(12)
	for i := range 1000 {
		big.Topics = append(big.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(fmt.Sprintf("topic-%04d", i))})
	}
	frame := wiretest.Sized(wiretest.EncodeRequest(big, 0, wiretest.Str("pool")))
	if protocol.DecodeBudget(len(frame)) < 64<<10 {
		t.Fatal("request charge fits the pool; the test needs a larger one")
	}
	var wg sync.WaitGroup
	for range 10 {
		c := wiretest.Dial(t, s.Addrs()[0].String())
		frame := append([]byte(nil), frame...)
		wg.Go(func() {
			for i := range int32(5) {
				binary.BigEndian.PutUint32(frame[8:], uint32(i))
				if _, err := c.Write(frame); err != nil {
					t.Error(err)
					return
				}
			}
			for i := range int32(5) {
				got, err := protocol.ReadFrame(c, 1<<20, nil)
				if err != nil || int32(binary.BigEndian.Uint32(got)) != i {
					t.Errorf("response %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestMemoryPoolProduceCharge: a Produce request holds, while it is
// handled, its frame and its DecodedSize, not the worst-case DecodeBudget
// it was charged while being decoded.
func TestMemoryPoolProduceCharge(t *testing.T) {
	var s *Server
	used := make(chan int64, 1)
	s, err := NewServer(Config{
		Listeners:             []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		MaxRequestSize:        1 << 20,
		QueuedMaxRequestBytes: 1 << 30,
		Logger:                zap.NewNop(),
	}, map[int16]Handler{0: {MaxVersion: 12, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
		s.pool.mu.Lock()
		used <- s.pool.used
		s.pool.mu.Unlock()
		return Response{}, nil // acks=0: no response
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := kmsg.NewPtrProduceRequest()
	r.SetVersion(12)
	r.Acks = 0
	for i := range 3 {
		topic := kmsg.ProduceRequestTopic{Topic: fmt.Sprintf("t%d", i)}
		for p := range int32(4) {
			topic.Partitions = append(topic.Partitions, kmsg.ProduceRequestTopicPartition{Partition: p, Records: make([]byte, 32<<10)})
		}
		r.Topics = append(r.Topics, topic)
	}
	frame := wiretest.EncodeRequest(r, 1, wiretest.Str("p"))
	c := wiretest.Dial(t, s.Addrs()[0].String())
	if _, err := c.Write(wiretest.Sized(frame)); err != nil {
		t.Fatal(err)
	}
	got := <-used
	req, err := protocol.ParseRequest(frame)
	if err != nil {
		t.Fatal(err)
	}
	est, _ := protocol.DecodedSize(req)
	if want := int64(len(frame)) + est; got != want || got >= protocol.DecodeBudget(len(frame)) {
		t.Fatalf("pool holds %d while the Produce request is handled, want %d (frame %d + decoded %d; budget %d)",
			got, want, len(frame), est, protocol.DecodeBudget(len(frame)))
	}
}
