package controller

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// The controller loop runs on the elected controller only. It looks at each
// new snapshot (and every few seconds, to retry failed writes) and repairs
// partition state the way Kafka's controller reacts to broker changes:
//
//   - A broker is gone when its registration disappeared (lease expiry or
//     shutdown).
//   - A broker has bounced when it registered again (a new broker epoch)
//     while partition state still counts it from before: Kafka's
//     controller handles such a broker as failed and then started
//     (onBrokerFailure, then onBrokerStartup), because it may have lost
//     unflushed data and must catch up as a follower before it counts
//     again. The loop sees a bounce three ways, so that it is caught
//     even when the deletion and re-creation of the registration arrive in
//     one watch batch, or happened while no controller (or another one)
//     was watching: its epoch changed since the loop last looked; it
//     leads a partition under an older broker epoch (LeaderBrokerEpoch);
//     it is in a partition's ISR but registered after that partition's
//     state was last written (Snapshot.Stale).
//   - Gone and bounced brokers leave the ISR, except that an ISR never
//     becomes empty: if no in-sync replica is left, the last ones that are
//     registered again (bounced) stay, else the last ones stay listed, so
//     that one of them can lead cleanly when it returns (Kafka keeps the
//     last member the same way).
//   - A partition whose leader is gone or bounced gets a new leader: the
//     first replica, in assignment order, in the (shrunk) ISR — clean
//     election. That is a bounced broker only when it is the last in-sync
//     replica: it leads again, in a new leader epoch. If there is none,
//     the leader is -1 (offline) unless the topic's
//     unclean.leader.election.enable (or the cluster default) is "true";
//     then the first live replica leads with an ISR of itself.
//   - Preferred leader election: when the first replica of the assignment
//     is live and in the ISR but not leading, it takes leadership back,
//     unless the cluster default auto.leader.rebalance.enable is "false".
//     (Kafka checks this every leader.imbalance.check.interval.seconds; here
//     it happens on the next snapshot.) A returning broker therefore leads
//     again only after its leader has put it back into the ISR.
//   - A reassignment (KIP-455; Adding/Removing set) completes once every
//     target replica is live and in the ISR: Replicas becomes the target,
//     the ISR loses the removed replicas, and if the leader is being
//     removed the first target replica in the ISR takes over. The removed
//     brokers then drop their logs when their watch shows the change.
//   - A leader change, or a leader elected again under a new broker epoch,
//     bumps the leader epoch and records the leader's broker epoch
//     (LeaderBrokerEpoch); every write is UpdatePartition's
//     compare-and-swap plus a check that this broker's election key still
//     exists, so a deposed controller cannot write.
func (c *Controller) controllerLoop(ctx context.Context, e *concurrency.Election) {
	guard := clientv3.Compare(clientv3.CreateRevision(e.Key()), "=", e.Rev())
	seen := map[int32]int64{}
	for id, b := range c.Snapshot().Brokers {
		seen[id] = b.Epoch
	}
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	// done is the last snapshot whose every needed change was written (nil
	// after a failure): its decisions are a function of the topic, the
	// brokers, the cluster's broker configs and the bounced set only, so
	// while the brokers and configs stay the same maps and nothing
	// bounced, only topics whose *Topic changed since done need a look. An
	// idle cluster of 100k partitions then costs nothing every tick.
	var done *Snapshot
	// compactAt (embedded etcd only): the history before this controller
	// took over is compacted once its first reconcile is written.
	compactAt := int64(0)
	if c.emb != nil {
		compactAt = c.Snapshot().Revision
	}
	for {
		c.mu.Lock()
		ch := c.notify
		c.mu.Unlock()
		s := c.Snapshot()
		bounced := map[int32]bool{}
		for id, b := range s.Brokers {
			if ep, ok := seen[id]; ok && ep != b.Epoch {
				bounced[id] = true
			}
		}
		since := done
		if since != nil && (len(bounced) > 0 || !s.SameBrokers(since) || !s.SameBrokerConfigs(since)) {
			since = nil
		}
		done = nil
		if c.reconcile(ctx, s, since, bounced, guard) {
			done = s
			// Only forget a bounce once its consequences are written.
			seen = map[int32]int64{}
			for id, b := range s.Brokers {
				seen[id] = b.Epoch
			}
			if compactAt > 0 {
				c.compactEmbedded(ctx, compactAt)
				compactAt = 0
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-tick.C:
		}
	}
}

// reconcile writes every needed partition change for snapshot s and
// reports whether all writes succeeded (or none were needed). bounced are
// the brokers whose epoch changed since the loop last saw them. With
// since (a snapshot already reconciled with the same brokers and broker
// configs), only topics that changed since it are looked at.
func (c *Controller) reconcile(ctx context.Context, s, since *Snapshot, bounced map[int32]bool, guard clientv3.Cmp) bool {
	rebalance := s.BrokerConfigs[""]["auto.leader.rebalance.enable"] != "false"
	clusterUnclean := s.BrokerConfigs[""]["unclean.leader.election.enable"]
	var changes []PartitionUpdate
	for name, t := range s.Topics {
		if since != nil && since.Topics[name] == t {
			continue
		}
		uncleanCfg, set := t.Configs["unclean.leader.election.enable"]
		if !set {
			uncleanCfg = clusterUnclean
		}
		unclean := uncleanCfg == "true"
		for _, p := range t.Partitions {
			v := brokerView{s: s, bounced: bounced}
			base, done := completeReassignment(p, func(b int32) bool { return v.eligible(p, b) })
			np, changed := electLeader(base, v, unclean, rebalance)
			changed = changed || done
			if np.Leader != p.Leader && np.LeaderEpoch <= p.LeaderEpoch {
				np.LeaderEpoch = p.LeaderEpoch + 1
			}
			if changed {
				changes = append(changes, PartitionUpdate{Topic: t.Name, State: np})
			}
		}
	}
	if len(changes) == 0 {
		return true
	}
	// A broker that bounced with thousands of partitions changes them all
	// at once: they are written in few large transactions
	// (updatePartitions), several at a time, each visible — its
	// partitions led — as soon as it commits. Partitions without a usable
	// leader go first: a new leader, or the same broker leading again
	// under its new broker epoch (a restarted broker's partitions, fenced
	// until then), before those that only lose an ISR member. Each
	// transaction holds neighbouring partitions of few topics, so that
	// every watcher rebuilds few topics per event.
	urgent := make([]bool, len(changes))
	for i := range changes {
		urgent[i] = leaderMoves(s, changes[i])
	}
	order := make([]int, len(changes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ca, cb := &changes[a], &changes[b]
		if c := cmpBool(urgent[b], urgent[a]); c != 0 {
			return c
		}
		if c := strings.Compare(ca.Topic, cb.Topic); c != 0 {
			return c
		}
		return cmp.Compare(ca.State.Index, cb.State.Index)
	})
	sorted := make([]PartitionUpdate, len(changes))
	for i, j := range order {
		sorted[i] = changes[j]
	}
	changes = sorted
	start := time.Now()
	written, failed, rev := c.updatePartitions(ctx, changes, guard)
	if rev > 0 {
		// The next decisions start from a view that holds these writes:
		// one that lacked some would decide those partitions again, and
		// each such write would only fail its compare-and-swap. (The
		// watch normally shows them at once; the bound keeps a broken
		// watch from stopping the loop.)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = c.WaitRevision(wctx, rev)
		cancel()
	}
	detail := c.log.Info
	if len(changes) > 100 {
		detail = c.log.Debug
	}
	for _, ch := range written {
		if t := s.Topics[ch.Topic]; t != nil {
			if old := t.Partition(ch.State.Index); old != nil {
				c.metrics.elected(*old, ch.State)
			}
		}
		detail("partition state changed", zap.String("topic", ch.Topic), zap.Int32("partition", ch.State.Index),
			zap.Int32("leader", ch.State.Leader), zap.Int32("leader_epoch", ch.State.LeaderEpoch),
			zap.Int64("leader_broker_epoch", ch.State.LeaderBrokerEpoch), zap.Int32s("isr", ch.State.ISR))
	}
	if len(changes) > 100 {
		c.log.Info("partition states changed", zap.Int("written", len(written)), zap.Int("to_retry", failed),
			zap.Duration("took", time.Since(start)))
	}
	return failed == 0 && ctx.Err() == nil
}

// brokerView is what one controller decision knows of the brokers: the
// registrations in a snapshot and the brokers seen to bounce.
type brokerView struct {
	s       *Snapshot
	bounced map[int32]bool
}

func (v brokerView) live(b int32) bool {
	_, ok := v.s.Brokers[b]
	return ok
}

// eligible: registered, and not bounced as far as p is concerned.
func (v brokerView) eligible(p Partition, b int32) bool {
	return v.live(b) && !v.bounced[b] && !v.s.Stale(p, b)
}

// completeReassignment returns p with its reassignment completed, if one
// is in progress and every target replica is live and in the ISR. The
// leader is set to -1 (for electLeader to choose among the target) when
// it is being removed.
func completeReassignment(p Partition, live func(int32) bool) (Partition, bool) {
	if len(p.Adding) == 0 && len(p.Removing) == 0 {
		return p, false
	}
	var target []int32
	for _, r := range p.Replicas {
		if !slices.Contains(p.Removing, r) {
			target = append(target, r)
		}
	}
	if len(target) == 0 {
		return p, false
	}
	for _, r := range target {
		if !live(r) || !slices.Contains(p.ISR, r) {
			return p, false
		}
	}
	np := p
	np.Replicas, np.Adding, np.Removing = target, nil, nil
	np.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(target, r) })
	if !slices.Contains(target, p.Leader) {
		np.Leader = -1
	}
	return np, true
}

