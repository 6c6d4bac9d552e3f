package broker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

func startAdmin(addr string, b *Broker) (*adminServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "runnel", Name: "partitions", Help: "Partition replicas hosted by this broker.",
	}, func() float64 { return float64(len(b.replicas.All())) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "runnel", Name: "is_controller", Help: "1 if this broker is the elected controller.",
	}, func() float64 {
		if b.ctrl.IsController() {
			return 1
		}
		return 0
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "runnel", Name: "log_dir_stray_partitions", Help: "Partition directories kept in the log dir as <topic>-<partition>.<id>-stray because the metadata does not place them on this broker; each needs an operator's look.",
	}, func() float64 { return float64(b.logs.Strays()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "runnel", Name: "fetch_follower_reads_total", Help: "Consumer fetches answered with records by a follower replica (fetch from follower, KIP-392).",
	}, func() float64 { return float64(b.followerReads.Load()) }))

	for i, kind := range quotaTypes {
		labels := prometheus.Labels{"quota": string(kind)}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "runnel", Name: "quota_throttled_total", ConstLabels: labels,
			Help: "Responses throttled for a client quota (Kafka's throttle-time sensors), by quota type.",
		}, func() float64 { return float64(b.quotas.throttled[i].Load()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "runnel", Name: "quota_throttle_seconds_total", ConstLabels: labels,
			Help: "Throttle time handed to clients for a client quota, by quota type.",
		}, func() float64 { return time.Duration(b.quotas.throttleNanos[i].Load()).Seconds() }))
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if b.cfg.AdminPprofEnable {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := b.LogDirError(); err != nil {
			http.Error(w, "log dir failed: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if _, ok := b.ctrl.Snapshot().Brokers[b.id]; !ok {
			http.Error(w, "not registered", http.StatusServiceUnavailable)
			return
		}
		if err := b.ctrl.MetadataFault(); err != nil {
			http.Error(w, "metadata store refused: "+err.Error(), http.StatusServiceUnavailable)
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

func (a *adminServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	<-a.done
	return err
}
