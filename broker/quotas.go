package broker

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/internal/reqtime"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/quota"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client quotas, enforced as Kafka's KafkaApis and ClientQuotaManager do
// (package quota has the measurement; controller/quotas.go the store):
//
//   - producer_byte_rate: a Produce request's size is recorded after it
//     was handled; over the quota the response carries the throttle time.
//   - consumer_byte_rate: a consumer Fetch is bounded to what the quota
//     allows in its window, read, and its size recorded; over the quota
//     the records are dropped (the measurement taken back) and the client
//     gets an empty response with the throttle time, as Kafka's
//     getThrottledResponse.
//   - request_percentage: the time a request spent in its handler, less
//     the time it waited for others (fetch long poll, acks=all), in
//     percent of one thread-second; recorded for every request and
//     compared with the byte quotas for Produce and Fetch, the larger
//     throttle winning.
//   - controller_mutation_rate: the partitions CreateTopics,
//     CreatePartitions and DeleteTopics create or delete, as a token
//     bucket (KIP-599; topic_admin.go).
//   - connection_creation_rate: new connections per IP (KIP-612; network).
//
// Every response with a throttle_time_ms field carries the throttle time,
// and the connection is muted for it once the response is written
// (KIP-219; network.Response.Throttle). Follower fetches and the
// broker-only APIs are exempt, as in Kafka.

// quotaTypes name the quota kinds in metrics.
var quotaTypes = [...]quota.Kind{quota.ProducerByteRate, quota.ConsumerByteRate, quota.RequestPercentage, quota.ControllerMutationRate}

type clientQuotas struct {
	window   quota.Window
	produce  *quota.Manager
	fetch    *quota.Manager
	request  *quota.Manager
	mutation *quota.MutationManager

	mu   sync.Mutex
	from *controller.ClientQuotas // the snapshot quotas the managers hold
	// setIPRates gives the network Server the connection-rate quotas; nil
	// until the Server exists.
	setIPRates func(network.ConnectionRateQuotas)

	// metrics, by index in quotaTypes
	throttled     [len(quotaTypes)]atomic.Int64
	throttleNanos [len(quotaTypes)]atomic.Int64
}

func quotaWindow(cfg *config.Broker) quota.Window {
	return windowOf(cfg.QuotaWindowNum, cfg.QuotaWindowSizeSeconds)
}

// controllerQuotaWindow sizes the controller_mutation_rate bucket
// (controller.quota.window.*, as in Kafka).
func controllerQuotaWindow(cfg *config.Broker) quota.Window {
	return windowOf(cfg.ControllerQuotaWindowNum, cfg.ControllerQuotaWindowSizeSeconds)
}

func windowOf(samples, seconds int32) quota.Window {
	w := quota.DefaultWindow
	if samples > 0 {
		w.Samples = int(samples)
	}
	if seconds > 0 {
		w.Size = time.Duration(seconds) * time.Second
	}
	return w
}

func newClientQuotas(w, controllerWindow quota.Window) *clientQuotas {
	return &clientQuotas{
		window:   w,
		produce:  quota.NewManager(quota.ProducerByteRate, w),
		fetch:    quota.NewManager(quota.ConsumerByteRate, w),
		request:  quota.NewManager(quota.RequestPercentage, w),
		mutation: quota.NewMutationManager(controllerWindow),
	}
}

