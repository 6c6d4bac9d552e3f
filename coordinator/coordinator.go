package coordinator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/runnel/runnel/coordinator/placement"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Config is the coordinator's share of the broker configuration.
type Config struct {
	// NumPartitions is offsets.topic.num.partitions.
	NumPartitions int32
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound a classic member's
	// session timeout (group.min/max.session.timeout.ms).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxGroupSize is group.max.size.
	MaxGroupSize int
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int
	// OffsetsRetention is offsets.retention.minutes; OffsetsRetentionCheck
	// is offsets.retention.check.interval.ms.
	OffsetsRetention, OffsetsRetentionCheck time.Duration
	// CommitTimeout bounds a Log append (offsets.commit.timeout.ms).
	CommitTimeout time.Duration

	// KIP-848 groups: group.consumer.session.timeout.ms,
	// group.consumer.heartbeat.interval.ms, group.consumer.max.size.
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
	ConsumerMaxGroupSize      int

	// Share groups (KIP-932): group.share.session.timeout.ms,
	// group.share.heartbeat.interval.ms, group.share.max.size.
	ShareSessionTimeout    time.Duration
	ShareHeartbeatInterval time.Duration
	ShareMaxGroupSize      int
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:             50,
		InitialRebalanceDelay:     3 * time.Second,
		MinSessionTimeout:         6 * time.Second,
		MaxSessionTimeout:         30 * time.Minute,
		MaxGroupSize:              1<<31 - 1,
		OffsetMetadataMaxBytes:    4096,
		OffsetsRetention:          7 * 24 * time.Hour,
		OffsetsRetentionCheck:     10 * time.Minute,
		CommitTimeout:             5 * time.Second,
		ConsumerSessionTimeout:    45 * time.Second,
		ConsumerHeartbeatInterval: 5 * time.Second,
		ConsumerMaxGroupSize:      1<<31 - 1,
		ShareSessionTimeout:       45 * time.Second,
		ShareHeartbeatInterval:    5 * time.Second,
		ShareMaxGroupSize:         200,
	}
}

// Options are what New takes besides the Config.
type Options struct {
	// Clock defaults to the wall clock.
	Clock Clock
	// Logger defaults to a no-op logger.
	Logger *zap.Logger
	// Topics tells KIP-848 groups which topics exist; nil means none.
	Topics TopicSource
	// GroupConfigs gives a consumer group's own session timeout and
	// heartbeat interval (config resource GROUP); nil means no group sets
	// them and Config's apply.
	GroupConfigs GroupConfigSource
}

// GroupConfigSource is the coordinator's view of the groups' dynamic
// configs. It is asked on every heartbeat, so a change applies from the
// next one without a restart, as in Kafka.
type GroupConfigSource interface {
	// ConsumerGroupTimeouts returns the group's consumer.session.timeout.ms
	// and consumer.heartbeat.interval.ms, zero for one it does not set.
	ConsumerGroupTimeouts(group string) (session, heartbeat time.Duration)
}

// TopicSource is the coordinator's view of the cluster's topics, for
// server-side assignment (KIP-848) and regex subscriptions.
type TopicSource interface {
	// Topics returns every topic's partition count and id.
	Topics() map[string]TopicInfo
}

// TopicInfo is what an assignor needs of a topic.
type TopicInfo struct {
	ID         [16]byte
	Partitions int32
}

// Coordinator runs the groups of the __consumer_offsets partitions this
// broker leads. It is safe for concurrent use.
type Coordinator struct {
	cfg          Config
	clock        Clock
	lg           *zap.Logger
	topics       TopicSource
	groupConfigs GroupConfigSource

	mu     sync.RWMutex
	parts  map[int32]*partition
	closed bool
	expiry Timer

	// txnOffsets are transactional offset commits awaiting their
	// transaction's marker (txn_offsets.go).
	txnOffsets txnOffsetState

	stats stats // metrics.go
	// shares are the share groups (share.go).
	shares shareGroups
}

// partition is one loaded (or loading) __consumer_offsets partition.
type partition struct {
	idx int32
	log Log

	mu       sync.Mutex
	loading  bool
	unloaded bool
	groups   map[string]*group
}

