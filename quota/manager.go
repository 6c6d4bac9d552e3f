package quota

import (
	"sync"
	"sync/atomic"
	"time"
)

// sensorIdle is how long a measurement nobody records into is kept
// (Kafka's InactiveSensorExpirationTimeSeconds).
const sensorIdle = time.Hour

// Manager measures one quota kind for every client and answers with
// throttle times. It is safe for concurrent use.
type Manager struct {
	kind Kind
	w    Window

	mu        sync.Mutex
	resolver  resolver
	enabled   bool        // some quota of this kind was ever set (Kafka's quotasEnabled)
	everSet   atomic.Bool // enabled, readable without mu
	sensors   map[Tags]*sensor
	lastSweep time.Time
	// clients caches, per (user, client id), the sensor and limit the
	// resolver chose, so that a request costs one map lookup; emptied
	// whenever the quotas change or sensors are swept.
	clients map[client]*binding
}

type client struct{ user, clientID string }

type binding struct {
	s     *sensor
	limit float64
	ok    bool
}

type sensor struct {
	rate *Rate
	used time.Time
}

// NewManager is a Manager for one kind, with no quotas.
func NewManager(kind Kind, w Window) *Manager {
	return &Manager{kind: kind, w: w, resolver: newResolver(nil), sensors: map[Tags]*sensor{}, clients: map[client]*binding{}}
}

// Kind is the quota kind the Manager measures.
func (m *Manager) Kind() Kind { return m.kind }

// SetQuotas replaces the quotas of this kind, by entity; measurements in
// progress keep their history and are held to the new limits at once.
func (m *Manager) SetQuotas(quotas map[Entity]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resolver = newResolver(quotas)
	clear(m.clients)
	if len(quotas) > 0 {
		m.enabled = true
		m.everSet.Store(true)
	}
}

// Enabled reports whether a quota of this kind was ever set: until then
// Record measures nothing, and callers may skip preparing a measurement.
func (m *Manager) Enabled() bool { return m.everSet.Load() }

// bindingOf is the client's sensor and limit. mu is held.
func (m *Manager) bindingOf(user, clientID string) *binding {
	k := client{user, clientID}
	if b := m.clients[k]; b != nil {
		return b
	}
	tags := m.resolver.tags(user, clientID)
	s := m.sensors[tags]
	if s == nil {
		s = &sensor{rate: NewRate(m.w)}
		m.sensors[tags] = s
	}
	b := &binding{s: s}
	b.limit, b.ok = m.resolver.limit(tags)
	m.clients[k] = b
	return b
}

// Limit is the quota that applies to user and clientID, if any.
func (m *Manager) Limit(user, clientID string) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.enabled {
		return 0, false
	}
	b := m.bindingOf(user, clientID)
	return b.limit, b.ok
}

// Record adds v (bytes, or percent-seconds of thread time) for user and
// clientID at now and returns how long the client must be throttled: zero
// when within its quota or when it has none. Nothing is recorded while no
// quota of this kind was ever set, so a broker without quotas pays one
// lock and a branch.
func (m *Manager) Record(user, clientID string, v float64, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.enabled {
		return 0
	}
	m.sweep(now)
	b := m.bindingOf(user, clientID)
	b.s.used = now
	b.s.rate.Record(v, now)
	if !b.ok {
		return 0
	}
	return b.s.rate.ThrottleTime(b.limit, now)
}

// Unrecord takes back v recorded at now: a fetch answered empty because
// it was throttled does not count against the client (Kafka does the
// same).
func (m *Manager) Unrecord(user, clientID string, v float64, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.clients[client{user, clientID}]; b != nil {
		b.s.rate.Record(-v, now)
	}
}

// MaxValueInWindow is the most a client may be given at once without
// being throttled for certain: quota × (samples-1) windows. The fetch
// path bounds a response by it. ok is false when the client has no quota.
func (m *Manager) MaxValueInWindow(user, clientID string) (max float64, ok bool) {
	limit, ok := m.Limit(user, clientID)
	if !ok {
		return 0, false
	}
	return limit * float64(m.w.Samples-1) * m.w.Size.Seconds(), true
}

// sweep drops measurements unused for sensorIdle, at most once a minute.
func (m *Manager) sweep(now time.Time) {
	if now.Sub(m.lastSweep) < time.Minute {
		return
	}
	m.lastSweep = now
	for t, s := range m.sensors {
		if now.Sub(s.used) > sensorIdle {
			delete(m.sensors, t)
		}
	}
	clear(m.clients) // entries may point at swept sensors
}

// Sensors is the number of live measurements (a metric).
func (m *Manager) Sensors() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sensors)
}
