package network

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/quota"
	"github.com/runnel/runnel/security/tlsconfig"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Listener is one endpoint the Server accepts connections on.
type Listener struct {
	// Name is the listener name (PLAINTEXT, INTERNAL, …), for logs and for
	// handlers that answer per listener.
	Name string
	// Addr is host:port to bind; port 0 picks a free port (see Server.Addrs).
	Addr string
	// TLS, when set, wraps the listener in TLS. Fetch responses then take the
	// copying path instead of sendfile.
	TLS *tls.Config
	// PrincipalRules map a TLS client certificate's subject to its
	// principal (ssl.principal.mapping.rules); nil is DEFAULT.
	PrincipalRules *tlsconfig.MappingRules
	// SASL, when set, requires SASL authentication before any request
	// but ApiVersions and SaslHandshake (sasl.go).
	SASL *SASLListener
	// MaxConnections is listener.name.<l>.max.connections; 0 is no limit.
	// At the limit the accept loop waits for a connection to close
	// (quotas.go).
	MaxConnections int
	// MaxConnectionCreationRate is
	// listener.name.<l>.max.connection.creation.rate, new connections per
	// second (KIP-612); 0 is no limit.
	MaxConnectionCreationRate int
}

// Config is the connection layer's configuration.
type Config struct {
	Listeners []Listener
	// MaxRequestSize is socket.request.max.bytes; 0 means 100 MiB.
	MaxRequestSize int32
	// IdleTimeout is connections.max.idle.ms; 0 disables it. A connection
	// with no traffic either way for this long is closed, and so is one
	// whose response cannot be written within it (a client that stopped
	// reading its responses), as is a TLS handshake that takes longer.
	IdleTimeout time.Duration
	// Logger; nil means no logging.
	Logger *zap.Logger
	// SocketSendBufferBytes and SocketReceiveBufferBytes are
	// socket.send.buffer.bytes and socket.receive.buffer.bytes, SO_SNDBUF
	// and SO_RCVBUF of client connections; 0 or less leaves the kernel's
	// default (sockets.go).
	SocketSendBufferBytes, SocketReceiveBufferBytes int

	// Connection limits (quotas.go); 0 is no limit.
	//
	// MaxConnections is max.connections, broker-wide: at the limit the
	// accept loops wait. InterBrokerListener names the listener exempt
	// from it and from MaxConnectionCreationRate (KIP-402, KIP-612).
	MaxConnections      int
	InterBrokerListener string
	// MaxConnectionsPerIP is max.connections.per.ip; a connection over it
	// (or over its address's override, where 0 is allowed and refuses
	// every connection) is closed at once.
	MaxConnectionsPerIP          int
	MaxConnectionsPerIPOverrides map[netip.Addr]int
	// MaxConnectionCreationRate is max.connection.creation.rate, new
	// connections per second over all listeners but the inter-broker one.
	MaxConnectionCreationRate int

	// QueuedMaxRequestBytes is queued.max.request.bytes, the request
	// memory pool; QueuedMaxRequests is queued.max.requests, requests read
	// and not yet being handled (mempool.go). 0 or less is no limit.
	QueuedMaxRequestBytes int64
	QueuedMaxRequests     int

	// FailedAuthenticationDelay is
	// connection.failed.authentication.delay.ms: a failed SASL
	// authentication is answered, and its connection closed, only after
	// it (sasl.go); 0 answers at once.
	FailedAuthenticationDelay time.Duration

	// QuotaWindow is how per-IP connection_creation_rate quotas are
	// measured (quota.window.num, quota.window.size.seconds); zero is
	// Kafka's default.
	QuotaWindow quota.Window

	// Features reports the supported and finalized features ApiVersions
	// v3+ answers with (KIP-584), read on every request so a finalized
	// level changed in the cluster shows at once. Nil reports none.
	Features func() Features

	// Identity is the cluster id and node id of this broker, which
	// ApiVersions v5 checks a client's expectation against (KIP-1242).
	// Nil checks nothing.
	Identity func() (clusterID string, nodeID int32)
}

