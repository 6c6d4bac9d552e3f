package broker

import (
	"sync"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// replica is this broker's copy of one topic partition: its log and the
// role the metadata gives it. The log is safe for concurrent use; the role
// fields are guarded by mu.
type replica struct {
	topic   string
	index   int32
	topicID controller.TopicID
	log     *storage.Log

	mu          sync.Mutex
	leader      int32
	leaderEpoch int32
	replicas    []int32
	isr         []int32
	// appendMu orders appends with the high-watermark updates that follow
	// them, so that HW never passes a batch that another appender is still
	// writing.
	appendMu sync.Mutex
	// visible is closed, and replaced, whenever new records become visible
	// to consumers (the high watermark moves) or the role changes: fetches
	// that long-poll wait on it.
	visible chan struct{}
	// followerLEO is, on the leader, the log end offset each follower last
	// fetched from (replica_hw.go); reset when the role changes.
	followerLEO map[int32]int64
	// minInsync is the topic's effective min.insync.replicas.
	minInsync int32
	// isr holds the leader's ISR bookkeeping (replica_isr.go).
	isrTrack isrTracking
	// kick asks the broker's ISR manager to look at this partition soon
	// (a follower caught up); nil in tests without one.
	kick func()
}

// state returns the leader and leader epoch under the lock.
func (r *replica) state() (leader, epoch int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leader, r.leaderEpoch
}

// changed returns a channel closed at the next visible change.
func (r *replica) changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.visible
}

// wake closes the current change channel and installs a new one.
func (r *replica) wake() {
	r.mu.Lock()
	close(r.visible)
	r.visible = make(chan struct{})
	r.mu.Unlock()
}

// replicaSet maps topic partitions to this broker's replicas and keeps them
// in step with the controller's metadata snapshots: it creates the logs of
// partitions assigned here, applies topic configs, records leader epochs,
// and deletes the logs of deleted topics.
type replicaSet struct {
	brokerID int32
	cfg      *config.Broker
	logs     *storage.Manager
	log      *zap.Logger
	durable  bool
	// kick is handed to every replica (replica.kick).
	kick func()
	// ownEpoch is this broker's epoch as a snapshot shows it
	// (controller.OwnEpoch): it leads only partitions whose state records
	// it as the leader's broker epoch. nil: no such check.
	ownEpoch func(*controller.Snapshot) int64

	mu      sync.RWMutex
	applied int64 // snapshot revision last applied
	byTopic map[string]map[int32]*replica
}

func newReplicaSet(brokerID int32, cfg *config.Broker, logs *storage.Manager, lg *zap.Logger) *replicaSet {
	return &replicaSet{
		brokerID: brokerID,
		cfg:      cfg,
		logs:     logs,
		log:      lg,
		durable:  cfg.LogDurable,
		byTopic:  make(map[string]map[int32]*replica),
	}
}

// get returns the local replica of topic/partition, applying snap first if
// it is newer than what has been applied (a request can race the watch that
// would otherwise apply it). The error is UNKNOWN_TOPIC_OR_PARTITION when
// the snapshot has no such partition, NOT_LEADER_OR_FOLLOWER when this
// broker holds no replica of it.
func (rs *replicaSet) get(snap *controller.Snapshot, topic string, partition int32) (*replica, error) {
	rs.mu.RLock()
	stale := snap.Revision > rs.applied
	r := rs.byTopic[topic][partition]
	rs.mu.RUnlock()
	if stale {
		rs.apply(snap)
		rs.mu.RLock()
		r = rs.byTopic[topic][partition]
		rs.mu.RUnlock()
	}
	if r != nil {
		return r, nil
	}
	t := snap.Topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition
	}
	return nil, kerr.NotLeaderForPartition
}

// leaderFor is get plus the check that this broker leads the partition.
func (rs *replicaSet) leaderFor(snap *controller.Snapshot, topic string, partition int32) (*replica, error) {
	r, err := rs.get(snap, topic, partition)
	if err != nil {
		return nil, err
	}
	if leader, _ := r.state(); leader != rs.brokerID {
		return nil, kerr.NotLeaderForPartition
	}
	return r, nil
}

