// Package kafkaproxy is a recording TCP proxy for the Kafka wire protocol,
// for tests: it sits in front of one broker on 127.0.0.1:0, forwards every
// request and response unchanged, and records each exchange decoded into
// franz-go's kmsg types. Answers that advertise broker addresses
// (Metadata, FindCoordinator, DescribeCluster, and the leader hints of
// Produce and Fetch) are rewritten to point at the proxy, so that a real
// client keeps talking through it: every advertised broker becomes the
// proxy, which suits a single-node broker (a cluster needs a proxy per
// node and a map, which this package does not have yet). Optionally it lowers the versions an
// ApiVersions answer advertises, so that clients speak to two brokers at
// the same versions.
//
// Frames are the protocol's: a 4-byte size, then a request header (api
// key, version, correlation id, client id, and tags from header v2 on) or
// a response header (correlation id, tags when the request was flexible
// except for ApiVersions, whose response header is always v0).
package kafkaproxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxFrame bounds a frame the proxy reads (a client's or broker's
// corrupt size must not allocate gigabytes).
const maxFrame = 256 << 20

// unsupportedVersion is Kafka's UNSUPPORTED_VERSION error code.
const unsupportedVersion = 35

// Exchange is one request and its response on one client connection.
type Exchange struct {
	Seq       int   // order in which the proxy read the requests, over all connections
	Conn      int   // the client connection's number, from 0, in the order the proxy connected them
	Key       int16 // api key
	Version   int16
	ClientID  string
	Request   kmsg.Request  // nil if it did not decode (Err says why)
	Response  kmsg.Response // nil if none came (acks=0, a closed connection) or it did not decode
	Err       error
	Requested time.Time
}

// Options tune a Proxy.
type Options struct {
	// MaxVersions caps, per api key, the MaxVersion an ApiVersions answer
	// advertises to the client (keys not listed pass unchanged).
	MaxVersions map[int16]int16
}

// Proxy forwards connections from its listener to one broker.
type Proxy struct {
	ln     net.Listener
	target string
	opts   Options
	host   string
	port   int32

	mu        sync.Mutex
	exchanges []*Exchange
	seq       int
	nconn     int
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New listens on 127.0.0.1:0 and forwards to target (host:port).
func New(target string, opts Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := ln.Addr().(*net.TCPAddr)
	p := &Proxy{ln: ln, target: target, opts: opts, host: a.IP.String(), port: int32(a.Port),
		conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port, for a client's bootstrap list.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Exchanges returns the exchanges recorded so far in request order.
// Responses that arrive later fill in the same Exchange values, so call
// it once the client is done.
func (p *Proxy) Exchanges() []Exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Exchange, len(p.exchanges))
	for i, e := range p.exchanges {
		out[i] = *e
	}
	return out
}

// Reset forgets the exchanges recorded so far (a scenario's setup) and
// numbers the next request 0.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.exchanges = nil
	p.seq = 0
	p.mu.Unlock()
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// serve relays one client connection: requests in one goroutine,
// responses in another; the pending map joins them by correlation id.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	broker, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		return
	}
	if !p.track(broker) {
		broker.Close()
		return
	}
	defer p.untrack(broker)
	p.mu.Lock()
	connNo := p.nconn
	p.nconn++
	p.mu.Unlock()

	var (
		pmu     sync.Mutex
		pending = map[int32]*Exchange{}
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer broker.Close()
		defer client.Close()
		r := bufio.NewReader(client)
		for {
			frame, err := readFrame(r)
			if err != nil {
				return
			}
			ex, corr := p.decodeRequest(frame, connNo)
			if ex != nil {
				pmu.Lock()
				pending[corr] = ex
				pmu.Unlock()
			}
			if err := writeFrame(broker, frame); err != nil {
				return
			}
		}
	}()
	r := bufio.NewReader(broker)
	for {
		frame, err := readFrame(r)
		if err != nil {
			break
		}
		if len(frame) >= 4 {
			corr := int32(binary.BigEndian.Uint32(frame))
			pmu.Lock()
			ex := pending[corr]
			delete(pending, corr)
			pmu.Unlock()
			if ex != nil {
				frame = p.handleResponse(ex, frame)
			}
		}
		if err := writeFrame(client, frame); err != nil {
			break
		}
	}
	client.Close()
	broker.Close()
	<-done
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func writeFrame(w io.Writer, b []byte) error {
	out := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(out, uint32(len(b)))
	_, err := w.Write(append(out, b...))
	return err
}

// decodeRequest parses a request frame's header and body and records it.
func (p *Proxy) decodeRequest(frame []byte, connNo int) (*Exchange, int32) {
	rd := kbin.Reader{Src: frame}
	key, version, corr := rd.Int16(), rd.Int16(), rd.Int32()
	clientID := rd.NullableString()
	if rd.Complete() != nil {
		return nil, 0
	}
	ex := &Exchange{Conn: connNo, Key: key, Version: version, Requested: time.Now()}
	if clientID != nil {
		ex.ClientID = *clientID
	}
	if req := kmsg.RequestForKey(key); req == nil {
		ex.Err = fmt.Errorf("unknown api key %d", key)
	} else {
		req.SetVersion(version)
		if req.IsFlexible() {
			kmsg.SkipTags(&rd)
		}
		if err := req.ReadFrom(rd.Src); err != nil {
			ex.Err = fmt.Errorf("decoding %s v%d request: %w", kmsg.NameForKey(key), version, err)
		} else {
			ex.Request = req
		}
	}
	p.mu.Lock()
	ex.Seq = p.seq
	p.seq++
	p.exchanges = append(p.exchanges, ex)
	p.mu.Unlock()
	return ex, corr
}

// handleResponse decodes a response frame, records it, and returns the
// frame to forward: the same bytes, or re-encoded when it advertised an
// address or versions the proxy rewrites.
func (p *Proxy) handleResponse(ex *Exchange, frame []byte) []byte {
	resp := kmsg.ResponseForKey(ex.Key)
	if resp == nil {
		return frame
	}
	resp.SetVersion(ex.Version)
	rd := kbin.Reader{Src: frame[4:]}
	flexibleHeader := ex.Request != nil && ex.Request.IsFlexible() && ex.Key != 18
	if flexibleHeader {
		kmsg.SkipTags(&rd)
	}
	// An ApiVersions answer to a version the broker does not serve is
	// v0 (KIP-511): UNSUPPORTED_VERSION and the broker's own range.
	if ex.Key == 18 && len(rd.Src) >= 2 && int16(binary.BigEndian.Uint16(rd.Src)) == unsupportedVersion {
		resp.SetVersion(0)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		p.setResponse(ex, nil, fmt.Errorf("decoding %s v%d response: %w", kmsg.NameForKey(ex.Key), ex.Version, err))
		return frame
	}
	changed := p.rewrite(resp)
	p.setResponse(ex, resp, nil)
	if !changed {
		return frame
	}
	out := append([]byte(nil), frame[:4]...)
	if flexibleHeader {
		out = append(out, 0) // no header tags
	}
	return resp.AppendTo(out)
}

func (p *Proxy) setResponse(ex *Exchange, resp kmsg.Response, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ex.Response = resp
	if err != nil && ex.Err == nil {
		ex.Err = err
	}
}

// rewrite points advertised addresses at the proxy and caps advertised
// versions; it reports whether it changed anything. The recorded copy
// keeps the rewritten values: the broker's own host:port is what a
// comparison leaves out anyway.
func (p *Proxy) rewrite(resp kmsg.Response) bool {
	changed := false
	addr := func(host *string, port *int32) {
		if *host != p.host || *port != p.port {
			*host, *port = p.host, p.port
			changed = true
		}
	}
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			addr(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.FindCoordinatorResponse:
		if r.Host != "" {
			addr(&r.Host, &r.Port)
		}
		for i := range r.Coordinators {
			if r.Coordinators[i].Host != "" {
				addr(&r.Coordinators[i].Host, &r.Coordinators[i].Port)
			}
		}
	case *kmsg.DescribeClusterResponse:
		for i := range r.Brokers {
			addr(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.ProduceResponse:
		for i := range r.Brokers {
			addr(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.FetchResponse:
		for i := range r.Brokers {
			addr(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.ApiVersionsResponse:
		for i := range r.ApiKeys {
			k := &r.ApiKeys[i]
			if m, ok := p.opts.MaxVersions[k.ApiKey]; ok && k.MaxVersion > m {
				k.MaxVersion = max(m, k.MinVersion)
				changed = true
			}
		}
	}
	return changed
}
