package network

import (
	"errors"
	"net"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metrics are the connection layer's Prometheus metrics, Kafka's
// RequestMetrics and SocketServer metrics (docs/metrics.md has the
// mapping). They are always on, so the request path pays for them only
// with atomic adds: an API's series are created the first time a request
// of it arrives and found again by indexing an array with the API key,
// error counts are plain atomic counters read at scrape time, and the
// per-listener children are made when the Server is built.
//
// A Metrics is a prometheus.Collector; the broker registers it.
type Metrics struct {
	s *Server

	requestTime *prometheus.HistogramVec // api, phase
	requests    *prometheus.CounterVec   // api
	errorsDesc  *prometheus.Desc
	connsDesc   *prometheus.Desc
	created     *prometheus.CounterVec // listener
	closed      *prometheus.CounterVec // listener
	idleClosed  *prometheus.CounterVec // listener
	authFailed  *prometheus.CounterVec // listener
	poolAvail   prometheus.GaugeFunc
	queueSize   prometheus.GaugeFunc

	mu   sync.Mutex // creating an API's series
	apis [maxAPIKey + 1]atomic.Pointer[apiMetrics]

	plans errorCodePlans

	// perListener holds the children of each listener, by name (fixed
	// once the Server is built).
	perListener map[string]*listenerMetrics
}

// maxAPIKey bounds the API keys with metrics of their own; the Server
// serves none above it (keys beyond are refused before dispatch).
const maxAPIKey = 127

// Request phases, Kafka's RequestMetrics: RequestQueueTimeMs, LocalTimeMs,
// RemoteTimeMs, ThrottleTimeMs, ResponseSendTimeMs and TotalTimeMs.
// Kafka's ResponseQueueTimeMs has no counterpart: the goroutine that
// handled a request writes its response itself.
const (
	phaseQueue = iota
	phaseLocal
	phaseRemote
	phaseThrottle
	phaseSend
	phaseTotal
	numPhases
)

var phaseNames = [numPhases]string{"request_queue", "local", "remote", "throttle", "response_send", "total"}

// errorSlots counts error codes -1 … errorSlots-2; codes outside are
// counted as UNKNOWN_SERVER_ERROR.
const errorSlots = 256

type apiMetrics struct {
	name     string
	requests prometheus.Counter
	phases   [numPhases]prometheus.Observer
	errors   [errorSlots]atomic.Uint64 // by code + 1
}

type listenerMetrics struct {
	created, closed, idleClosed, authFailed prometheus.Counter
}

// requestBuckets are the latency buckets in seconds: 50 µs to ~30 s,
// doubling, as fine at the low end as Kafka's percentiles are useful.
var requestBuckets = prometheus.ExponentialBuckets(0.00005, 2, 20)

func newMetrics(s *Server) *Metrics {
	m := &Metrics{
		s: s,
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "runnel", Name: "request_duration_seconds",
			Help:    "Time requests spent in each phase, by API (Kafka's RequestMetrics: request_queue = RequestQueueTimeMs, local = LocalTimeMs, remote = RemoteTimeMs, throttle = ThrottleTimeMs, response_send = ResponseSendTimeMs, total = TotalTimeMs).",
			Buckets: requestBuckets,
		}, []string{"api", "phase"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Name: "requests_total", Help: "Requests handled, by API (Kafka's RequestsPerSec).",
		}, []string{"api"}),
		errorsDesc: prometheus.NewDesc("runnel_request_errors_total",
			"Error codes in responses, by API and code, one per partition or resource answered (Kafka's ErrorsPerSec; NONE counts successes).",
			[]string{"api", "error"}, nil),
		connsDesc: prometheus.NewDesc("runnel_connections",
			"Open client connections, by listener (Kafka's connection-count).", []string{"listener"}, nil),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Name: "connections_created_total", Help: "Connections accepted, by listener (Kafka's connection-creation-total).",
		}, []string{"listener"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Name: "connections_closed_total", Help: "Connections closed for any reason, by listener (Kafka's connection-close-total).",
		}, []string{"listener"}),
		idleClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Name: "connections_idle_closed_total", Help: "Connections closed because nothing moved either way for connections.max.idle.ms, by listener (Kafka's expired connections killed).",
		}, []string{"listener"}),
		authFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Name: "authentication_failures_total", Help: "Failed SASL authentications, by listener (Kafka's failed-authentication-total).",
		}, []string{"listener"}),
		perListener: map[string]*listenerMetrics{},
	}
	m.poolAvail = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "runnel", Name: "request_memory_pool_available_bytes",
		Help: "Bytes of queued.max.request.bytes not held by requests (Kafka's MemoryPoolAvailable); -1 when the pool has no limit.",
	}, func() float64 { return float64(s.pool.available()) })
	m.queueSize = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "runnel", Name: "request_queue_size",
		Help: "Requests read and waiting to be handled (Kafka's RequestQueueSize); counted only when queued.max.requests is set.",
	}, func() float64 { return float64(s.queue.inUse()) })
	return m
}