// New returns a coordinator that owns no partition yet.
func New(cfg Config, o Options) *Coordinator {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = 50
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 5 * time.Second
	}
	c := &Coordinator{cfg: cfg, clock: o.Clock, lg: o.Logger, topics: o.Topics, groupConfigs: o.GroupConfigs, parts: make(map[int32]*partition)}
	c.mu.Lock()
	c.armExpiry()
	c.mu.Unlock()
	return c
}

// Close unloads every partition and stops the coordinator's timers.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	if c.expiry != nil {
		c.expiry.Stop()
	}
	parts := c.parts
	c.parts = map[int32]*partition{}
	c.mu.Unlock()
	c.closeShareGroups()
	for _, p := range parts {
		p.unload()
	}
}

// PartitionFor is the group's __consumer_offsets partition (package placement)
// with the configured partition count.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	return placement.Partition(groupID, c.cfg.NumPartitions)
}

// Owns reports whether the coordinator has loaded (or is loading) the
// partition of groupID.
func (c *Coordinator) Owns(groupID string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.parts[c.PartitionFor(groupID)]
	return ok
}

// Load makes the coordinator the owner of partition idx: it replays log to
// rebuild the partition's groups and offsets, then serves them. Requests
// for those groups get COORDINATOR_LOAD_IN_PROGRESS meanwhile. Loading a
// partition already loaded replaces it.
func (c *Coordinator) Load(ctx context.Context, idx int32, log Log) error {
	p := &partition{idx: idx, log: log, loading: true, groups: make(map[string]*group)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("coordinator: closed")
	}
	old := c.parts[idx]
	c.parts[idx] = p
	c.mu.Unlock()
	if old != nil {
		old.unload()
	}
	start := c.clock.Now()
	if err := c.replay(ctx, p); err != nil {
		c.mu.Lock()
		if c.parts[idx] == p {
			delete(c.parts, idx)
		}
		c.mu.Unlock()
		p.unload()
		return err
	}
	p.mu.Lock()
	p.loading = false
	n := len(p.groups)
	p.mu.Unlock()
	c.lg.Info("loaded group partition", zap.Int32("partition", idx), zap.Int("groups", n),
		zap.Duration("took", c.clock.Now().Sub(start)))
	return nil
}

// Unload drops partition idx: its groups are no longer served here and
// their waiting requests are answered with NOT_COORDINATOR.
func (c *Coordinator) Unload(idx int32) {
	c.mu.Lock()
	p := c.parts[idx]
	delete(c.parts, idx)
	c.mu.Unlock()
	if p != nil {
		p.unload()
	}
}

// Loaded lists the partitions loaded or loading.
func (c *Coordinator) Loaded() []int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]int32, 0, len(c.parts))
	for idx := range c.parts {
		out = append(out, idx)
	}
	return out
}

func (p *partition) unload() {
	p.mu.Lock()
	p.unloaded = true
	groups := p.groups
	p.groups = nil
	p.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.shutdown(kerr.NotCoordinator)
		g.mu.Unlock()
	}
}

