package network

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// startLimited starts a Server with the given configuration (listeners on
// 127.0.0.1:0 named as given) and returns the address of each listener.
func startLimited(t *testing.T, cfg Config) []string {
	t.Helper()
	cfg.MaxRequestSize = 1 << 20
	cfg.Logger = zap.NewNop()
	s, err := NewServer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var out []string
	for _, a := range s.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// served dials addr and completes one ApiVersions.
func served(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := wiretest.Dial(t, addr)
	apiVersions(t, c, 3, 1)
	return c
}

// unanswered sends ApiVersions on c and checks that no answer comes
// within a while: the connection is held by a limit. (Only a broken
// limit answers, so this cannot fail spuriously; the wait is not a
// timing assertion on the server.)
func unanswered(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("connection over the limit was served or closed: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(guard))
}

func sendAPIVersions(t *testing.T, c net.Conn, corr int32) {
	t.Helper()
	r := kmsg.NewPtrApiVersionsRequest()
	r.SetVersion(3)
	r.ClientSoftwareName, r.ClientSoftwareVersion = "raw", "1"
	wiretest.Send(t, c, r, corr)
}

// servedEventually dials until a connection is served: the server learns
// of a closed connection asynchronously, so a freed per-address slot may
// take a moment to be seen.
func servedEventually(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(guard))
		sendAPIVersions(t, c, 1)
		var b [4]byte
		if _, err := c.Read(b[:]); err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("never served")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxConnectionsPerIP(t *testing.T) {
	addrs := startLimited(t, Config{
		Listeners:           []Listener{{Name: "A", Addr: "127.0.0.1:0"}, {Name: "B", Addr: "127.0.0.1:0"}},
		MaxConnectionsPerIP: 3,
	})
	// The count is per address across listeners.
	var open []net.Conn
	for i := range 3 {
		open = append(open, served(t, addrs[i%2]))
	}
	for _, a := range addrs {
		c := wiretest.Dial(t, a)
		expectClosed(t, c) // limit+1: refused at once, on either listener
	}
	open[0].Close()
	servedEventually(t, addrs[1])
}

func TestMaxConnectionsPerIPOverrides(t *testing.T) {
	over, err := ParseMaxConnectionsPerIPOverrides(context.Background(), "127.0.0.1:1, [::1]:0,localhost:1")
	if err != nil {
		t.Fatal(err)
	}
	if over[netip.MustParseAddr("127.0.0.1")] != 1 || over[netip.MustParseAddr("::1")] != 0 {
		t.Fatalf("parsed %v", over)
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:x", "127.0.0.1:-1", ":3"} {
		if _, err := ParseMaxConnectionsPerIPOverrides(context.Background(), bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	addrs := startLimited(t, Config{
		Listeners:                    []Listener{{Name: "A", Addr: "127.0.0.1:0"}},
		MaxConnectionsPerIP:          100,
		MaxConnectionsPerIPOverrides: map[netip.Addr]int{netip.MustParseAddr("127.0.0.1"): 1},
	})
	served(t, addrs[0])
	expectClosed(t, wiretest.Dial(t, addrs[0]))
}

func TestMaxConnectionsPerListener(t *testing.T) {
	addrs := startLimited(t, Config{
		Listeners: []Listener{{Name: "A", Addr: "127.0.0.1:0", MaxConnections: 2}, {Name: "B", Addr: "127.0.0.1:0"}},
	})
	a1 := served(t, addrs[0])
	served(t, addrs[0])
	// limit+1 on A waits, unserved, while B serves.
	held := wiretest.Dial(t, addrs[0])
	sendAPIVersions(t, held, 7)
	unanswered(t, held)
	served(t, addrs[1])
	served(t, addrs[1])
	// A slot on A frees: the held connection is served.
	a1.Close()
	if corr, _ := wiretest.ReadResponse(t, held); corr != 7 {
		t.Fatalf("corr %d", corr)
	}
}

func TestMaxConnectionsBrokerWide(t *testing.T) {
	addrs := startLimited(t, Config{
		Listeners:           []Listener{{Name: "CLIENT", Addr: "127.0.0.1:0"}, {Name: "INTERNAL", Addr: "127.0.0.1:0"}},
		MaxConnections:      2,
		InterBrokerListener: "INTERNAL",
	})
	c1 := served(t, addrs[0])
	c2 := served(t, addrs[0])
	held := wiretest.Dial(t, addrs[0])
	sendAPIVersions(t, held, 7)
	unanswered(t, held)

	// The inter-broker listener is exempt (KIP-402): its connection is
	// served and one client connection is closed to make room.
	served(t, addrs[1])
	closed := 0
	for _, c := range []net.Conn{c1, c2} {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				closed++
			}
		}
	}
	if closed != 1 {
		t.Fatalf("%d client connections closed for the inter-broker one, want 1", closed)
	}
	// The held client connection still waits: the total is at the limit.
	unanswered(t, held)
}

func TestMaxConnectionCreationRate(t *testing.T) {
	const rate, dials = 10, 40
	for _, cfg := range []Config{
		{Listeners: []Listener{{Name: "A", Addr: "127.0.0.1:0", MaxConnectionCreationRate: rate}}},
		{Listeners: []Listener{{Name: "A", Addr: "127.0.0.1:0"}}, MaxConnectionCreationRate: rate},
	} {
		addrs := startLimited(t, cfg)
		start := time.Now()
		var answered atomic.Int32
		var wg sync.WaitGroup
		for range dials {
			c := wiretest.Dial(t, addrs[0])
			wg.Go(func() {
				c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				sendAPIVersions(t, c, 1)
				var b [4]byte
				if _, err := c.Read(b[:]); err == nil {
					answered.Add(1)
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		// A bucket of one second's worth plus the rate over the time the
		// test watched, plus one for rounding: an upper bound that only a
		// broken limit exceeds, however slow the machine.
		bound := rate + int32(elapsed.Seconds()*rate) + 1
		if got := answered.Load(); got > bound {
			t.Fatalf("%d of %d connections served in %v at %d/s (bound %d)", got, dials, elapsed, rate, bound)
		}
	}
}

// TestSetConnectionLimits: limits changed at run time (dynamic broker
// configs) apply to the next connection, and a raised max.connections
// lets a held connection in at once.
func TestSetConnectionLimits(t *testing.T) {
	s, err := NewServer(Config{
		Listeners:           []Listener{{Name: "A", Addr: "127.0.0.1:0"}},
		MaxConnections:      1,
		MaxConnectionsPerIP: 1,
		Logger:              zap.NewNop(),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.Addrs()[0].String()
	served(t, addr)
	held := wiretest.Dial(t, addr) // waits for a broker-wide slot
	sendAPIVersions(t, held, 7)
	unanswered(t, held)
	s.SetConnectionLimits(ConnectionLimits{MaxConnections: 10, MaxConnectionsPerIP: 1})
	expectClosed(t, held) // now admitted to the per-address check, and over it
	s.SetConnectionLimits(ConnectionLimits{MaxConnections: 10, MaxConnectionsPerIP: 3})
	served(t, addr)
	served(t, addr)
	expectClosed(t, wiretest.Dial(t, addr))
}