// update gives the managers the snapshot's quotas when they changed.
func (q *clientQuotas) update(snap *controller.Snapshot) {
	cq := snap.ClientQuotas
	if cq == nil {
		cq = &controller.ClientQuotas{}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.from == cq {
		return
	}
	q.from = cq
	byKind := map[quota.Kind]map[quota.Entity]float64{}
	ipRates := network.ConnectionRateQuotas{PerIP: map[netip.Addr]float64{}}
	for e, values := range cq.Entities {
		if e.IP.Set {
			v, ok := values[string(quota.ConnectionCreationRate)]
			switch {
			case !ok:
			case e.IP.Default:
				ipRates.Default = v
			default:
				if a, err := netip.ParseAddr(e.IP.Name); err == nil {
					ipRates.PerIP[a.Unmap()] = v
				}
			}
			continue
		}
		for k, v := range values {
			m := byKind[quota.Kind(k)]
			if m == nil {
				m = map[quota.Entity]float64{}
				byKind[quota.Kind(k)] = m
			}
			m[quota.Entity{User: e.User, ClientID: e.ClientID}] = v
		}
	}
	q.produce.SetQuotas(byKind[quota.ProducerByteRate])
	q.fetch.SetQuotas(byKind[quota.ConsumerByteRate])
	q.request.SetQuotas(byKind[quota.RequestPercentage])
	q.mutation.SetQuotas(byKind[quota.ControllerMutationRate])
	if q.setIPRates != nil {
		q.setIPRates(ipRates)
	}
}

// connectServer hands the connection-rate quotas to the Server from now
// on.
func (q *clientQuotas) connectServer(set func(network.ConnectionRateQuotas), snap *controller.Snapshot) {
	q.mu.Lock()
	q.setIPRates = set
	q.from = nil // the next update gives the Server the current quotas
	q.mu.Unlock()
	q.update(snap)
}

// note counts a throttle of kind for the metrics.
func (q *clientQuotas) note(kind quota.Kind, d time.Duration) {
	if d <= 0 {
		return
	}
	for i, k := range quotaTypes {
		if k == kind {
			q.throttled[i].Add(1)
			q.throttleNanos[i].Add(int64(d))
		}
	}
}

// quotaUser is the user a connection's quotas are looked up under:
// its principal's name (User:alice → alice; ANONYMOUS without
// authentication), as Kafka's session.sanitizedUser.
func quotaUser(cc *network.ConnContext) string {
	p := cc.Principal()
	if _, name, ok := strings.Cut(p, ":"); ok {
		return name
	}
	return p
}

func quotaClientID(req *protocol.Request) string {
	if req.ClientID == nil {
		return ""
	}
	return *req.ClientID
}

// requestClock is what a request spent: from when its handler began,
// less the time it waited for other work (which takes no thread in
// Kafka's purgatory: the replica package reports those waits through
// internal/reqtime, as the request metrics' remote phase). Handlers find
// it in their context.
type requestClock struct {
	start time.Time
	// recorded: the handler already charged request_percentage (Fetch,
	// which must know before it encodes its response).
	recorded bool
	throttle time.Duration
}

type requestClockKey struct{}

func clockOf(ctx context.Context) *requestClock {
	c, _ := ctx.Value(requestClockKey{}).(*requestClock)
	return c
}

// quotaExemptAPIs are the broker-only APIs Kafka answers without request
// quota (sendResponseExemptThrottle).
var quotaExemptAPIs = map[int16]bool{int16(kmsg.WriteTxnMarkers): true}

// chargeRequest records the request's handler time under
// request_percentage and returns the throttle (zero without a quota).
func (b *Broker) chargeRequest(ctx context.Context, cc *network.ConnContext, req *protocol.Request) time.Duration {
	c := clockOf(ctx)
	if c == nil {
		return 0
	}
	if c.recorded {
		return c.throttle
	}
	c.recorded = true
	busy := time.Since(c.start) - reqtime.RemoteOf(ctx)
	// percent of one thread-second: 100 × seconds
	c.throttle = b.quotas.request.Record(quotaUser(cc), quotaClientID(req), 100*busy.Seconds(), time.Now())
	// Kafka bounds a request-quota throttle by one window
	// (ClientRequestQuotaManager.maxThrottleTimeMs).
	c.throttle = min(c.throttle, b.quotas.window.Size)
	b.quotas.note(quota.RequestPercentage, c.throttle)
	return c.throttle
}

// withQuotas wraps a handler: it starts the request's clock, charges
// request_percentage afterwards, and puts the larger of that throttle and
// the handler's own (a byte quota) in the response and on the connection.
func (b *Broker) withQuotas(key int16, h network.HandlerFunc) network.HandlerFunc {
	if quotaExemptAPIs[key] {
		return h
	}
	return func(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
		// Until a request_percentage quota exists nothing is timed.
		if b.quotas.request.Enabled() {
			ctx = context.WithValue(ctx, requestClockKey{}, &requestClock{start: time.Now()})
		}
		resp, err := h(ctx, cc, req)
		if err != nil {
			return resp, err
		}
		throttle := max(resp.Throttle, b.chargeRequest(ctx, cc, req))
		if throttle <= 0 {
			return resp, nil
		}
		resp.Throttle = throttle
		if m, ok := resp.Msg.(kmsg.SetThrottleResponse); ok {
			ms := int32(min(throttle.Milliseconds(), 1<<31-1))
			m.SetThrottle(ms)
			resp.ThrottleFirst = !throttleAfter(resp.Msg)
		}
		return resp, nil
	}
}

// exemptFromRequestQuota marks the request as not charged (a follower
// fetch).
func exemptFromRequestQuota(ctx context.Context) {
	if c := clockOf(ctx); c != nil {
		c.recorded, c.throttle = true, 0
	}
}

// throttleAfter reports whether a client of this response version waits
// out a throttle by itself (KIP-219): then the response goes at once and
// the connection is muted; otherwise the response is held.
func throttleAfter(msg kmsg.Response) bool {
	if t, ok := msg.(kmsg.ThrottleResponse); ok {
		_, after := t.Throttle()
		return after
	}
	return true
}

// mutationQuota is one CreateTopics, CreatePartitions or DeleteTopics
// request's controller_mutation_rate (KIP-599, Kafka's
// ControllerMutationQuota). Strict (the versions whose clients know
// THROTTLING_QUOTA_EXCEEDED), a topic is refused while the client's
// bucket is empty; otherwise every mutation is accepted and only the
// throttle time tells the client to slow down.
type mutationQuota struct {
	q              *clientQuotas
	user, clientID string
	strict         bool
	throttle       time.Duration
}

// Kafka's first strict version of each mutating API.
const (
	createTopicsStrictQuotaVersion     = 6
	createPartitionsStrictQuotaVersion = 3
	deleteTopicsStrictQuotaVersion     = 5
)

func (b *Broker) mutationQuotaFor(cc *network.ConnContext, req *protocol.Request, strictSince int16) *mutationQuota {
	return &mutationQuota{q: b.quotas, user: quotaUser(cc), clientID: quotaClientID(req), strict: req.Version >= strictSince}
}

// errThrottlingQuotaExceeded is Kafka's refusal of a strict mutation.
var errThrottlingQuotaExceeded = kafkaErr(kerr.ThrottlingQuotaExceeded, "The throttling quota has been exceeded.")

// record charges n partitions created or deleted, or refuses them.
func (m *mutationQuota) record(n int) error {
	now := time.Now()
	if m.strict {
		if d, exceeded := m.q.mutation.Exceeded(m.user, m.clientID, now); exceeded {
			m.throttle = max(m.throttle, d)
			m.q.note(quota.ControllerMutationRate, d)
			return errThrottlingQuotaExceeded
		}
		m.q.mutation.Record(m.user, m.clientID, float64(n), now)
		return nil
	}
	if d := m.q.mutation.Record(m.user, m.clientID, float64(n), now); d > 0 {
		m.throttle = max(m.throttle, d)
		m.q.note(quota.ControllerMutationRate, d)
	}
	return nil
}
