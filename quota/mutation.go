package quota

import (
	"sync"
	"time"
)

// MutationManager measures controller_mutation_rate (KIP-599): the
// partitions a client creates or deletes. Kafka measures it with a token
// bucket rather than a windowed rate, so that a burst up to the quota ×
// the whole window span goes through at once and the throttle time is
// the time for the bucket to refill to zero: a bucket of quota × Samples
// × Size tokens, refilled at quota per second, starting full.
type MutationManager struct {
	w Window

	mu       sync.Mutex
	resolver resolver
	enabled  bool
	buckets  map[Tags]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewMutationManager is a MutationManager with no quotas.
func NewMutationManager(w Window) *MutationManager {
	return &MutationManager{w: w, resolver: newResolver(nil), buckets: map[Tags]*bucket{}}
}

// SetQuotas replaces the quotas, by entity.
func (m *MutationManager) SetQuotas(quotas map[Entity]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resolver = newResolver(quotas)
	if len(quotas) > 0 {
		m.enabled = true
	}
}

// bucketOf refills and returns the client's bucket and its quota; nil
// when it has none. mu is held.
func (m *MutationManager) bucketOf(user, clientID string, now time.Time) (*bucket, float64) {
	if !m.enabled {
		return nil, 0
	}
	tags := m.resolver.tags(user, clientID)
	limit, ok := m.resolver.limit(tags)
	if !ok {
		return nil, 0
	}
	burst := limit * float64(m.w.Samples) * m.w.Size.Seconds()
	b := m.buckets[tags]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		m.buckets[tags] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(burst, b.tokens+limit*d.Seconds())
		b.last = now
	}
	for t, o := range m.buckets { // bounded by the clients with a quota
		if now.Sub(o.last) > sensorIdle {
			delete(m.buckets, t)
		}
	}
	return b, limit
}

// Exceeded reports whether the client's bucket is empty (below zero): a
// strict request (KIP-599: CreateTopics v6+, CreatePartitions v3+,
// DeleteTopics v5+) is then refused with THROTTLING_QUOTA_EXCEEDED for
// each topic, and told the throttle time.
func (m *MutationManager) Exceeded(user, clientID string, now time.Time) (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, limit := m.bucketOf(user, clientID, now)
	if b == nil || b.tokens >= 0 {
		return 0, false
	}
	return throttleOf(b, limit), true
}

// Record takes n partitions' worth of tokens (a request may drive the
// bucket below zero: the first mutation past the quota is accepted) and
// returns the throttle time: how long until the bucket is back at zero.
func (m *MutationManager) Record(user, clientID string, n float64, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, limit := m.bucketOf(user, clientID, now)
	if b == nil {
		return 0
	}
	b.tokens -= n
	return throttleOf(b, limit)
}

func throttleOf(b *bucket, limit float64) time.Duration {
	if b.tokens >= 0 {
		return 0
	}
	if limit <= 0 {
		return time.Hour
	}
	return time.Duration(-b.tokens / limit * float64(time.Second)).Round(time.Millisecond)
}