// electLeader computes the partition state the controller wants for p.
func electLeader(p Partition, v brokerView, unclean, rebalance bool) (Partition, bool) {
	np := p
	eligible := func(b int32) bool { return v.eligible(p, b) }
	isr := slices.DeleteFunc(slices.Clone(p.ISR), isNot(eligible))
	if len(isr) == 0 {
		// Every in-sync replica is gone or bounced. The bounced ones are
		// registered again (failure, then startup): they stay, and the
		// first of them leads in a new epoch — clean, as they are the last
		// in-sync replicas.
		isr = slices.DeleteFunc(slices.Clone(p.ISR), isNot(v.live))
	}
	leader := p.Leader
	// A leader that is eligible and in sync keeps leading; if its state
	// has no broker epoch yet (written by an older Runnel) the epoch is
	// recorded below, in a new leader epoch.
	if leader < 0 || !eligible(leader) || !slices.Contains(isr, leader) {
		leader = -1
		for _, r := range p.Replicas {
			if slices.Contains(isr, r) {
				leader = r
				break
			}
		}
		if leader == -1 && unclean {
			for _, r := range p.Replicas {
				if v.live(r) {
					leader, isr = r, []int32{r}
					break
				}
			}
		}
	} else if rebalance && len(p.Replicas) > 0 {
		if pref := p.Replicas[0]; pref != leader && slices.Contains(isr, pref) {
			leader = pref
		}
	}
	if len(isr) == 0 {
		// Keep the last in-sync replicas listed; one of them must lead
		// when it returns (clean election).
		isr = p.ISR
	}
	np.ISR = isr
	np.Leader = leader
	np.LeaderBrokerEpoch = 0
	if leader >= 0 {
		np.LeaderBrokerEpoch = v.s.BrokerEpoch(leader)
	}
	// The leader epoch is bumped whenever leadership passes to another
	// broker or to the same broker under another broker epoch — a
	// restarted broker leading again. That bump is never skipped, however
	// many partitions a restart touches: it is what fences the previous
	// incarnation's writers (a zombie leader's appends, a follower
	// fetching or truncating by the old epoch, clients' cached leader
	// epochs, KIP-320), and it marks in the leader-epoch cache where the
	// new incarnation's log — which may have lost unflushed records —
	// starts. Kafka's KRaft controller does the same for an unclean
	// restart (a re-registration with a new incarnation): the broker is
	// fenced, drops out of its partitions' leadership (leader -1, one
	// bump) and is elected again once unfenced (another bump). The
	// intermediate leaderless epoch is left out here: nobody ever leads
	// in it, and until the single bump is written the old epoch's state
	// is refused by the restarted broker itself (replica's setRole: a
	// state naming it leader under another broker epoch is fenced), so
	// both incarnations are kept apart exactly as by the two bumps.
	if leader != p.Leader || np.LeaderBrokerEpoch != p.LeaderBrokerEpoch {
		np.LeaderEpoch = p.LeaderEpoch + 1
	}
	changed := np.Leader != p.Leader || np.LeaderBrokerEpoch != p.LeaderBrokerEpoch || !slices.Equal(np.ISR, p.ISR)
	return np, changed
}

