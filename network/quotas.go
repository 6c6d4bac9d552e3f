package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/quota"
)

// Connection limits, as Kafka's ConnectionQuotas applies them:
//
//   - max.connections (broker-wide) and listener.name.<l>.max.connections
//     block the listener's accept loop: the connection that found no slot
//     is held, unread, until one frees (Kafka's waitForConnectionSlot), so
//     it is never served early and never refused. The inter-broker listener
//     is exempt from the broker-wide limit when there is more than one
//     listener (KIP-402); when its connections push the total above the
//     limit, the connection idle longest on another listener is closed to
//     make room (Kafka's Processor.closeExcessConnections).
//   - max.connections.per.ip and max.connections.per.ip.overrides close the
//     new connection at once (TooManyConnectionsException); the count is per
//     address across all listeners, and is checked after a slot was found.
//   - max.connection.creation.rate (broker-wide, inter-broker listener
//     exempt) and listener.name.<l>.max.connection.creation.rate (KIP-612)
//     delay the accept loop, so connections are taken at no more than the
//     rate; none is refused.
//
// Limits of 0 in Config and Listener mean "no limit" (the zero value);
// the owner maps Kafka's defaults (2147483647) to 0.

// connQuotas counts the Server's connections by listener and address.
// Its invariant: total, byListener and byIP count exactly the connections
// admitted by admit and not yet released.
type connQuotas struct {
	interBroker string // exempt from maxTotal and brokerRate; "" none

	mu sync.Mutex
	// The broker-wide limits, which SetConnectionLimits changes at run
	// time (dynamic broker configs).
	maxTotal       int
	perIP          int
	perIPOverrides map[netip.Addr]int
	brokerRate     *rateLimiter // nil: no limit
	rateValue      int          // brokerRate's rate, to keep its state when unchanged

	// ipRates and ipSensors are the per-IP connection_creation_rate
	// quotas and their measurements, over window.
	ipRates   ConnectionRateQuotas
	ipSensors map[netip.Addr]*ipSensor
	window    quota.Window
	lastSweep time.Time

	total      int
	byListener map[string]int
	byIP       map[netip.Addr]int
	freed      chan struct{} // closed and replaced whenever a slot frees or the limits change
}

func newConnQuotas(cfg Config) *connQuotas {
	q := &connQuotas{
		window:     quota.DefaultWindow,
		byListener: make(map[string]int),
		byIP:       make(map[netip.Addr]int),
	}
	// Kafka protects the inter-broker listener only when another listener
	// exists: with one listener there is nothing to protect it from.
	if len(cfg.Listeners) > 1 {
		q.interBroker = cfg.InterBrokerListener
	}
	if cfg.QuotaWindow.Samples > 0 && cfg.QuotaWindow.Size > 0 {
		q.window = cfg.QuotaWindow
	}
	q.set(ConnectionLimits{
		MaxConnections:               cfg.MaxConnections,
		MaxConnectionsPerIP:          cfg.MaxConnectionsPerIP,
		MaxConnectionsPerIPOverrides: cfg.MaxConnectionsPerIPOverrides,
		MaxConnectionCreationRate:    cfg.MaxConnectionCreationRate,
	})
	return q
}

// ConnectionLimits are the broker-wide connection limits, which Kafka
// lets AlterConfigs change at run time; 0 is no limit, as in Config.
type ConnectionLimits struct {
	MaxConnections               int
	MaxConnectionsPerIP          int
	MaxConnectionsPerIPOverrides map[netip.Addr]int
	MaxConnectionCreationRate    int
}

// SetConnectionLimits changes the broker-wide limits. Connections already
// open stay open, as in Kafka; a raised limit lets a waiting accept loop
// go on at once.
func (s *Server) SetConnectionLimits(l ConnectionLimits) { s.quotas.set(l) }

func (q *connQuotas) set(l ConnectionLimits) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.maxTotal, q.perIP, q.perIPOverrides = l.MaxConnections, l.MaxConnectionsPerIP, l.MaxConnectionsPerIPOverrides
	if l.MaxConnectionCreationRate != q.rateValue {
		q.rateValue, q.brokerRate = l.MaxConnectionCreationRate, nil
		if l.MaxConnectionCreationRate > 0 {
			q.brokerRate = newRateLimiter(l.MaxConnectionCreationRate)
		}
	}
	if q.freed != nil {
		close(q.freed)
	}
	q.freed = make(chan struct{})
}

// errTooManyFromIP refuses a connection over its address's limit.
type errTooManyFromIP struct {
	addr netip.Addr
	max  int
}

func (e *errTooManyFromIP) Error() string {
	return fmt.Sprintf("too many connections from %s (max %d)", e.addr, e.max)
}

// slotAvailable reports whether listener l may take one more connection.
// mu is held.
func (q *connQuotas) slotAvailable(l *boundListener) bool {
	if l.MaxConnections > 0 && q.byListener[l.Name] >= l.MaxConnections {
		return false
	}
	if l.Name == q.interBroker || q.maxTotal <= 0 {
		return true
	}
	return q.total < q.maxTotal
}

// throttle waits until the creation rates of listener l allow one more
// connection (KIP-612), or ctx ends.
func (q *connQuotas) throttle(ctx context.Context, l *boundListener) error {
	if l.rate != nil {
		if err := l.rate.wait(ctx); err != nil {
			return err
		}
	}
	q.mu.Lock()
	rate := q.brokerRate
	q.mu.Unlock()
	if rate != nil && l.Name != q.interBroker {
		return rate.wait(ctx)
	}
	return nil
}

