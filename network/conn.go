package network

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/internal/reqtime"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/tlsconfig"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// ConnContext is what a handler knows about the connection a request came
// on. Handlers of one connection run one at a time, but a ConnContext is
// safe for concurrent use.
type ConnContext struct {
	// ID is unique among the Server's connections.
	ID uint64
	// Listener is the name of the listener that accepted the connection.
	Listener   string
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	// Log carries the connection's fields.
	Log *zap.Logger

	mu              sync.Mutex
	softwareName    string
	softwareVersion string
	values          map[any]any
	principal       string // Principal (sasl.go)

	// sasl is the authentication state on a SASL listener, nil elsewhere
	// (sasl.go).
	sasl *saslConn

	// onClose are called, in order, once the connection has closed and
	// its last request was handled (OnClose).
	onClose []func()
}

// OnClose registers fn to run when the connection closes, after its last
// request was handled, on the connection's own goroutine (so before the
// Server's Close returns). Handlers use it for state tied to a connection
// (a share session releases the records its member holds, as in Kafka).
func (cc *ConnContext) OnClose(fn func()) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.onClose = append(cc.onClose, fn)
}

func (cc *ConnContext) runOnClose() {
	cc.mu.Lock()
	fns := cc.onClose
	cc.onClose = nil
	cc.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// ClientSoftware returns the client software name and version the client
// reported in ApiVersions v3+ (empty until then).
func (cc *ConnContext) ClientSoftware() (name, version string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.softwareName, cc.softwareVersion
}

func (cc *ConnContext) setClientSoftware(name, version string) {
	cc.mu.Lock()
	cc.softwareName, cc.softwareVersion = name, version
	cc.mu.Unlock()
}

// Value returns per-connection state stored by SetValue (SASL progress,
// fetch-session bookkeeping…), or nil. Use unexported key types, as with
// context values.
func (cc *ConnContext) Value(key any) any {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.values[key]
}

// SetValue stores per-connection state; it lives as long as the connection.
func (cc *ConnContext) SetValue(key, value any) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.values == nil {
		cc.values = make(map[any]any)
	}
	cc.values[key] = value
}

// conn is one client connection: a reader goroutine decoding frames one
// request ahead, and the serve goroutine handling them in order.
type conn struct {
	s     *Server
	nc    net.Conn
	cc    *ConnContext
	wbuf  []byte                  // response encoding buffer, reused between responses
	rules *tlsconfig.MappingRules // TLS listeners: subject → principal

	// sasl is cc.sasl: set on SASL listeners. stepped lets the reader
	// go on after a lockstep item was handled.
	sasl    *saslConn
	stepped chan struct{}

	// ip is the address the connection is counted under (quotas.go).
	// lastActive (UnixNano of the last frame read) picks the connection
	// to close when the inter-broker listener needs a slot; closing marks
	// one already chosen.
	ip         netip.Addr
	lastActive atomic.Int64
	closing    atomic.Bool

	// timer and clock time the request being handled (metrics.go).
	timer reqtime.Timer
	clock requestClock

	// mutedUntil (UnixNano) is when a throttled connection may read and
	// handle requests again (KIP-219, mute): set by the serve goroutine
	// after a throttled response, read by both goroutines.
	mutedUntil atomic.Int64
}

// inbound is one decoded request, or the error that ended reading (req nil).
// frame is the buffer req was decoded from. A raw item is a bare SASL token
// (after SaslHandshake v0), not a request. When lockstep is set the reader
// waits on conn.stepped until the item is handled (sasl.go).
type inbound struct {
	req      *protocol.Request
	frame    []byte
	err      error
	raw      bool
	lockstep bool
	// slot and mem are what the item holds of the request queue and the
	// memory pool (mempool.go), given back by Server.done.
	slot, mem int64
	// received is when the frame was read whole (metrics.go).
	received time.Time
}

// maxKeptWriteBuf is the largest response buffer kept between responses.
const maxKeptWriteBuf = 1 << 20

