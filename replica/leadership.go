package replica

import (
	"github.com/runnel/runnel/controller"
	"go.uber.org/zap"
)

// Led is a partition of an internal topic this broker has come to lead (or
// leads in a new epoch), with its local replica.
type Led struct {
	Index, Epoch int32
	P            *Partition
}

// LeadershipChanges is the one loader of internal-topic partitions
// (__consumer_offsets, __transaction_state): it compares the partitions a
// coordinator has loaded (index → leader epoch) with those this broker
// leads in snap. gone are to unload; fresh are to load, with their local
// replicas (one without a local replica is logged on lg and left out).
func (m *Manager) LeadershipChanges(snap *controller.Snapshot, topic string, loaded map[int32]int32, lg *zap.Logger) (gone []int32, fresh []Led) {
	lead := LedPartitions(snap, topic, m.brokerID, m.md.OwnEpoch(snap))
	gone, changed := leadershipDiff(loaded, lead)
	for _, idx := range changed {
		p, err := m.Get(snap, topic, idx)
		if err != nil {
			lg.Warn("no local replica of a led "+topic+" partition", zap.Int32("partition", idx), zap.Error(err))
			continue
		}
		fresh = append(fresh, Led{Index: idx, Epoch: lead[idx], P: p})
	}
	return gone, fresh
}

// LedPartitions maps each partition of topic that broker id, at broker
// epoch own, leads to its leader epoch: the coordinators load the
// internal-topic partitions it lists and reload one whose epoch changed.
// A partition whose state names id leader under another broker epoch is
// not led (setRole).
func LedPartitions(snap *controller.Snapshot, topic string, id int32, own int64) map[int32]int32 {
	lead := map[int32]int32{}
	if t := snap.Topics[topic]; t != nil {
		for _, p := range t.Partitions {
			if p.Leader == id && own != 0 && p.LeaderBrokerEpoch == own {
				lead[p.Index] = p.LeaderEpoch
			}
		}
	}
	return lead
}

// leadershipDiff compares the internal-topic partitions a coordinator has
// loaded (with the leader epoch loaded at) with those it leads now: gone
// are loaded but no longer led, fresh are led but not loaded at their
// current epoch.
func leadershipDiff(loaded, lead map[int32]int32) (gone, fresh []int32) {
	for idx := range loaded {
		if _, ok := lead[idx]; !ok {
			gone = append(gone, idx)
		}
	}
	for idx, epoch := range lead {
		if e, ok := loaded[idx]; !ok || e != epoch {
			fresh = append(fresh, idx)
		}
	}
	return gone, fresh
}
