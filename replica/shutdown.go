package replica

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/runnel/runnel/controller"
	"go.uber.org/zap"
)

// Controlled shutdown (controlled.shutdown.enable, default true)
//
// Before a broker stops (Close, on SIGTERM) it moves the leadership of
// every partition it leads to another replica, as Kafka's ControlledShutdown
// request asks its controller to: the new leader is the first replica in
// assignment order that is live and in the ISR, other than this broker;
// the leader epoch is bumped and this broker leaves the ISR, so that
// neither the controller's preferred-leader election nor an ISR expansion
// hands leadership back while it stops. Each change is a compare-and-swap
// of the partition state, batched into few etcd transactions (on conflict
// the snapshot is re-read and the partition decided again). A partition with no other live ISR member
// keeps its leader: moving it would lose acknowledged writes or leave it
// offline.
//
// The broker keeps serving while it waits (up to controlledShutdownWait)
// for its own metadata to show the moves, so that requests in flight are
// answered NOT_LEADER_OR_FOLLOWER with the new leader rather than cut off.
// If etcd is unreachable the writes fail and the broker stops anyway; the
// controller then moves leadership when its lease expires, as after a
// crash.

const controlledShutdownWait = 10 * time.Second

// ControlledShutdown moves leadership away from this broker; the broker
// calls it before it stops serving, when it is registered.
func (m *Manager) ControlledShutdown() {
	if v, ok := m.cfg.Get("controlled.shutdown.enable"); ok && v == "false" {
		return
	}
	for _, r := range m.All() {
		r.mu.Lock()
		r.isrTrack.frozen = true
		r.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), controlledShutdownWait)
	defer cancel()
	start := time.Now()
	moved := 0
	// Where the time went: deciding the moves from a snapshot, writing
	// them, and this broker's metadata showing them.
	var deciding, writing, showing time.Duration
	attempts := 0
	for ctx.Err() == nil {
		attempts++
		t0 := time.Now()
		snap := m.md.Snapshot()
		var moves []controller.PartitionUpdate
		for _, t := range snap.Topics {
			for _, p := range t.Partitions {
				if np, ok := shutdownMove(p, m.brokerID, snap); ok {
					moves = append(moves, controller.PartitionUpdate{Topic: t.Name, State: np})
				}
			}
		}
		// Neighbouring partitions share a transaction: every watcher
		// then rebuilds few topics per event.
		slices.SortFunc(moves, func(a, b controller.PartitionUpdate) int {
			if c := strings.Compare(a.Topic, b.Topic); c != 0 {
				return c
			}
			return cmp.Compare(a.State.Index, b.State.Index)
		})
		pending := len(moves)
		t1 := time.Now()
		written, failed, lastRev := m.md.UpdatePartitions(ctx, moves)
		t2 := time.Now()
		deciding += t1.Sub(t0)
		writing += t2.Sub(t1)
		moved += len(written)
		logMove := m.base.Info
		if len(moves) > 100 {
			logMove = m.base.Debug
		}
		for _, w := range written {
			logMove("controlled shutdown: moved leadership", zap.String("topic", w.Topic), zap.Int32("partition", w.State.Index),
				zap.Int32("to", w.State.Leader), zap.Int32("leader_epoch", w.State.LeaderEpoch), zap.Int32s("isr", w.State.ISR))
		}
		if lastRev > 0 {
			_ = m.md.WaitRevision(ctx, lastRev)
		}
		showing += time.Since(t2)
		if pending == 0 {
			break
		}
		if failed > 0 {
			// Conflicts: let the watch catch up, then decide again.
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	steps := []zap.Field{zap.Int("attempts", attempts), zap.Duration("deciding", deciding),
		zap.Duration("writing", writing), zap.Duration("showing", showing)}
	if ctx.Err() != nil {
		m.base.Warn("controlled shutdown incomplete; the controller moves the remaining leaders when this broker's session ends",
			append([]zap.Field{zap.Int("moved", moved)}, steps...)...)
		return
	}
	m.base.Info("controlled shutdown done", append([]zap.Field{zap.Int("moved", moved), zap.Duration("took", time.Since(start))}, steps...)...)
}

// shutdownMove is the state p should get so that self stops leading it,
// and whether a change is both needed and possible. The new leader is an
// eligible ISR member (registered, and not restarted since the state
// counted it: controller.Snapshot.Stale), recorded with its broker epoch.
func shutdownMove(p controller.Partition, self int32, snap *controller.Snapshot) (controller.Partition, bool) {
	if p.Leader != self {
		return p, false
	}
	next := int32(-1)
	for _, id := range p.Replicas {
		if id != self && slices.Contains(p.ISR, id) && snap.Eligible(p, id) {
			next = id
			break
		}
	}
	if next < 0 {
		return p, false
	}
	np := p
	np.Leader = next
	np.LeaderBrokerEpoch = snap.BrokerEpoch(next)
	np.LeaderEpoch = p.LeaderEpoch + 1
	np.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return id == self })
	return np, true
}
