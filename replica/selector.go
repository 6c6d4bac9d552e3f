package replica

import (
	"github.com/runnel/runnel/controller"
)

// PreferredReadReplica is the replica a leader points a consumer to instead
// of answering its fetch (KIP-392, Kafka's RackAwareReplicaSelector), or
// -1 to serve the fetch here. It is only ever a follower in the consumer's
// rack, and only when replica.selector.class asks for rack-aware selection
// and the leader is not itself in that rack. Candidates are the in-sync
// followers whose last fetch shows they hold fetchOffset (Kafka's leader
// filters on the same: a follower outside the ISR may lag far behind) and
// that the client can reach on its listener; the one with the most data
// wins, then the one caught up most recently.
//
// The leader then answers the partition with no records and the preferred
// replica, and the follower serves the consumer up to its own high
// watermark (broker/01_fetch.go). A consumer whose preferred replica fails or
// answers OFFSET_OUT_OF_RANGE goes back to the leader, which chooses again.
func (m *Manager) PreferredReadReplica(snap *controller.Snapshot, r *Partition, fetchOffset int64, rack, listener string) int32 {
	if !m.cfg.RackAwareReplicaSelection || rack == "" || snap.Brokers[m.brokerID].Rack == rack {
		return -1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	best, bestLEO := int32(-1), int64(-1)
	for _, id := range r.isr {
		leo, fetched := r.followerLEO[id]
		bi, live := snap.Brokers[id]
		if id == m.brokerID || !fetched || leo < fetchOffset || !live || bi.Rack != rack || !hasListener(bi, listener) {
			continue
		}
		if leo > bestLEO || (leo == bestLEO && r.isrTrack.lastCaughtUp[id].After(r.isrTrack.lastCaughtUp[best])) {
			best, bestLEO = id, leo
		}
	}
	return best
}

// hasListener reports whether broker bi advertises an endpoint on listener.
func hasListener(bi controller.BrokerInfo, listener string) bool {
	for _, e := range bi.Endpoints {
		if e.Listener == listener {
			return true
		}
	}
	return false
}