// replay rebuilds a partition's groups from its log.
func (c *Coordinator) replay(ctx context.Context, p *partition) error {
	consumer := cgReplay{}
	err := p.log.Replay(ctx, func(key, value []byte) error {
		if isConsumerGroupKey(key) {
			rec, err := decodeCGRecord(key, value)
			if err != nil {
				c.lg.Warn("skipping undecodable __consumer_offsets record", zap.Int32("partition", p.idx), zap.Error(err))
				return nil
			}
			consumer.apply(rec)
			return nil
		}
		rec, ok, err := decodeRecord(key, value)
		if err != nil {
			c.lg.Warn("skipping undecodable __consumer_offsets record", zap.Int32("partition", p.idx), zap.Error(err))
			return nil
		}
		if !ok {
			return nil
		}
		switch {
		case rec.offset != nil:
			k := rec.offset.key
			g := p.groups[k.Group]
			if rec.offset.value == nil {
				if g != nil {
					g.deleteOffset(k.Topic, k.Partition)
				}
				return nil
			}
			if g == nil {
				g = c.newGroup(p, k.Group)
				p.groups[k.Group] = g
			}
			v := rec.offset.value
			g.setOffset(k.Topic, k.Partition, offsetEntry{
				offset: v.Offset, leaderEpoch: v.LeaderEpoch, metadata: v.Metadata,
				commitMs: v.CommitTimestamp, expireMs: v.ExpireTimestamp,
			})
		case rec.group != nil:
			id := rec.group.key.Group
			g := p.groups[id]
			if rec.group.value == nil {
				if g != nil {
					g.stopTimers()
					if g.hasOffsets() {
						// An empty classic group that turned consumer
						// keeps its offsets (a deleted group's are
						// tombstoned before its metadata).
						g.resetClassic()
					} else {
						delete(p.groups, id)
					}
				}
				return nil
			}
			if g == nil {
				g = c.newGroup(p, id)
				p.groups[id] = g
			}
			g.loadMetadata(rec.group.value)
			// A classic group record after consumer-group records: the
			// group turned classic (the consumer records are deleted
			// first; this only guards against a log that says both).
			delete(consumer, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.installConsumerGroups(p, consumer)
	return nil
}

// lookup finds the group for a request. With create it makes an empty
// classic group if there is none. The group is returned locked; a nil
// group with a nil error means there is no such group.
func (c *Coordinator) lookup(groupID string, create bool) (*group, error) {
	if groupID == "" {
		return nil, kerr.InvalidGroupID
	}
	for {
		c.mu.RLock()
		p := c.parts[c.PartitionFor(groupID)]
		c.mu.RUnlock()
		if p == nil {
			return nil, kerr.NotCoordinator
		}
		p.mu.Lock()
		switch {
		case p.unloaded:
			p.mu.Unlock()
			return nil, kerr.NotCoordinator
		case p.loading:
			p.mu.Unlock()
			return nil, kerr.CoordinatorLoadInProgress
		}
		g := p.groups[groupID]
		if g == nil && create {
			g = c.newGroup(p, groupID)
			p.groups[groupID] = g
		}
		p.mu.Unlock()
		if g == nil {
			return nil, nil
		}
		g.mu.Lock()
		if g.state == Dead && create {
			// Deleted or expired between the lookup and the lock: look
			// again, to find or make its successor.
			g.mu.Unlock()
			continue
		}
		return g, nil
	}
}

// groups returns the groups of every loaded partition (unlocked).
func (c *Coordinator) allGroups() []*group {
	c.mu.RLock()
	parts := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		parts = append(parts, p)
	}
	c.mu.RUnlock()
	var out []*group
	for _, p := range parts {
		p.mu.Lock()
		if !p.loading && !p.unloaded {
			for _, g := range p.groups {
				out = append(out, g)
			}
		}
		p.mu.Unlock()
	}
	return out
}

// removeGroup forgets a group that turned Dead. Called with g.mu held.
func (p *partition) removeGroup(g *group) {
	p.mu.Lock()
	if p.groups[g.id] == g {
		delete(p.groups, g.id)
	}
	p.mu.Unlock()
}

// append writes records through the partition's log within the commit
// timeout.
func (p *partition) append(ctx context.Context, c *Coordinator, recs []Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CommitTimeout)
	defer cancel()
	return p.log.Append(ctx, recs)
}

// appendError maps a Log append failure to what the coordinator answers,
// as Kafka's GroupMetadataManager does.
func appendError(err error) *kerr.Error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
			return kerr.CoordinatorNotAvailable
		case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
			return kerr.NotCoordinator
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
			return kerr.InvalidCommitOffsetSize
		}
		return ke
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.CoordinatorNotAvailable
	}
	return kerr.UnknownServerError
}

// armExpiry schedules the next offset-expiry pass. Called with c.mu held.
func (c *Coordinator) armExpiry() {
	if c.closed || c.cfg.OffsetsRetentionCheck <= 0 || c.cfg.OffsetsRetention <= 0 {
		return
	}
	c.expiry = c.clock.AfterFunc(c.cfg.OffsetsRetentionCheck, func() {
		c.ExpireOffsets(context.Background())
		c.mu.Lock()
		c.armExpiry()
		c.mu.Unlock()
	})
}