// apply reconciles the local replicas with a snapshot. It is idempotent and
// ignores snapshots older than the last one applied.
func (rs *replicaSet) apply(snap *controller.Snapshot) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if snap.Revision <= rs.applied {
		return
	}
	first := rs.applied == 0
	rs.applied = snap.Revision
	dyn := dynamicConfigs(snap, rs.brokerID)
	own := int64(-1)
	if rs.ownEpoch != nil {
		own = rs.ownEpoch(snap)
	}

	// Deleted topics (or topics re-created under a new id): drop the logs.
	for name, parts := range rs.byTopic {
		t := snap.Topics[name]
		for idx, r := range parts {
			if t != nil && t.ID == r.topicID && int(idx) < len(t.Partitions) && hosts(t.Partitions[idx].Replicas, rs.brokerID) {
				continue
			}
			delete(parts, idx)
			if err := rs.logs.Delete(name, idx); err != nil {
				rs.log.Warn("deleting partition log", zap.String("topic", name), zap.Int32("partition", idx), zap.Error(err))
			}
			r.wake()
		}
		if len(parts) == 0 {
			delete(rs.byTopic, name)
		}
	}

	for name, t := range snap.Topics {
		eff, err := config.EffectiveTopic(rs.cfg, dyn, t.Configs)
		if err != nil {
			rs.log.Warn("topic has an invalid stored config; using defaults", zap.String("topic", name), zap.Error(err))
			eff, _ = config.EffectiveTopic(rs.cfg, dyn, nil)
		}
		scfg := storageConfig(eff, rs.durable)
		for _, p := range t.Partitions {
			if !hosts(p.Replicas, rs.brokerID) {
				continue
			}
			parts := rs.byTopic[name]
			if parts == nil {
				parts = make(map[int32]*replica)
				rs.byTopic[name] = parts
			}
			r := parts[p.Index]
			if r == nil {
				lg, err := rs.logs.GetOrCreate(name, p.Index, scfg)
				if err != nil {
					rs.log.Error("opening partition log", zap.String("topic", name), zap.Int32("partition", p.Index), zap.Error(err))
					continue
				}
				r = &replica{topic: name, index: p.Index, topicID: t.ID, log: lg, leader: -1, leaderEpoch: -1, visible: make(chan struct{}), kick: rs.kick}
				parts[p.Index] = r
			} else if r.log.Config() != scfg {
				r.log.SetConfig(scfg)
			}
			r.setMinInsync(eff.MinInsyncReplicas)
			rs.setRole(r, p, own)
		}
	}
	if first {
		rs.deleteStrays()
	}
}

// deleteStrays removes logs found on disk that the metadata does not place
// on this broker: partitions of topics deleted, or moved away, while the
// broker was down (Kafka's stray partitions).
func (rs *replicaSet) deleteStrays() {
	for _, l := range rs.logs.All() {
		if rs.byTopic[l.Topic()][l.Partition()] != nil {
			continue
		}
		rs.log.Info("deleting stray partition log", zap.String("topic", l.Topic()), zap.Int32("partition", l.Partition()))
		if err := rs.logs.Delete(l.Topic(), l.Partition()); err != nil {
			rs.log.Warn("deleting stray partition log", zap.String("topic", l.Topic()), zap.Int32("partition", l.Partition()), zap.Error(err))
		}
	}
}