func newConn(s *Server, nc net.Conn, l Listener, id uint64) *conn {
	log := s.log.With(zap.Uint64("conn", id), zap.String("listener", l.Name), zap.Stringer("remote", nc.RemoteAddr()))
	c := &conn{s: s, nc: nc, rules: l.PrincipalRules, cc: &ConnContext{
		ID: id, Listener: l.Name, RemoteAddr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr(), Log: log,
	}}
	if l.SASL != nil {
		c.sasl = &saslConn{cfg: l.SASL, authVersion: -1}
		c.cc.sasl = c.sasl
		c.stepped = make(chan struct{}, 1)
	} else {
		c.cc.principal = AnonymousPrincipal
	}
	c.lastActive.Store(time.Now().UnixNano())
	return c
}

// serve runs the connection until it fails, the peer leaves or the server
// closes. It owns the net.Conn and closes it.
func (c *conn) serve() {
	defer c.s.wg.Done()
	defer c.s.removeConn(c)
	ctx, cancel := context.WithCancel(reqtime.With(c.s.ctx, &c.timer))
	if err := c.handshake(ctx); err != nil {
		cancel()
		c.nc.Close()
		c.cc.Log.Info("closing connection: TLS handshake failed", zap.Error(err))
		return
	}
	in := make(chan inbound, 1) // one request decoded ahead of the one being handled
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		c.read(ctx, in)
	}()

	c.cc.Log.Debug("connection opened")
	reason := c.process(ctx, in)
	c.s.metrics.connClosed(c.cc.Listener, reason)
	cancel()
	c.nc.Close()
	<-readerDone
	for item := range in { // decoded ahead and never handled
		c.s.done(&item)
	}
	c.cc.runOnClose()
	if reason != nil {
		c.cc.Log.Info("closing connection", zap.Error(reason))
	} else {
		c.cc.Log.Debug("connection closed")
	}
}

// handshake completes the TLS handshake of a TLS listener's connection on
// the connection's own goroutine (never in the accept loop, which a slow
// client would stall) and records the principal of its certificate. It
// is bounded by connections.max.idle.ms, as any silence on a connection.
func (c *conn) handshake(ctx context.Context) error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	if c.s.cfg.IdleTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.s.cfg.IdleTimeout)
		defer cancel()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	p, err := tlsconfig.Principal(tc.ConnectionState(), c.rules)
	if err != nil {
		return err
	}
	c.cc.setPrincipal(p)
	c.cc.Log = c.cc.Log.With(zap.String("principal", p))
	return nil
}

// read decodes frames into in until an error, which it sends as the last
// item, or until ctx ends. Only an ApiVersions request of an unsupported
// version is a decoding error the connection survives (KIP-511).
func (c *conn) read(ctx context.Context, in chan<- inbound) {
	defer close(in)
	for {
		// A throttled connection is not read: its requests stay in the
		// socket, as Kafka mutes the channel.
		if err := c.waitUnmuted(ctx); err != nil {
			return
		}
		if c.s.cfg.IdleTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout)) //nolint:errcheck // a failure surfaces on Read
		}
		maxSize, lockstep, raw := c.s.cfg.MaxRequestSize, false, false
		if c.sasl != nil {
			maxSize, lockstep, raw = c.sasl.maxFrame(maxSize), c.sasl.lockstep(), c.sasl.getStage() == saslRawTokens
		}
		item := inbound{raw: raw, lockstep: lockstep}
		// The request's charge is taken once its size is known and before
		// its body is allocated (mempool.go); waiting for it leaves the
		// connection unread, as Kafka mutes it.
		// No bytes of the header are read ahead of the charge: the decode
		// budget depends on the frame size alone (protocol.DecodeBudget),
		// and one more read per request would cost a system call.
		size, _, err := protocol.ReadFrameHead(c.nc, maxSize, nil)
		if err == nil {
			if err = c.s.reserve(ctx, &item, size); err != nil {
				return // the server is closing
			}
			item.frame, err = protocol.ReadPooledFrameRest(c.nc, size, nil, &c.s.frames)
		}
		item.received = time.Now()
		c.lastActive.Store(item.received.UnixNano()) // for closeIdlest (quotas.go)
		if err == nil && !raw {
			if item.req, err = c.parse(item.frame, lockstep); err == nil {
				c.s.decoded(&item)
			}
		}
		item.err, item.raw = err, raw && err == nil
		select {
		case in <- item:
		case <-ctx.Done():
			c.s.done(&item)
			return
		}
		if err != nil && !isAPIVersionsUnsupported(err) {
			return
		}
		if lockstep {
			select {
			case <-c.stepped:
			case <-ctx.Done():
				return
			}
		}
	}
}

