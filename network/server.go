package network

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/runnel/runnel/protocol"
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

	// Features reported by ApiVersions v3+ (KIP-584). Empty is valid.
	SupportedFeatures      []kmsg.ApiVersionsResponseSupportedFeature
	FinalizedFeatures      []kmsg.ApiVersionsResponseFinalizedFeature
	FinalizedFeaturesEpoch int64 // -1 when no features are finalized
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
}

type boundListener struct {
	Listener
	ln net.Listener
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
	if cfg.FinalizedFeaturesEpoch == 0 && len(cfg.FinalizedFeatures) == 0 {
		cfg.FinalizedFeaturesEpoch = -1
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		handlers: make(map[int16]Handler, len(handlers)+1),
		conns:    make(map[*conn]struct{}),
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

	for _, l := range cfg.Listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, b := range s.listeners {
				b.ln.Close()
			}
			return nil, fmt.Errorf("network: listener %s on %s: %w", l.Name, l.Addr, err)
		}
		if l.TLS != nil {
			ln = tls.NewListener(ln, l.TLS)
		}
		s.listeners = append(s.listeners, boundListener{Listener: l, ln: ln})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

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
	for _, l := range s.listeners {
		s.wg.Add(1)
		go s.accept(l)
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

func (s *Server) accept(l boundListener) {
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
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.nextID++
		c := newConn(s, nc, l.Listener, s.nextID)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
