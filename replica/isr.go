package replica

import (
	"context"
	"slices"
	"time"

	"github.com/runnel/runnel/controller"
	"go.uber.org/zap"
)

// In-sync replicas on the leader
//
// The leader of a partition keeps, per follower, the time it was last
// caught up, as Kafka's Partition does: a fetch at or beyond the leader's
// log end at that moment makes the follower caught up now; a fetch at or
// beyond the leader's log end as of the follower's previous fetch makes it
// caught up as of that previous fetch. A leader starting a new epoch
// counts every ISR member as caught up at that moment.
//
// The ISR manager (one goroutine per broker) looks at every partition this
// broker leads every replica.lag.time.max.ms/2, and at once when a follower
// outside the ISR catches up:
//
//   - shrink: an ISR follower not caught up for replica.lag.time.max.ms
//     leaves the ISR;
//   - expand: a live (registered) follower outside the ISR whose fetch
//     offset has reached the high watermark and the start offset of the
//     leader's current epoch joins it.
//
// Each change is a compare-and-swap of the partition state in etcd (which
// bumps the partition epoch), from the metadata snapshot, and only while
// the snapshot still names this broker leader in the epoch the replica is
// in; the changes one check finds are written together, many to an etcd
// transaction (controller.UpdatePartitions). On a CAS conflict the
// partition pauses briefly and is decided again from a newer snapshot. The ISR the replica
// uses changes only when the snapshot shows the write — except that a
// follower being added counts toward the high watermark from the moment
// its addition is sent (KIP-497's "maximal ISR"), so that an acknowledged
// write is always on every replica the stored ISR may name.
//
// If etcd is unreachable the writes fail: the ISR stays as it was, the
// leader keeps serving, and acks=all keeps waiting for every member of the
// unchanged ISR (so nothing is acknowledged that a member lacks). The
// manager retries each partition after a pause.

// isrTracking is a leader's per-follower bookkeeping, guarded by the
// replica's mu.
type isrTracking struct {
	epochStart   int64 // leader's log end when its epoch began
	lastCaughtUp map[int32]time.Time
	lastFetch    map[int32]time.Time
	lastFetchLEO map[int32]int64 // leader log end at the follower's last fetch
	adding       map[int32]bool  // additions sent and not yet seen in the ISR
	retryAt      time.Time       // pause after a failed ISR write
	frozen       bool            // controlled shutdown under way: no more ISR writes
	wokenLEO     int64           // log end at the last wake for followers (hw.go)
}

// update follows a partition state from the metadata. becameLeader is a
// new leadership (or epoch) of this broker.
func (t *isrTracking) update(becameLeader bool, p controller.Partition, leo int64) {
	if becameLeader {
		now := time.Now()
		t.epochStart = leo
		// The maps exist only with followers to track (fetched makes
		// them on a first fetch): 100k single-replica partitions would
		// spend ~400 bytes each on three empty maps.
		t.lastCaughtUp, t.lastFetch, t.lastFetchLEO = nil, nil, nil
		t.adding = nil
		t.retryAt = time.Time{}
		for _, id := range p.ISR {
			if id == p.Leader {
				continue // the leader is never checked against itself
			}
			if t.lastCaughtUp == nil {
				t.lastCaughtUp = map[int32]time.Time{}
				t.lastFetch = map[int32]time.Time{}
				t.lastFetchLEO = map[int32]int64{}
			}
			t.lastCaughtUp[id] = now
		}
		return
	}
	for id := range t.adding {
		if hosts(p.ISR, id) || !hosts(p.Replicas, id) {
			delete(t.adding, id)
		}
	}
}

// fetched records a follower fetch at offset when the leader's log end was
// leo.
func (t *isrTracking) fetched(id int32, offset, leo int64, now time.Time) {
	if t.lastCaughtUp == nil {
		t.lastCaughtUp = map[int32]time.Time{}
		t.lastFetch = map[int32]time.Time{}
		t.lastFetchLEO = map[int32]int64{}
	}
	switch prevLEO, ok := t.lastFetchLEO[id]; {
	case offset >= leo:
		t.lastCaughtUp[id] = now
	case ok && offset >= prevLEO:
		if lf := t.lastFetch[id]; lf.After(t.lastCaughtUp[id]) {
			t.lastCaughtUp[id] = lf
		}
	}
	t.lastFetch[id] = now
	t.lastFetchLEO[id] = leo
}