// admit counts an accepted connection from addr on listener l. It waits
// while the listener or broker-wide limit is reached (the accept loop
// stalls, as Kafka's acceptor does) and fails with *errTooManyFromIP when
// the address is over its limit, or with ctx's error when ctx ends.
// overTotal reports that the connection pushed the total above
// max.connections (inter-broker listener only): the caller closes another
// listener's connection.
func (q *connQuotas) admit(ctx context.Context, l *boundListener, addr netip.Addr) (overTotal bool, err error) {
	q.mu.Lock()
	for !q.slotAvailable(l) {
		freed := q.freed
		q.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	limit, ok := q.perIPOverrides[addr]
	if !ok {
		limit = q.perIP
	}
	if (ok || limit > 0) && q.byIP[addr] >= limit {
		return false, &errTooManyFromIP{addr: addr, max: limit}
	}
	q.byIP[addr]++
	q.byListener[l.Name]++
	q.total++
	return q.maxTotal > 0 && q.total > q.maxTotal, nil
}

// release uncounts a connection admit counted and wakes a waiting accept
// loop.
func (q *connQuotas) release(listener string, addr netip.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := q.byIP[addr]; n <= 1 {
		delete(q.byIP, addr)
	} else {
		q.byIP[addr] = n - 1
	}
	q.byListener[listener]--
	q.total--
	close(q.freed)
	q.freed = make(chan struct{})
}

// remoteIP is the address connections are counted under; the zero Addr
// for connections that are not TCP (tests' pipes), which then share a count.
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// rateLimiter admits events at no more than perSec on average, with a
// burst of one second's worth: a token bucket. Kafka measures the rate
// over its quota window (quota.window.num × quota.window.size.seconds)
// and delays the acceptor by the time that brings the measured rate back
// under the quota; a one-second bucket gives the same long-run rate.
type rateLimiter struct {
	interval time.Duration // between tokens
	burst    time.Duration // most credit kept

	mu   sync.Mutex
	next time.Time // when the bucket is empty: the earliest admission without credit
}

func newRateLimiter(perSec int) *rateLimiter {
	iv := time.Second / time.Duration(perSec)
	return &rateLimiter{interval: iv, burst: time.Duration(perSec) * iv}
}

// wait takes one token, sleeping until it is due, or returns ctx's error.
func (r *rateLimiter) wait(ctx context.Context) error {
	r.mu.Lock()
	now := time.Now()
	if earliest := now.Add(-r.burst); r.next.Before(earliest) {
		r.next = earliest
	}
	r.next = r.next.Add(r.interval)
	delay := r.next.Sub(now)
	r.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ParseMaxConnectionsPerIPOverrides parses max.connections.per.ip.overrides:
// "host:count" pairs separated by commas, where host is an IP address or a
// hostname resolved now (Kafka resolves them when the config is loaded).
// An IPv6 address is split from its count at the last colon; brackets are
// allowed.
func ParseMaxConnectionsPerIPOverrides(ctx context.Context, v string) (map[netip.Addr]int, error) {
	out := map[netip.Addr]int{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.LastIndexByte(item, ':')
		if i <= 0 {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: %q is not host:count", item)
		}
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(item[:i]), "["), "]")
		n, err := strconv.Atoi(strings.TrimSpace(item[i+1:]))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: %q: count must be a non-negative integer", item)
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			out[ip.Unmap()] = n
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: host %s: %w", host, err)
		}
		for _, ip := range ips {
			out[ip.Unmap()] = n
		}
	}
	return out, nil
}

// ipSensor is one address's connection-rate measurement.
type ipSensor struct {
	rate *quota.Rate
	used time.Time
}

// ipSensorIdle is how long an address's measurement outlives its last
// connection (Kafka expires its per-IP sensors after an hour too).
const ipSensorIdle = time.Hour

// sweepIPSensors drops idle measurements, at most once a minute, so that
// a default IP quota does not keep one per address ever seen. mu is held.
func (q *connQuotas) sweepIPSensors(now time.Time) {
	if now.Sub(q.lastSweep) < time.Minute {
		return
	}
	q.lastSweep = now
	for a, s := range q.ipSensors {
		if now.Sub(s.used) > ipSensorIdle {
			delete(q.ipSensors, a)
		}
	}
}

// ConnectionRateQuotas are the connection_creation_rate client quotas on
// IP entities (KIP-612): new connections per second from one address,
// PerIP for named addresses and Default (0: none) for every other one.
type ConnectionRateQuotas struct {
	PerIP   map[netip.Addr]float64
	Default float64
}

// SetConnectionRateQuotas replaces the per-IP connection rate quotas;
// measurements in progress keep their history.
func (s *Server) SetConnectionRateQuotas(q ConnectionRateQuotas) {
	s.quotas.mu.Lock()
	defer s.quotas.mu.Unlock()
	s.quotas.ipRates = q
}

// ipRateThrottle records a new connection from addr against its
// connection_creation_rate and returns how long to hold it before
// closing it when that breaks the quota (Kafka's
// ConnectionThrottledException): zero to serve it. A refused connection
// is not counted, as in Kafka.
func (q *connQuotas) ipRateThrottle(addr netip.Addr, now time.Time) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	limit, ok := q.ipRates.PerIP[addr]
	if !ok {
		limit = q.ipRates.Default
	}
	if limit <= 0 {
		return 0
	}
	q.sweepIPSensors(now)
	s := q.ipSensors[addr]
	if s == nil {
		if q.ipSensors == nil {
			q.ipSensors = map[netip.Addr]*ipSensor{}
		}
		s = &ipSensor{rate: quota.NewRate(q.window)}
		q.ipSensors[addr] = s
	}
	s.used = now
	r := s.rate
	r.Record(1, now)
	// Bounded by one window, as Kafka's ConnectionQuotas bounds it.
	d := min(r.ThrottleTime(limit, now), q.window.Size)
	if d > 0 {
		r.Record(-1, now)
	}
	return d
}