// addListener makes a listener's children, before any connection.
func (m *Metrics) addListener(name string) {
	m.perListener[name] = &listenerMetrics{
		created:    m.created.WithLabelValues(name),
		closed:     m.closed.WithLabelValues(name),
		idleClosed: m.idleClosed.WithLabelValues(name),
		authFailed: m.authFailed.WithLabelValues(name),
	}
}

// api returns the series of an API key, creating them on first use.
func (m *Metrics) api(key int16) *apiMetrics {
	if key < 0 || int(key) > maxAPIKey {
		return nil
	}
	if a := m.apis[key].Load(); a != nil {
		return a
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.apis[key].Load(); a != nil {
		return a
	}
	name := kmsg.NameForKey(key)
	a := &apiMetrics{name: name, requests: m.requests.WithLabelValues(name)}
	for p := range a.phases {
		a.phases[p] = m.requestTime.WithLabelValues(name, phaseNames[p])
	}
	m.apis[key].Store(a)
	return a
}

// AddErrors counts n answers with code to a request of API key: for
// responses the Server cannot walk itself (pre-encoded Fetch frames).
func (m *Metrics) AddErrors(key, code int16, n int) {
	if a := m.api(key); a != nil && n > 0 {
		a.errors[errorSlot(code)].Add(uint64(n))
	}
}

func errorSlot(code int16) int {
	if code < -1 || int(code) > errorSlots-2 {
		code = kerr.UnknownServerError.Code
	}
	return int(code) + 1
}

// requestClock is the timeline of the request a connection is handling
// (requests of one connection are handled one at a time).
type requestClock struct {
	received, started, handled, sent time.Time
	// throttle is the quota throttle the response carried (KIP-219: the
	// connection is muted for it after the response; before KIP-219 the
	// response is held for it, between handled and sent: held).
	throttle, held time.Duration
}

// observe records a handled request's phases and counts.
func (m *Metrics) observe(c *conn, key int16, clk *requestClock) {
	a := m.api(key)
	if a == nil {
		return
	}
	a.requests.Inc()
	remote, throttle := c.timer.Remote(), clk.throttle
	handler := clk.handled.Sub(clk.started)
	local := max(handler-remote, 0)
	send := time.Duration(0)
	end := clk.handled
	if !clk.sent.IsZero() {
		send, end = max(clk.sent.Sub(clk.handled)-clk.held, 0), clk.sent
	}
	a.phases[phaseQueue].Observe(clk.started.Sub(clk.received).Seconds())
	a.phases[phaseLocal].Observe(local.Seconds())
	a.phases[phaseRemote].Observe(remote.Seconds())
	a.phases[phaseThrottle].Observe(throttle.Seconds())
	a.phases[phaseSend].Observe(send.Seconds())
	a.phases[phaseTotal].Observe(end.Sub(clk.received).Seconds())
}

// countResponse counts the error codes of a response message.
func (m *Metrics) countResponse(key int16, msg kmsg.Response) {
	a := m.api(key)
	if a == nil || msg == nil {
		return
	}
	v := reflect.ValueOf(msg)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	m.plans.count(v, &a.errors)
}

// connClosed counts a closed connection and whether idleness closed it.
func (m *Metrics) connClosed(listener string, reason error) {
	lm := m.perListener[listener]
	if lm == nil {
		return
	}
	lm.closed.Inc()
	var ne net.Error
	if reason != nil && (errors.As(reason, &ne) && ne.Timeout() || errors.Is(reason, os.ErrDeadlineExceeded)) {
		lm.idleClosed.Inc()
	}
}

func (m *Metrics) connCreated(listener string) {
	if lm := m.perListener[listener]; lm != nil {
		lm.created.Inc()
	}
}

func (m *Metrics) authFailure(listener string) {
	if lm := m.perListener[listener]; lm != nil {
		lm.authFailed.Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requestTime.Describe(ch)
	m.requests.Describe(ch)
	m.created.Describe(ch)
	m.closed.Describe(ch)
	m.idleClosed.Describe(ch)
	m.authFailed.Describe(ch)
	m.poolAvail.Describe(ch)
	m.queueSize.Describe(ch)
	ch <- m.errorsDesc
	ch <- m.connsDesc
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requestTime.Collect(ch)
	m.requests.Collect(ch)
	m.created.Collect(ch)
	m.closed.Collect(ch)
	m.idleClosed.Collect(ch)
	m.authFailed.Collect(ch)
	m.poolAvail.Collect(ch)
	m.queueSize.Collect(ch)
	for key := range m.apis {
		a := m.apis[key].Load()
		if a == nil {
			continue
		}
		for slot := range a.errors {
			if n := a.errors[slot].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(m.errorsDesc, prometheus.CounterValue, float64(n), a.name, errorName(int16(slot-1)))
			}
		}
	}
	counts := map[string]int{}
	m.s.mu.Lock()
	for c := range m.s.conns {
		counts[c.cc.Listener]++
	}
	m.s.mu.Unlock()
	for name := range m.perListener {
		ch <- prometheus.MustNewConstMetric(m.connsDesc, prometheus.GaugeValue, float64(counts[name]), name)
	}
}

// errorName is Kafka's name for an error code (NONE for 0).
func errorName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	var ke *kerr.Error
	if err := kerr.ErrorForCode(code); errors.As(err, &ke) && ke.Code == code {
		return ke.Message
	}
	return "CODE_" + strconv.Itoa(int(code))
}

