package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/coordinator/placement"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Group coordination glue
//
// The group coordinator (package coordinator) owns the groups of the
// __consumer_offsets partitions this broker leads. This file is its seam
// to the broker:
//
//   - the internal topic __consumer_offsets is created on the first
//     FindCoordinator for a group (offsets.topic.num.partitions partitions,
//     compacted, segment.bytes = offsets.topic.segment.bytes, replication
//     factor offsets.topic.replication.factor). As in Kafka, the topic is
//     not created with fewer replicas: until that many brokers are
//     registered FindCoordinator answers COORDINATOR_NOT_AVAILABLE. With
//     the embedded etcd (a single-node cluster by construction: it listens
//     on a unix socket) and the key not set, the factor is 1 — what Kafka's
//     single-node quickstart config sets explicitly;
//   - a snapshot subscription loads a partition into the coordinator when
//     this broker becomes its leader (replaying the log) and unloads it when
//     leadership moves away;
//   - offsetsLog implements coordinator.Log over the local leader replica:
//     appends are RecordBatch v2 batches built with storage.BatchBuilder,
//     written on the leader path and acknowledged once the high watermark
//     passes them (acks=all); replay reads whole batches up to the high
//     watermark and decodes them with kmsg (decompressing if needed, since
//     a compacted log may hold anything a previous writer put there).

// offsetsTopicName is Kafka's internal topic for group state.
const offsetsTopicName = "__consumer_offsets"

// groupCoordinator is the broker's side of group coordination.
type groupCoordinator struct {
	b     *Broker
	coord *coordinator.Coordinator
	lg    *zap.Logger

	unsubscribe func()

	mu     sync.Mutex
	loaded map[int32]int32 // partition → leader epoch it was loaded at
	closed bool

	createMu sync.Mutex // one creation attempt at a time
}

func (b *Broker) startGroups() *groupCoordinator {
	cfg := b.cfg
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	ccfg := coordinator.Config{
		NumPartitions:             cfg.OffsetsTopicNumPartitions,
		InitialRebalanceDelay:     ms(int64(cfg.GroupInitialRebalanceDelayMs)),
		MinSessionTimeout:         ms(int64(cfg.GroupMinSessionTimeoutMs)),
		MaxSessionTimeout:         ms(int64(cfg.GroupMaxSessionTimeoutMs)),
		MaxGroupSize:              int(cfg.GroupMaxSize),
		OffsetMetadataMaxBytes:    int(cfg.OffsetMetadataMaxBytes),
		OffsetsRetention:          time.Duration(cfg.OffsetsRetentionMinutes) * time.Minute,
		OffsetsRetentionCheck:     ms(cfg.OffsetsRetentionCheckMs),
		CommitTimeout:             ms(int64(cfg.OffsetsCommitTimeoutMs)),
		ConsumerSessionTimeout:    ms(int64(cfg.ConsumerGroupSessionTimeoutMs)),
		ConsumerHeartbeatInterval: ms(int64(cfg.ConsumerGroupHeartbeatMs)),
		ConsumerMaxGroupSize:      int(cfg.ConsumerGroupMaxSize),
		ShareSessionTimeout:       ms(int64(cfg.Share.SessionTimeoutMs)),
		ShareHeartbeatInterval:    ms(int64(cfg.Share.HeartbeatMs)),
		ShareMaxGroupSize:         int(cfg.Share.MaxSize),
	}
	gc := &groupCoordinator{b: b, lg: b.log.Named("groups"), loaded: make(map[int32]int32)}
	gc.coord = coordinator.New(ccfg, coordinator.Options{Logger: gc.lg, Topics: snapshotTopics{b}, GroupConfigs: snapshotGroupConfigs{b}})
	gc.unsubscribe = b.ctrl.Subscribe(gc.apply)
	gc.start848() // KIP-848: consumer groups follow topic changes (groups_848.go)
	return gc
}

// close stops following leadership and unloads every partition.
func (gc *groupCoordinator) close() {
	if gc == nil {
		return
	}
	gc.unsubscribe()
	gc.mu.Lock()
	gc.closed = true
	gc.mu.Unlock()
	gc.coord.Close()
}

// apply loads the __consumer_offsets partitions this broker leads (again
// when the leader epoch changed) and unloads the others.
func (gc *groupCoordinator) apply(snap *controller.Snapshot) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.closed {
		return
	}
	gone, fresh := gc.b.replicas.LeadershipChanges(snap, offsetsTopicName, gc.loaded, gc.lg)
	for _, idx := range gone {
		gc.coord.Unload(idx)
		delete(gc.loaded, idx)
	}
	for _, p := range fresh {
		gc.loaded[p.Index] = p.Epoch
		if err := gc.coord.Load(gc.b.life, p.Index, &offsetsLog{b: gc.b, r: p.P, coord: gc.coord}); err != nil {
			gc.lg.Warn("loading group partition", zap.Int32("partition", p.Index), zap.Error(err))
			delete(gc.loaded, p.Index)
		}
	}
}