// Features are the feature flags of ApiVersions (KIP-584).
type Features struct {
	// Supported are the features this broker can run, with their level
	// ranges; Finalized the cluster's levels (features at level 0 left
	// out, as Kafka does).
	Supported []SupportedFeature
	Finalized map[string]int16
	// Epoch is the finalized features' epoch, -1 when none is finalized.
	Epoch int64
}

// SupportedFeature is one feature's supported level range.
type SupportedFeature struct {
	Name     string
	Min, Max int16
}

// Server accepts Kafka connections and dispatches their requests to its
// owner's handlers. Create it with NewServer, start it with Start, stop it
// with Close.
type Server struct {
	cfg      Config
	log      *zap.Logger
	handlers map[int16]Handler
	table    *protocol.Table

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // acceptors and connection goroutines

	mu        sync.Mutex
	closed    bool
	started   bool
	listeners []boundListener
	conns     map[*conn]struct{}
	nextID    uint64

	frames protocol.FramePool // request frames, recycled for Produce
	quotas *connQuotas
	pool   *budget // queued.max.request.bytes; nil: no limit
	queue  *budget // queued.max.requests; nil: no limit

	metrics *Metrics // always on (metrics.go)
}

type boundListener struct {
	Listener
	ln   net.Listener
	rate *rateLimiter // listener creation rate; nil: no limit
}

// NewServer binds every listener in cfg and returns a Server that serves the
// given handlers once started. handlers maps API key to handler; it is copied.
// ApiVersions (key 18) is always served by the Server itself from the table
// the handlers imply, so an entry for key 18 is ignored.
func NewServer(cfg Config, handlers map[int16]Handler) (*Server, error) {
	if len(cfg.Listeners) == 0 {
		return nil, errors.New("network: no listeners configured")
	}
	if cfg.MaxRequestSize <= 0 {
		cfg.MaxRequestSize = protocol.DefaultMaxRequestSize
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		handlers: make(map[int16]Handler, len(handlers)+1),
		conns:    make(map[*conn]struct{}),
		quotas:   newConnQuotas(cfg),
		pool:     newBudget(cfg.QueuedMaxRequestBytes),
		queue:    newBudget(int64(cfg.QueuedMaxRequests)),
	}
	implemented := make(map[int16]int16, len(handlers)+1)
	for key, h := range handlers {
		if key == apiVersionsKey {
			continue
		}
		if h.Handle == nil {
			return nil, fmt.Errorf("network: handler for key %d (%s) has no function", key, kmsg.NameForKey(key))
		}
		s.handlers[key] = h
		implemented[key] = h.MaxVersion
	}
	s.handlers[apiVersionsKey] = Handler{MaxVersion: apiVersionsMaxVersion, Handle: s.handleAPIVersions}
	implemented[apiVersionsKey] = apiVersionsMaxVersion
	// SASL is connection state, so the Server answers it too (17_…, 36_…).
	s.handlers[int16(kmsg.SASLHandshake)] = Handler{MaxVersion: saslHandshakeMaxVersion, Handle: s.handleSASLHandshake}
	implemented[int16(kmsg.SASLHandshake)] = saslHandshakeMaxVersion
	s.handlers[int16(kmsg.SASLAuthenticate)] = Handler{MaxVersion: saslAuthenticateMaxVersion, Handle: s.handleSASLAuthenticate}
	implemented[int16(kmsg.SASLAuthenticate)] = saslAuthenticateMaxVersion
	s.table = protocol.NewTable(implemented)
	s.metrics = newMetrics(s)

	for _, l := range cfg.Listeners {
		ln, err := listen(context.Background(), l.Addr, cfg.SocketReceiveBufferBytes) // sockets.go
		if err != nil {
			for _, b := range s.listeners {
				b.ln.Close()
			}
			return nil, fmt.Errorf("network: listener %s on %s: %w", l.Name, l.Addr, err)
		}
		if l.TLS != nil {
			ln = tls.NewListener(ln, l.TLS)
		}
		s.metrics.addListener(l.Name)
		b := boundListener{Listener: l, ln: ln}
		if l.MaxConnectionCreationRate > 0 {
			b.rate = newRateLimiter(l.MaxConnectionCreationRate)
		}
		s.listeners = append(s.listeners, b)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Metrics returns the Server's metrics, a prometheus.Collector.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Table returns the API version table the Server advertises.
func (s *Server) Table() *protocol.Table { return s.table }

// Addrs returns the bound address of each listener, in configuration order.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.ln.Addr()
	}
	return out
}