// parse decodes a request frame. Before SASL authentication (lockstep,
// so the stage cannot change under it) the SASL gate is asked from the
// header alone: a request the stage does not allow closes the connection
// without its body being decoded, as Kafka's SaslServerAuthenticator
// refuses it from the header. The frame itself was already capped at
// sasl.server.max.receive.size before it was read (saslConn.maxFrame).
func (c *conn) parse(frame []byte, lockstep bool) (*protocol.Request, error) {
	if lockstep {
		if key, _, _, ok := protocol.PeekHeader(frame); ok {
			if err := c.sasl.gate(key); err != nil {
				return nil, err
			}
		}
	}
	return c.s.parse(frame)
}

// process handles requests in order. It returns nil when the peer went away
// or the server is closing, else the reason to close the connection.
func (c *conn) process(ctx context.Context, in <-chan inbound) error {
	for item := range in {
		// The reader may have read one request ahead of the mute; it
		// waits too.
		if err := c.waitUnmuted(ctx); err != nil {
			c.s.done(&item)
			return nil
		}
		c.s.startHandling(&item)
		err := c.handle(ctx, item)
		c.s.done(&item)
		if item.lockstep {
			// The reader waits for this item to be handled before it reads
			// the next frame; the channel's buffer of one never blocks.
			c.stepped <- struct{}{}
		}
		if err != nil {
			return c.quiet(ctx, err)
		}
	}
	return nil
}

// handle serves one inbound item; an error closes the connection.
func (c *conn) handle(ctx context.Context, item inbound) error {
	if item.raw {
		err := c.handleRawToken(item.frame)
		if isAuthFailure(err) {
			c.s.metrics.authFailure(c.cc.Listener)
			c.delayAuthFailure(ctx)
		}
		return err
	}
	if item.err != nil {
		if isAPIVersionsUnsupported(item.err) {
			var re *protocol.RequestError
			errors.As(item.err, &re)
			return c.writeUnsupportedAPIVersions(re.CorrelationID)
		}
		return item.err
	}
	c.clock = requestClock{received: item.received}
	if err := c.s.dispatch(ctx, c, item.req); err != nil {
		return err
	}
	c.s.metrics.observe(c, item.req.Key, &c.clock)
	// A Produce request keeps none of its frame once handled: its
	// batches were written to the log, and nothing else points into
	// it. Other requests' byte fields may live on (group metadata,
	// assignments), so only Produce frames are recycled.
	if item.req.Key == int16(kmsg.Produce) {
		c.s.frames.Put(item.frame)
	}
	return nil
}

// mute keeps the connection from reading and handling requests for d
// (a quota throttle, KIP-219).
func (c *conn) mute(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	if until > c.mutedUntil.Load() {
		c.mutedUntil.Store(until)
	}
}

// waitUnmuted returns once the connection is not muted, or with ctx's
// error. A muted connection's idle deadline does not run while it waits:
// the silence is the broker's doing.
func (c *conn) waitUnmuted(ctx context.Context) error {
	for {
		d := time.Until(time.Unix(0, c.mutedUntil.Load()))
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// quiet maps the ordinary ends of a connection (peer closed, server closing)
// to nil so that only real failures are logged at Info.
func (c *conn) quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// write sends one encoded response frame.
func (c *conn) write(p []byte) error {
	c.startWrite()
	_, err := c.nc.Write(p)
	if err == nil {
		c.wrote()
	}
	return err
}

// startWrite bounds the response write about to begin by the idle
// timeout: a client that stops reading its responses fills the socket
// buffers, and without a deadline the write, and with it the connection
// and its goroutines, would wait forever. A whole response must go out
// within connections.max.idle.ms.
func (c *conn) startWrite() {
	if c.s.cfg.IdleTimeout > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout)) //nolint:errcheck // a failure surfaces on Write
	}
}

// wrote counts a written response as activity: the idle timeout runs from
// the last traffic either way, as Kafka's idle expiry does, so a client
// that waits for a slow response before sending again is not cut off by
// the read deadline the reader set when it began to wait. Moving a read
// deadline while a Read waits on it is allowed (net.Conn).
func (c *conn) wrote() {
	if c.s.cfg.IdleTimeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout)) //nolint:errcheck // a failure surfaces on Read
	}
}
