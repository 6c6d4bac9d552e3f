package replica

import (
	"slices"
	"sync/atomic"
)

// Stats are the replica layer's event counters, read by the broker's
// metrics (Kafka's ReplicaManager IsrShrinksPerSec and IsrExpandsPerSec).
type Stats struct {
	isrShrinks atomic.Uint64
	isrExpands atomic.Uint64
}

// isrChanged counts one ISR change this broker wrote as leader: a shrink
// when some replica left, an expand when some joined (both, for a change
// that does both).
func (s *Stats) isrChanged(from, to []int32) {
	for _, id := range from {
		if !slices.Contains(to, id) {
			s.isrShrinks.Add(1)
			break
		}
	}
	for _, id := range to {
		if !slices.Contains(from, id) {
			s.isrExpands.Add(1)
			break
		}
	}
}

// ISRShrinks is the number of ISR shrinks this broker wrote as leader.
func (m *Manager) ISRShrinks() uint64 { return m.stats.isrShrinks.Load() }

// ISRExpands is the number of ISR expansions this broker wrote as leader.
func (m *Manager) ISRExpands() uint64 { return m.stats.isrExpands.Load() }

// Status is one local replica as the metrics see it.
type Status struct {
	Topic     string
	Partition int32
	// Leader: this broker leads the partition.
	Leader bool
	// Replicas and ISR are the sizes of the assignment and the ISR;
	// MinInsync is the topic's min.insync.replicas.
	Replicas, ISR int
	MinInsync     int32
	// FollowerLag is, on a follower, how far its log end was behind the
	// leader's HW at the last fetch (Kafka's ConsumerLag of the replica
	// fetcher); 0 on the leader.
	FollowerLag int64
}

// Status returns the state of every local replica.
func (m *Manager) Status() []Status {
	all := m.All()
	out := make([]Status, 0, len(all))
	for _, p := range all {
		p.mu.Lock()
		st := Status{
			Topic: p.topic, Partition: p.index, Leader: p.leader == p.self,
			Replicas: len(p.replicas), ISR: len(p.isr), MinInsync: p.minInsync,
		}
		p.mu.Unlock()
		if !st.Leader {
			st.FollowerLag = p.followerLag.Load()
		}
		out = append(out, st)
	}
	return out
}
