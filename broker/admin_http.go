package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/runnel/runnel/config"
	"go.uber.org/zap"
)

// adminServer is the broker's HTTP side door: Prometheus metrics on
// /metrics, liveness on /healthz, readiness on /readyz (ready once the
// broker is registered and serving), and Go's profiler on /debug/pprof
// when runnel.admin.pprof.enable is set. It has no authentication: it
// listens on loopback unless runnel.admin.listener says otherwise.
type adminServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// startAdminListener starts the admin server on runnel.admin.listener,
// unless it is empty. Only an explicitly configured address that cannot
// be bound fails the start.
func (b *Broker) startAdminListener() error {
	cfg := b.cfg
	if cfg.AdminListener == "" {
		return nil
	}
	var err error
	b.admin, err = startAdmin(cfg.AdminListener, b)
	_, explicit := cfg.Raw[config.AdminListener]
	switch {
	case err != nil && explicit:
		return fmt.Errorf("broker: admin listener: %w", err)
	case err != nil:
		// Two brokers on one machine with default settings must both
		// start: only the first gets the default admin port.
		b.log.Warn("admin HTTP listener not started: default address in use; set runnel.admin.listener", zap.String("address", cfg.AdminListener), zap.Error(err))
		b.admin = nil
	}
	return nil
}

// setStartupPhase records what the starting broker is doing; "" once it
// serves.
func (b *Broker) setStartupPhase(p string) { b.phase.Store(&p) }

// startupPhase is what the starting broker is doing, "" once it serves.
// Loading "" also makes every field New assigned visible.
func (b *Broker) startupPhase() string {
	if p := b.phase.Load(); p != nil {
		return *p
	}
	return "starting"
}

// notReady is why the broker should not get traffic, or "".
func (b *Broker) notReady() string {
	if p := b.startupPhase(); p != "" {
		return "starting: " + p
	}
	if err := b.LogDirError(); err != nil {
		return "log dir failed: " + err.Error()
	}
	if d := b.ctrl.SessionLostFor(); d > 0 {
		return fmt.Sprintf("etcd unreachable: no session (lease) for the session timeout and %s since", d.Round(time.Millisecond))
	}
	if _, ok := b.ctrl.Snapshot().Brokers[b.id]; !ok {
		return "not registered"
	}
	if err := b.ctrl.MetadataFault(); err != nil {
		return "metadata store refused: " + err.Error()
	}
	return ""
}

func startAdmin(addr string, b *Broker) (*adminServer, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{}))
	if b.cfg.AdminPprofEnable {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := b.notReady(); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	a := &adminServer{ln: ln, srv: &http.Server{
		Handler: mux,
		// A client that trickles its request or never reads the answer
		// holds a goroutine and a socket only this long. The write bound
		// leaves room for a pprof CPU profile (30 s by default).
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
	}, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Warn("admin listener stopped")
		}
	}()
	return a, nil
}

// Bounds on one admin HTTP connection (see startAdmin).
const (
	adminReadTimeout  = 30 * time.Second
	adminWriteTimeout = 2 * time.Minute
	adminIdleTimeout  = 2 * time.Minute
)

// close lets requests in progress finish for up to 5 s, then cuts the
// connections still open (a CPU profile being taken, a stalled scrape):
// they are the admin's clients' loss, not a failure of the broker's
// shutdown, which must still exit cleanly.
func (a *adminServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = a.srv.Close()
	}
	<-a.done
	return err
}