// maximal is the ISR plus the members being added.
func (t *isrTracking) maximal(isr []int32) []int32 {
	if len(t.adding) == 0 {
		return isr
	}
	out := slices.Clone(isr)
	for id := range t.adding {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// isrManager runs the ISR checks of one broker.
type isrManager struct {
	m    *Manager
	kick chan struct{}
	done chan struct{}
}

func newISRManager(m *Manager) *isrManager {
	return &isrManager{m: m, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// poke asks for a check soon; it never blocks.
func (im *isrManager) poke() {
	select {
	case im.kick <- struct{}{}:
	default:
	}
}

func (im *isrManager) lagMax() time.Duration {
	d := time.Duration(im.m.cfg.ReplicaLagTimeMaxMs) * time.Millisecond
	if d <= 0 {
		d = 30 * time.Second
	}
	return d
}

func (im *isrManager) run(ctx context.Context) {
	defer close(im.done)
	interval := min(max(im.lagMax()/2, 50*time.Millisecond), 15*time.Second)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-im.kick:
		case <-retry:
		}
		retry = nil
		if im.check(ctx) {
			retry = time.After(isrRetryPause)
		}
	}
}

// isrRetryPause is how long a partition whose ISR change was not written
// waits before it is decided again.
const isrRetryPause = 300 * time.Millisecond

// isrChange is an ISR change check decided for one partition.
type isrChange struct {
	r           *Partition
	add, remove []int32
}

// check looks at every partition this broker leads once, and writes the
// ISR changes it finds together (alterISRs). It reports whether some were
// not written and should be tried again soon.
func (im *isrManager) check(ctx context.Context) bool {
	m := im.m
	snap := m.md.Snapshot()
	now := time.Now()
	lag := im.lagMax()
	var changes []isrChange
	for _, r := range m.All() {
		if ctx.Err() != nil {
			return false
		}
		var add, remove []int32
		r.mu.Lock()
		t := &r.isrTrack
		if r.leader != m.brokerID || now.Before(t.retryAt) || t.frozen {
			r.mu.Unlock()
			continue
		}
		hw := r.log.HighWatermark()
		for _, id := range r.isr {
			if id == m.brokerID {
				continue
			}
			if now.Sub(t.lastCaughtUp[id]) > lag {
				remove = append(remove, id)
			}
		}
		for _, id := range r.replicas {
			if id == m.brokerID || hosts(r.isr, id) {
				continue
			}
			leo, ok := r.followerLEO[id]
			_, live := snap.Brokers[id]
			if t.adding[id] || (ok && live && leo >= hw && leo >= t.epochStart) {
				add = append(add, id)
			}
		}
		if len(add) > 0 {
			if t.adding == nil {
				t.adding = map[int32]bool{}
			}
			for _, id := range add {
				t.adding[id] = true
			}
		}
		r.mu.Unlock()
		if len(add) > 0 || len(remove) > 0 {
			changes = append(changes, isrChange{r: r, add: add, remove: remove})
		}
	}
	if len(changes) == 0 {
		return false
	}
	return m.alterISRs(ctx, changes) > 0
}

// alterISRs writes the ISR changes of many partitions this broker leads,
// each by compare-and-swap from the metadata snapshot, many to an etcd
// transaction (controller.UpdatePartitions): a broker that returns to a
// cluster of tens of thousands of partitions rejoins their ISRs in a few
// transactions, not one round trip each. It returns how many were not
// written (stale, or etcd failed); they pause for isrRetryPause and are
// decided again from a newer snapshot.
func (m *Manager) alterISRs(ctx context.Context, changes []isrChange) int {
	snap := m.md.Snapshot()
	var updates []controller.PartitionUpdate
	byKey := map[partitionKey]isrChange{}
	for _, ch := range changes {
		np, ok := isrUpdate(snap, m.brokerID, ch.r, ch.add, ch.remove)
		if !ok {
			continue
		}
		updates = append(updates, controller.PartitionUpdate{Topic: ch.r.topic, State: np})
		byKey[partitionKey{ch.r.topic, ch.r.index}] = ch
	}
	if len(updates) == 0 {
		return 0
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	written, failed, rev := m.md.UpdatePartitions(wctx, updates)
	logChange := m.base.Info
	if len(updates) > 100 {
		logChange = m.base.Debug
	}
	for _, w := range written {
		k := partitionKey{w.Topic, w.State.Index}
		var from []int32
		if t := snap.Topics[w.Topic]; t != nil {
			if p := t.Partition(w.State.Index); p != nil {
				from = p.ISR
			}
		}
		m.stats.isrChanged(from, w.State.ISR)
		logChange("ISR changed", zap.String("topic", w.Topic), zap.Int32("partition", w.State.Index),
			zap.Int32s("from", from), zap.Int32s("to", w.State.ISR), zap.Int32("leader_epoch", w.State.LeaderEpoch),
			zap.Int32("partition_epoch", w.State.PartitionEpoch))
		delete(byKey, k)
	}
	if len(updates) > 100 {
		m.base.Info("ISR changes written", zap.Int("written", len(written)), zap.Int("to_retry", failed),
			zap.Duration("took", time.Since(start)))
	}
	if failed > 0 {
		retryAt := time.Now().Add(isrRetryPause)
		for _, ch := range byKey {
			ch.r.mu.Lock()
			ch.r.isrTrack.retryAt = retryAt
			ch.r.mu.Unlock()
		}
		m.base.Debug("ISR changes not written; they will be decided again", zap.Int("count", failed))
	}
	if rev > 0 {
		_ = m.md.WaitRevision(wctx, rev)
	}
	return failed
}

// partitionKey names a partition.
type partitionKey struct {
	topic string
	index int32
}

// isrUpdate is the state that writes ISR + add - remove for r, from snap,
// and whether a write is needed and allowed: the snapshot still names
// self leader of r in the epoch r is in.
func isrUpdate(snap *controller.Snapshot, self int32, r *Partition, add, remove []int32) (controller.Partition, bool) {
	t := snap.Topics[r.topic]
	if t == nil || t.ID != r.topicID {
		return controller.Partition{}, false
	}
	p := t.Partition(r.index)
	leader, epoch := r.State()
	if p == nil || p.Leader != self || leader != self || p.LeaderEpoch != epoch {
		return controller.Partition{}, false
	}
	np := *p
	np.ISR = nil
	for _, id := range p.ISR {
		if !slices.Contains(remove, id) {
			np.ISR = append(np.ISR, id)
		}
	}
	for _, id := range add {
		if !slices.Contains(np.ISR, id) && slices.Contains(p.Replicas, id) {
			np.ISR = append(np.ISR, id)
		}
	}
	return np, !slices.Equal(np.ISR, p.ISR)
}