// ensureOffsetsTopic creates __consumer_offsets if it does not exist yet.
func (gc *groupCoordinator) ensureOffsetsTopic(ctx context.Context) error {
	return gc.b.ensureInternalTopic(ctx, &gc.createMu, offsetsTopicName, func(snap *controller.Snapshot) (controller.TopicSpec, error) {
		cfg := gc.b.cfg
		rf := internalTopicRF(cfg, "offsets.topic.replication.factor", cfg.OffsetsTopicReplicationFactor)
		if live := len(snap.Brokers); live < int(rf) {
			return controller.TopicSpec{}, fmt.Errorf("%w: %s needs %d brokers (offsets.topic.replication.factor) and %d are registered",
				kerr.CoordinatorNotAvailable, offsetsTopicName, rf, live)
		}
		return controller.TopicSpec{
			Name:              offsetsTopicName,
			NumPartitions:     cfg.OffsetsTopicNumPartitions,
			ReplicationFactor: rf,
			Internal:          true,
			Configs: map[string]string{
				"cleanup.policy": "compact",
				"segment.bytes":  strconv.Itoa(int(cfg.OffsetsTopicSegmentBytes)),
			},
		}, nil
	}, gc.apply, gc.lg)
}

// internalTopicRF is the replication factor of an internal topic whose
// broker key is key with value v: v, except 1 on a single-node (embedded
// etcd) broker where the key was not given.
func internalTopicRF(cfg *config.Broker, key string, v int16) int16 {
	if _, set := cfg.Raw[key]; !set && len(cfg.EtcdEndpoints) == 0 {
		return 1
	}
	return v
}

// coordinatorFor answers where the coordinator of a group is: the leader
// of the group's __consumer_offsets partition, on the listener the client
// used.
func (gc *groupCoordinator) coordinatorFor(ctx context.Context, group, listener string) (nodeID int32, host string, port int32, err error) {
	if err := gc.ensureOffsetsTopic(ctx); err != nil {
		if errors.Is(err, kerr.CoordinatorNotAvailable) {
			gc.lg.Info("not creating __consumer_offsets yet", zap.Error(err))
		} else {
			gc.lg.Warn("creating __consumer_offsets", zap.Error(err))
		}
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	snap := gc.b.ctrl.Snapshot()
	t := snap.Topics[offsetsTopicName]
	if t == nil {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	p := t.Partition(placement.Partition(group, int32(len(t.Partitions))))
	if p == nil || p.Leader < 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	bi, ok := snap.Brokers[p.Leader]
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	for _, ep := range bi.Endpoints {
		if ep.Listener == listener {
			return p.Leader, ep.Host, ep.Port, nil
		}
	}
	return -1, "", -1, kerr.CoordinatorNotAvailable
}

// snapshotTopics is the coordinator's view of the topics: the current
// metadata snapshot.
type snapshotTopics struct{ b *Broker }

func (s snapshotTopics) Topics() map[string]coordinator.TopicInfo {
	return topicInfos(s.b.ctrl.Snapshot()) // groups_848.go
}

// topicName and topicID translate for OffsetCommit/OffsetFetch v10.
func (b *Broker) groupTopicName(id [16]byte) string {
	if t := b.ctrl.Snapshot().TopicsByID[controller.TopicID(id)]; t != nil {
		return t.Name
	}
	return ""
}

func (b *Broker) groupTopicID(name string) [16]byte {
	if t := b.ctrl.Snapshot().Topics[name]; t != nil {
		return t.ID
	}
	return [16]byte{}
}

// offsetsLog is coordinator.Log over the local leader replica of one
// __consumer_offsets partition.
type offsetsLog struct {
	b *Broker
	r *replica.Partition
	// coord gets the transactional batches and markers met on replay
	// (28_txn_offset_commit.go).
	coord *coordinator.Coordinator
}

// Append writes records as one batch and waits for acks=all
// (internal_log.go), within offsets.commit.timeout.ms unless ctx says less.
func (l *offsetsLog) Append(ctx context.Context, recs []coordinator.Record) error {
	if !l.r.Leads() {
		return kerr.NotLeaderForPartition
	}
	keys, values := make([][]byte, len(recs)), make([][]byte, len(recs))
	for i, rec := range recs {
		keys[i], values[i] = rec.Key, rec.Value
	}
	return appendKeyValues(ctx, l.r, keys, values, time.Duration(l.b.cfg.OffsetsCommitTimeoutMs)*time.Millisecond)
}

// Replay decodes every record from the log start to the log end
// (replayBatches says why not only to the HW). Transactional batches and
// markers go to the coordinator's pending transactional offsets instead
// (28_txn_offset_commit.go).
func (l *offsetsLog) Replay(ctx context.Context, fn func(key, value []byte) error) error {
	l.r.AdvanceHW()
	dec := kgo.DefaultDecompressor()
	const chunk = 5 << 20 // offsets.load.buffer.size's default
	return replayBatches(ctx, l.r, chunk, func(raw []byte, h *storage.BatchHeader) error {
		if h.IsControl() || h.IsTransactional() {
			return replayTxnOffsets(l.coord, l.r.Index(), raw, h, dec)
		}
		return eachBatchRecord(raw, dec, func(rec *kmsg.Record) error { return fn(rec.Key, rec.Value) })
	})
}

// groupClient is the coordinator's view of who sent a request.
func groupClient(cc *network.ConnContext, clientID *string) coordinator.Client {
	c := coordinator.Client{Host: "/"}
	if clientID != nil {
		c.ID = *clientID
	}
	if ta, ok := cc.RemoteAddr.(*net.TCPAddr); ok {
		c.Host = "/" + ta.IP.String()
	}
	return c
}
