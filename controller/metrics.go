package controller

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Metrics are the controller's Prometheus metrics: Kafka's
// ControllerStats (LeaderElectionRateAndTimeMs,
// UncleanLeaderElectionsPerSec) and, in place of ZooKeeper's client
// metrics, the etcd requests' latency and the session (lease) health.
// A Metrics is a prometheus.Collector; the broker registers it.
type Metrics struct {
	elections        prometheus.Counter
	uncleanElections prometheus.Counter
	etcdLatency      *prometheus.HistogramVec // method
	sessionsLost     prometheus.Counter
	sessionUp        prometheus.GaugeFunc
}

func newMetrics(c *Controller) *Metrics {
	return &Metrics{
		elections: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "runnel", Name: "leader_elections_total",
			Help: "Partition leader elections this broker wrote as the active controller (Kafka's LeaderElectionRateAndTimeMs count).",
		}),
		uncleanElections: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "runnel", Name: "unclean_leader_elections_total",
			Help: "Leader elections of a replica outside the ISR (unclean.leader.election.enable), written by this broker as controller (Kafka's UncleanLeaderElectionsPerSec).",
		}),
		etcdLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "runnel", Name: "etcd_request_duration_seconds",
			Help:    "Latency of unary etcd requests (Range, Txn, Put, LeaseGrant…), by gRPC method (in place of Kafka's ZooKeeperRequestLatencyMs).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"method"}),
		sessionsLost: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "runnel", Name: "etcd_sessions_lost_total",
			Help: "etcd sessions (leases) lost because keepalives did not get through within the session timeout (Kafka's ZooKeeperExpiresPerSec).",
		}),
		sessionUp: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "runnel", Name: "etcd_session_up",
			Help: "1 while this broker holds a live etcd session (its registration lease), 0 while it has none.",
		}, func() float64 {
			if c.SessionLive() {
				return 1
			}
			return 0
		}),
	}
}

// unary times one unary etcd request.
func (m *Metrics) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	start := time.Now()
	err := invoker(ctx, method, req, reply, cc, opts...)
	m.etcdLatency.WithLabelValues(method).Observe(time.Since(start).Seconds())
	return err
}

// elected counts a leader change the controller wrote: clean when the new
// leader was in the old ISR.
func (m *Metrics) elected(old, np Partition) {
	if np.Leader < 0 || np.Leader == old.Leader {
		return
	}
	m.elections.Inc()
	if !slices.Contains(old.ISR, np.Leader) {
		m.uncleanElections.Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.elections.Describe(ch)
	m.uncleanElections.Describe(ch)
	m.etcdLatency.Describe(ch)
	m.sessionsLost.Describe(ch)
	m.sessionUp.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.elections.Collect(ch)
	m.uncleanElections.Collect(ch)
	m.etcdLatency.Collect(ch)
	m.sessionsLost.Collect(ch)
	m.sessionUp.Collect(ch)
}

// Metrics returns the controller's metrics.
func (c *Controller) Metrics() *Metrics { return c.metrics }

// SessionLive reports whether this broker holds a live etcd session.
func (c *Controller) SessionLive() bool {
	c.smu.Lock()
	s := c.sess
	c.smu.Unlock()
	if s == nil {
		return false
	}
	select {
	case <-s.Done():
		return false
	default:
		return true
	}
}

// SessionLostFor is how long this broker has been without an etcd session
// after having had one: etcd has been unreachable for the session timeout
// and this long since; 0 while a session is live or before the first.
func (c *Controller) SessionLostFor() time.Duration {
	at := c.sessionLostAt.Load()
	if at == 0 || c.SessionLive() {
		return 0
	}
	return time.Since(time.Unix(0, at))
}

// sessionState records a session's start (lost false) or loss.
func (c *Controller) sessionState(lost bool) {
	if lost {
		c.metrics.sessionsLost.Inc()
		c.sessionLostAt.Store(time.Now().UnixNano())
		return
	}
	c.sessionLostAt.Store(0)
}