// leaderMoves reports whether u gives its partition a leader it lacks in
// s: another leader, or the same one under another broker epoch (a
// restarted broker leading again: until this is written its replica
// refuses to lead, see replica's setRole).
func leaderMoves(s *Snapshot, u PartitionUpdate) bool {
	if t := s.Topics[u.Topic]; t != nil {
		if p := t.Partition(u.State.Index); p != nil {
			return p.Leader != u.State.Leader || p.LeaderBrokerEpoch != u.State.LeaderBrokerEpoch
		}
	}
	return true
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

func isNot(f func(int32) bool) func(int32) bool { return func(b int32) bool { return !f(b) } }

// compactEmbedded drops the embedded etcd's history before rev, once the
// controller of a single node has written what its start needed (a
// restart's re-election rewrites every partition key). etcd rebuilds its
// index from every revision it keeps at each start, and its periodic
// compaction (an hour's history, embed.go) restarts its clock with the
// process: at 100,000 partitions a few restarts' re-elections were a
// million revisions to read back, seconds of the next start. Only this
// process watches the embedded etcd, and its watch is past rev; a watch
// that is not (broken and resumed) reloads on ErrCompacted, as after any
// compaction.
func (c *Controller) compactEmbedded(ctx context.Context, rev int64) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.cli.Compact(cctx, rev); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		c.log.Info("compacting the embedded etcd's history failed; its periodic compaction does it later", zap.Error(err))
	}
}