// Start begins accepting connections on every listener.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("network: server closed")
	}
	if s.started {
		return errors.New("network: server already started")
	}
	s.started = true
	for i := range s.listeners {
		s.wg.Add(1)
		go s.accept(&s.listeners[i])
	}
	return nil
}

// Close stops the listeners, closes every connection (canceling the contexts
// of running handlers) and waits for every goroutine of the Server to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	var errs []error
	for _, l := range s.listeners {
		if err := l.ln.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) accept(l *boundListener) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", zap.String("listener", l.Name), zap.Error(err), zap.Duration("retry_in", backoff))
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if err := setSendBuffer(nc, s.cfg.SocketSendBufferBytes); err != nil {
			s.log.Warn("setting socket.send.buffer.bytes", zap.String("listener", l.Name), zap.Error(err))
		}
		// The limits stall this loop (rate, listener and broker-wide
		// slots) or refuse this connection (per address), as Kafka's
		// acceptor does; quotas.go.
		if err := s.quotas.throttle(s.ctx, l); err != nil {
			nc.Close()
			return
		}
		ip := remoteIP(nc.RemoteAddr())
		if d := s.quotas.ipRateThrottle(ip, time.Now()); d > 0 {
			s.closeThrottled(nc, d)
			continue
		}
		overTotal, err := s.quotas.admit(s.ctx, l, ip)
		if err != nil {
			nc.Close()
			if s.ctx.Err() != nil {
				return
			}
			s.log.Info("connection refused", zap.String("listener", l.Name), zap.Stringer("remote", nc.RemoteAddr()), zap.Error(err))
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			s.quotas.release(l.Name, ip)
			return
		}
		s.nextID++
		c := newConn(s, nc, l.Listener, s.nextID)
		c.ip = ip
		s.conns[c] = struct{}{}
		s.metrics.connCreated(l.Name)
		s.wg.Add(1)
		if overTotal {
			s.closeIdlest(l.Name)
		}
		s.mu.Unlock()
		go c.serve()
	}
}

// closeThrottled holds a connection over its address's
// connection_creation_rate unserved for d, then closes it, as Kafka's
// acceptor delays closing a throttled socket (KIP-612) so that the client
// backs off instead of reconnecting at once.
func (s *Server) closeThrottled(nc net.Conn, d time.Duration) {
	s.log.Debug("connection over its address's connection_creation_rate; closing it after the throttle time",
		zap.Stringer("remote", nc.RemoteAddr()), zap.Duration("throttle", d))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
		}
		nc.Close()
	}()
}

// closeIdlest closes the connection idle longest on a listener other than
// the inter-broker one, to bring the total back to max.connections after
// the exempt inter-broker listener went over it (KIP-402). s.mu is held.
func (s *Server) closeIdlest(interBroker string) {
	var victim *conn
	for c := range s.conns {
		if c.cc.Listener == interBroker || c.closing.Load() {
			continue
		}
		if victim == nil || c.lastActive.Load() < victim.lastActive.Load() {
			victim = c
		}
	}
	if victim != nil {
		victim.closing.Store(true)
		victim.cc.Log.Info("closing connection: max.connections reached and an inter-broker connection needs its slot")
		victim.nc.Close()
	}
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.quotas.release(c.cc.Listener, c.ip)
}