// setRole records the partition state from the metadata. A leader that
// starts a new epoch stamps it into the leader-epoch cache at its log end,
// as Kafka's Partition.makeLeader does. The change happens under appendMu,
// so that no replica-fetcher append (which checks the role under the same
// lock) can land in a log that has just become the leader's.
//
// own is this broker's current broker epoch (-1: not checked). A state
// that names this broker leader under another broker epoch was written
// for a previous process of this broker (it restarted before the
// controller reacted) or before the broker epoch was recorded: the
// replica then neither leads nor follows (produce and fetch are answered
// NOT_LEADER_OR_FOLLOWER) until the controller writes the leadership
// again, in a new leader epoch.
func (rs *replicaSet) setRole(r *replica, p controller.Partition, own int64) {
	leader := p.Leader
	fenced := leader == rs.brokerID && own >= 0 && (own == 0 || p.LeaderBrokerEpoch != own)
	if fenced {
		leader = -1
	}
	r.appendMu.Lock()
	r.mu.Lock()
	changed := r.leader != leader || r.leaderEpoch != p.LeaderEpoch
	r.leader, r.leaderEpoch = leader, p.LeaderEpoch
	r.replicas, r.isr = p.Replicas, p.ISR
	if changed {
		r.followerLEO = nil
	}
	r.isrTrack.update(changed && leader == rs.brokerID, p, r.log.LogEndOffset())
	r.mu.Unlock()
	if changed && leader == rs.brokerID && p.LeaderEpoch > r.log.LatestEpoch() {
		if err := r.log.AssignEpoch(p.LeaderEpoch, r.log.LogEndOffset()); err != nil {
			rs.log.Warn("recording leader epoch", zap.String("topic", r.topic), zap.Int32("partition", r.index), zap.Error(err))
		}
	}
	r.appendMu.Unlock()
	if changed && fenced {
		rs.log.Info("partition state names this broker leader for another broker epoch; not leading until the controller elects a leader again",
			zap.String("topic", r.topic), zap.Int32("partition", r.index), zap.Int32("leader_epoch", p.LeaderEpoch),
			zap.Int64("leader_broker_epoch", p.LeaderBrokerEpoch), zap.Int64("broker_epoch", own))
	}
	if leader == rs.brokerID {
		// The ISR or the role changed: the leader's HW may move (a
		// single-replica ISR exposes its whole log at once).
		r.maybeAdvanceHW(rs.brokerID)
	}
	if changed {
		r.wake()
	}
}

// all returns every local replica.
func (rs *replicaSet) all() []*replica {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	var out []*replica
	for _, parts := range rs.byTopic {
		for _, r := range parts {
			out = append(out, r)
		}
	}
	return out
}

// ledPartitions maps each partition of topic that broker id, at broker
// epoch own, leads to its leader epoch: the coordinators load the
// internal-topic partitions it lists and reload one whose epoch changed.
// A partition whose state names id leader under another broker epoch is
// not led (setRole).
func ledPartitions(snap *controller.Snapshot, topic string, id int32, own int64) map[int32]int32 {
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

func hosts(replicas []int32, id int32) bool {
	for _, r := range replicas {
		if r == id {
			return true
		}
	}
	return false
}

// dynamicConfigs are the broker configs stored in etcd that apply to this
// broker: the cluster-wide defaults and its own.
func dynamicConfigs(snap *controller.Snapshot, brokerID int32) config.Dynamic {
	return config.Dynamic{
		ClusterDefault: snap.BrokerConfigs[""],
		PerBroker:      snap.BrokerConfigs[itoa(brokerID)],
	}
}

// storageConfig turns a resolved topic configuration into the log's.
func storageConfig(t config.Topic, durable bool) storage.Config {
	c := storage.DefaultConfig()
	c.SegmentBytes = int64(t.SegmentBytes)
	c.SegmentMs = t.SegmentMs
	c.SegmentIndexBytes = int(t.SegmentIndexBytes)
	c.IndexIntervalBytes = int(t.IndexIntervalBytes)
	c.MaxMessageBytes = int(t.MaxMessageBytes)
	c.RetentionMs = t.RetentionMs
	c.RetentionBytes = t.RetentionBytes
	switch {
	case t.Compact && t.Delete:
		c.CleanupPolicy = "compact,delete"
	case t.Compact:
		c.CleanupPolicy = "compact"
	default:
		c.CleanupPolicy = "delete"
	}
	c.DeleteRetentionMs = t.DeleteRetentionMs
	c.MinCompactionLagMs = t.MinCompactionLagMs
	c.MaxCompactionLagMs = t.MaxCompactionLagMs
	c.MinCleanableDirtyRatio = t.MinCleanableDirtyRatio
	c.FlushMessages = t.FlushMessages
	c.FlushMs = t.FlushMs
	if t.LogAppendTime {
		c.MessageTimestampType = "LogAppendTime"
	} else {
		c.MessageTimestampType = "CreateTime"
	}
	c.MessageTimestampBeforeMaxMs = t.MessageTimestampBeforeMaxMs
	c.MessageTimestampAfterMaxMs = t.MessageTimestampAfterMaxMs
	c.Durable = durable
	c.FileDeleteDelayMs = t.FileDeleteDelayMs
	return c
}
