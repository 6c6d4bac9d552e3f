package broker

import (
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Checks and lookups shared by the partition data handlers (Produce, Fetch,
// ListOffsets, DeleteRecords, OffsetForLeaderEpoch).

// checkCurrentLeaderEpoch compares the leader epoch a client believes in
// (KIP-320; -1 = no check) with the partition's: an older one is
// FENCED_LEADER_EPOCH (the client's metadata is stale), a newer one
// UNKNOWN_LEADER_EPOCH (this broker's metadata is behind).
func checkCurrentLeaderEpoch(requested, current int32) error {
	switch {
	case requested < 0 || requested == current:
		return nil
	case requested < current:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}

// leaderWithEpoch resolves the local leader of topic/partition and checks
// the client's current leader epoch against it. It returns the replica and
// the leader epoch it was checked against.
func (b *Broker) leaderWithEpoch(snap *controller.Snapshot, topic string, partition, currentEpoch int32) (*replica.Partition, int32, error) {
	r, err := b.replicas.LeaderFor(snap, topic, partition)
	if err != nil {
		return nil, -1, err
	}
	_, epoch := r.State()
	if err := checkCurrentLeaderEpoch(currentEpoch, epoch); err != nil {
		return nil, epoch, err
	}
	return r, epoch, nil
}

// leaderHint is the partition's current leader and epoch by the metadata
// (KIP-951 puts it in NOT_LEADER_OR_FOLLOWER answers so that clients skip a
// metadata round trip), with the leader's endpoint on listener; ok is false
// when the metadata knows no live leader.
func leaderHint(snap *controller.Snapshot, topic string, partition int32, listener string) (leader, epoch int32, ep controller.Endpoint, ok bool) {
	t := snap.Topics[topic]
	if t == nil {
		return -1, -1, ep, false
	}
	p := t.Partition(partition)
	if p == nil || p.Leader < 0 {
		return -1, -1, ep, false
	}
	bi, live := snap.Brokers[p.Leader]
	if !live {
		return -1, -1, ep, false
	}
	for _, e := range bi.Endpoints {
		if e.Listener == listener {
			return p.Leader, p.LeaderEpoch, e, true
		}
	}
	return -1, -1, ep, false
}

// epochForOffset is the leader epoch of the batch holding offset, from the
// log's leader-epoch cache (-1 when the cache is empty). Each step of the
// walk moves one cache entry down from the latest epoch.
func epochForOffset(l *storage.Log, offset int64) int32 {
	e := l.LatestEpoch()
	for e >= 0 {
		prev, start := l.EndOffsetForEpoch(e - 1)
		// start is where epoch e begins; prev is the epoch before it, or
		// e-1 itself when e is the oldest entry (then start is e's start
		// too, and there is nothing further down).
		if start < 0 || offset >= start || prev < 0 {
			return e
		}
		if p2, s2 := l.EndOffsetForEpoch(prev - 1); prev == e-1 && s2 == start && p2 == prev-1 {
			return e // e is the oldest entry
		}
		e = prev
	}
	return e
}