// errorCodePlan says, for one struct type, which fields hold error codes
// and which lead to more of them. Plans are built once per type.
type errorCodePlan struct {
	codes   []int // int16 fields named ErrorCode
	structs []int // struct fields containing error codes
	slices  []int // slices of structs containing error codes
}

// errorCodePlans maps reflect.Type → *errorCodePlan (nil: no error code
// inside).
type errorCodePlans struct{ m sync.Map }

func (ps *errorCodePlans) planFor(t reflect.Type) *errorCodePlan {
	if p, ok := ps.m.Load(t); ok {
		return p.(*errorCodePlan)
	}
	// Store an empty plan first: kmsg types are not recursive, but a
	// cycle must not loop.
	ps.m.Store(t, (*errorCodePlan)(nil))
	var p errorCodePlan
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch {
		case f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16:
			p.codes = append(p.codes, i)
		case f.Type.Kind() == reflect.Struct:
			if ps.planFor(f.Type) != nil {
				p.structs = append(p.structs, i)
			}
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			if ps.planFor(f.Type.Elem()) != nil {
				p.slices = append(p.slices, i)
			}
		}
	}
	var out *errorCodePlan
	if len(p.codes)+len(p.structs)+len(p.slices) > 0 {
		out = &p
	}
	ps.m.Store(t, out)
	return out
}

// count adds every ErrorCode in v, a struct, to counts.
func (ps *errorCodePlans) count(v reflect.Value, counts *[errorSlots]atomic.Uint64) {
	p := ps.planFor(v.Type())
	if p == nil {
		return
	}
	for _, i := range p.codes {
		counts[errorSlot(int16(v.Field(i).Int()))].Add(1)
	}
	for _, i := range p.structs {
		ps.count(v.Field(i), counts)
	}
	for _, i := range p.slices {
		s := v.Field(i)
		for j := 0; j < s.Len(); j++ {
			ps.count(s.Index(j), counts)
		}
	}
}

// available is what the budget has left; -1 without a limit.
func (b *budget) available() int64 {
	if b == nil {
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.capacity - b.used
}

// inUse is what the budget has given out.
func (b *budget) inUse() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
