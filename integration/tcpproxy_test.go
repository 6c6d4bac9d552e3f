package integration

import (
	"io"
	"net"
	"sync"
	"testing"
)

// tcpProxy forwards connections from its own 127.0.0.1 port to target.
// cut closes every open connection and blackholes new ones until heal (they
// are accepted, read and never answered, as when packets are dropped): a
// network partition between whoever dials the proxy and the target. A
// connection closed at once would read to a client as a broker that refuses
// it (franz-go takes that for a TLS mismatch and fails the records), not as
// an unreachable one.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	held  map[net.Conn]struct{} // blackholed while cut
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, held: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }
func (p *tcpProxy) port() int    { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.held[c] = struct{}{}
			p.mu.Unlock()
			p.wg.Add(1)
			go p.blackhole(c)
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *tcpProxy) serve(c net.Conn) {
	defer p.wg.Done()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		// The target is down (a killed broker): reset the connection, the
		// nearest a proxy that already accepted can come to the
		// "connection refused" a client gets from a host whose process
		// died. A plain close would read as a broker that answered and
		// hung up (franz-go takes that for a TLS mismatch and fails the
		// records).
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		p.drop(c)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		u.Close()
		p.drop(c)
		return
	}
	p.conns[u] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(u, c)
		done <- struct{}{}
	}()
	go func() {
		// A target that goes away before it has answered anything on
		// this connection is a broker killed under a fresh connection
		// (often mid-ApiVersions). The client gets a reset, as when the
		// dial itself fails: a clean close there reads to franz-go as a
		// TLS mismatch, which fails records instead of retrying, and
		// would measure franz-go's heuristic rather than the cluster's
		// failover.
		n, _ := io.Copy(c, u)
		if n == 0 {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
		}
		done <- struct{}{}
	}()
	<-done
	p.drop(c)
	p.drop(u)
	<-done
}

// blackhole reads and discards what a connection made during a cut sends
// until the link heals or the proxy closes, then closes it.
func (p *tcpProxy) blackhole(c net.Conn) {
	defer p.wg.Done()
	io.Copy(io.Discard, c)
	p.mu.Lock()
	delete(p.held, c)
	p.mu.Unlock()
	c.Close()
}

func (p *tcpProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// setCut cuts (true) or heals (false) the link.
func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	p.cut = cut
	var open []net.Conn
	if cut {
		for c := range p.conns {
			open = append(open, c)
		}
	} else {
		for c := range p.held {
			open = append(open, c)
		}
	}
	p.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

func (p *tcpProxy) close() {
	p.ln.Close()
	p.setCut(true)
	p.setCut(false) // releases blackholed connections
	p.wg.Wait()
}
