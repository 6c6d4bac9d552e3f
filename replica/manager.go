package replica

import (
	"context"
	"crypto/tls"
	"maps"
	"reflect"
	"strconv"
	"sync"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
	"go.uber.org/zap"
)

// Metadata is what replication needs of the cluster metadata (etcd, through
// *controller.Controller): the current snapshot, a wait until the local
// snapshot shows a revision, the compare-and-swap of one partition's state
// (controller.ErrStalePartition on conflict), a subscription to new
// snapshots, and this broker's own epoch as a snapshot shows it.
type Metadata interface {
	Snapshot() *controller.Snapshot
	WaitRevision(ctx context.Context, rev int64) error
	UpdatePartition(ctx context.Context, topic string, p controller.Partition) (int64, error)
	// UpdatePartitions writes many states, each under its own
	// compare-and-swap, batched into few transactions.
	UpdatePartitions(ctx context.Context, updates []controller.PartitionUpdate) (written []controller.PartitionUpdate, failed int, rev int64)
	Subscribe(fn func(*controller.Snapshot)) (cancel func())
	// OwnEpoch is this broker's epoch in s: it leads only partitions whose
	// state records it as the leader's broker epoch (0: not registered;
	// -1: no such check).
	OwnEpoch(s *controller.Snapshot) int64
}

// Options are what a Manager is built from.
type Options struct {
	ID       int32
	Config   *config.Broker
	Logs     *storage.Manager
	Metadata Metadata
	Logger   *zap.Logger
	// TLS dials other brokers' inter-broker listener when it is SSL or
	// SASL_SSL; nil for plaintext.
	TLS *tls.Config
	// SASL, when the inter-broker listener uses SASL, authenticates the
	// follower fetchers' connections as SASLUser.
	SASL     fsasl.Mechanism
	SASLUser string
}

// Manager owns this broker's partitions (Kafka's ReplicaManager): it keeps
// them in step with the metadata snapshots — it creates the logs of
// partitions assigned here, applies topic configs, records roles and
// leader epochs, and deletes the logs of deleted topics — and runs the
// follower fetchers (fetcher.go) and the ISR checks (isr.go).
type Manager struct {
	brokerID int32
	cfg      *config.Broker
	logs     *storage.Manager
	md       Metadata
	log      *zap.Logger // "replicas"
	base     *zap.Logger // the broker's, for the fetchers and ISR lines
	durable  bool
	tls      *tls.Config
	sasl     fsasl.Mechanism
	saslUser string

	// life is canceled by Close: the fetchers and the ISR checks run
	// under it.
	life     context.Context
	stopLife context.CancelFunc
	fetchers *fetchers
	isr      *isrManager
	unsub    func()
	started  bool

	stats Stats // metrics.go

	mu      sync.RWMutex
	applied int64 // snapshot revision last applied
	byTopic map[string]map[int32]*Partition
	// appliedTopics is the *controller.Topic each topic was last applied
	// from, with the broker epoch and dynamic broker configs it was
	// applied under. A snapshot shares the Topic of every topic that did
	// not change (controller/state.go), so Apply skips those: a restart
	// whose elections arrive in hundreds of snapshots costs each only its
	// changed topics, not every partition of the broker.
	appliedTopics map[string]*controller.Topic
	appliedOwn    int64
	appliedDyn    config.Dynamic
	// roleChanges are the replicas added, removed or given another
	// leader or leader epoch since the fetchers last took them
	// (takeRoleChanges): the fetchers' reconcile looks at these only.
	roleChanges map[*Partition]struct{}
}

// NewManager builds a Manager; it holds no partition until Apply or Start.
func NewManager(o Options) *Manager {
	lg := o.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	m := &Manager{
		brokerID: o.ID,
		cfg:      o.Config,
		logs:     o.Logs,
		md:       o.Metadata,
		log:      lg.Named("replicas"),
		base:     lg,
		durable:  o.Config.LogDurable,
		tls:      o.TLS,
		sasl:     o.SASL,
		saslUser: o.SASLUser,
		byTopic:  make(map[string]map[int32]*Partition),

		appliedTopics: make(map[string]*controller.Topic),
		roleChanges:   make(map[*Partition]struct{}),
	}
	m.life, m.stopLife = context.WithCancel(context.Background())
	m.isr = newISRManager(m)
	m.fetchers = newFetchers(m)
	return m
}

// Start applies the current snapshot, follows every new one (roles, then
// fetchers) and starts the ISR checks. Close undoes it.
func (m *Manager) Start() {
	m.started = true
	m.Apply(m.md.Snapshot())
	m.unsub = m.md.Subscribe(func(s *controller.Snapshot) {
		if supersededFor(s, m.md.Snapshot()) {
			return
		}
		m.Apply(s)
		m.fetchers.reconcile()
	})
	go m.isr.run(m.life)
}

// supersededFor reports whether snapshot s can be skipped because latest,
// the newest one published, changes what Apply reads (topics, broker
// registrations, broker configs) and so is on its way to the subscriber
// behind s. Apply derives every role from the state it is given, so a
// burst of snapshots (a failover or a controlled shutdown writes thousands
// of partition states, a hundred to a transaction) costs one pass over
// this broker's partitions, not one per transaction. A latest that only
// moved the revision on (a progress notification, not delivered to
// subscribers) shares s's maps and never supersedes it.
func supersededFor(s, latest *controller.Snapshot) bool {
	if latest == nil || latest.Revision <= s.Revision {
		return false
	}
	return !sameMap(latest.Topics, s.Topics) || !sameMap(latest.Brokers, s.Brokers) || !sameMap(latest.BrokerConfigs, s.BrokerConfigs)
}

// sameMap reports whether a and b are the same map (not equal contents).
func sameMap[K comparable, V any](a, b map[K]V) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// Close stops following the metadata, stops the fetchers and the ISR
// checks and waits for them. The logs stay open (the storage.Manager's).
func (m *Manager) Close() {
	m.stopLife()
	if m.unsub != nil {
		m.unsub()
	}
	m.fetchers.close()
	if m.started {
		<-m.isr.done
	}
}

// PauseFetchers stops replicating (true) or resumes (false); tests use it
// to make a follower fall behind.
func (m *Manager) PauseFetchers(p bool) { m.fetchers.setPaused(p) }

// Get returns the local replica of topic/partition, applying snap first if
// it is newer than what has been applied (a request can race the watch that
// would otherwise apply it). The error is UNKNOWN_TOPIC_OR_PARTITION when
// the snapshot has no such partition, NOT_LEADER_OR_FOLLOWER when this
// broker holds no replica of it.
func (m *Manager) Get(snap *controller.Snapshot, topic string, partition int32) (*Partition, error) {
	m.mu.RLock()
	stale := snap.Revision > m.applied
	r := m.byTopic[topic][partition]
	m.mu.RUnlock()
	if stale {
		m.Apply(snap)
		m.mu.RLock()
		r = m.byTopic[topic][partition]
		m.mu.RUnlock()
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

// LeaderFor is Get plus the check that this broker leads the partition.
func (m *Manager) LeaderFor(snap *controller.Snapshot, topic string, partition int32) (*Partition, error) {
	r, err := m.Get(snap, topic, partition)
	if err != nil {
		return nil, err
	}
	if !r.Leads() {
		return nil, kerr.NotLeaderForPartition
	}
	return r, nil
}

// Apply reconciles the local replicas with a snapshot. It is idempotent and
// ignores snapshots older than the last one applied.
func (m *Manager) Apply(snap *controller.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if snap.Revision <= m.applied {
		return
	}
	first := m.applied == 0
	m.applied = snap.Revision
	dyn := dynamicConfigs(snap, m.brokerID)
	own := m.md.OwnEpoch(snap)
	if own != m.appliedOwn || !maps.Equal(dyn.ClusterDefault, m.appliedDyn.ClusterDefault) || !maps.Equal(dyn.PerBroker, m.appliedDyn.PerBroker) {
		clear(m.appliedTopics) // every topic's roles or configs may change
	}
	m.appliedOwn, m.appliedDyn = own, dyn
	for name := range m.appliedTopics {
		if snap.Topics[name] == nil {
			delete(m.appliedTopics, name)
		}
	}

	// Deleted topics (or topics re-created under a new id): drop the logs.
	for name, parts := range m.byTopic {
		t := snap.Topics[name]
		if t != nil && m.appliedTopics[name] == t {
			continue
		}
		for idx, r := range parts {
			if t != nil && t.ID == r.topicID && int(idx) < len(t.Partitions) && hosts(t.Partitions[idx].Replicas, m.brokerID) {
				continue
			}
			delete(parts, idx)
			m.roleChanges[r] = struct{}{}
			if err := m.logs.Delete(name, idx); err != nil {
				m.log.Warn("deleting partition log", zap.String("topic", name), zap.Int32("partition", idx), zap.Error(err))
			}
			r.wake()
		}
		if len(parts) == 0 {
			delete(m.byTopic, name)
		}
	}

	// New partitions placed here: their logs are created in one batch
	// (one syncfs for all), then they take their roles below.
	type newReplica struct {
		t     *controller.Topic
		p     controller.Partition
		minIR int32
	}
	var adds []newReplica
	var specs []storage.NewLog
	fenced := 0
	takeRole := func(r *Partition, p controller.Partition) {
		newlyFenced, changed := r.setRole(p, own)
		if newlyFenced {
			fenced++
		}
		if changed {
			m.roleChanges[r] = struct{}{}
		}
	}
	for name, t := range snap.Topics {
		if m.appliedTopics[name] == t {
			continue
		}
		eff, err := config.EffectiveTopic(m.cfg, dyn, t.Configs)
		if err != nil {
			m.log.Warn("topic has an invalid stored config; using defaults", zap.String("topic", name), zap.Error(err))
			eff, _ = config.EffectiveTopic(m.cfg, dyn, nil)
		}
		scfg := storageConfig(eff, m.durable)
		for _, p := range t.Partitions {
			if !hosts(p.Replicas, m.brokerID) {
				continue
			}
			r := m.byTopic[name][p.Index]
			if r == nil {
				adds = append(adds, newReplica{t: t, p: p, minIR: eff.MinInsyncReplicas})
				specs = append(specs, storage.NewLog{Topic: name, Partition: p.Index, Config: scfg})
				continue
			}
			if r.log.Config() != scfg {
				r.log.SetConfig(scfg)
			}
			r.setMinInsync(eff.MinInsyncReplicas)
			takeRole(r, p)
		}
		// Applied, unless one of its new logs fails below.
		m.appliedTopics[name] = t
	}
	if len(specs) > 0 {
		logs, errs := m.logs.GetOrCreateLogs(specs)
		for i, a := range adds {
			name, p := a.t.Name, a.p
			if errs[i] != nil {
				m.log.Error("opening partition log", zap.String("topic", name), zap.Int32("partition", p.Index), zap.Error(errs[i]))
				delete(m.appliedTopics, name) // tried again with the next snapshot
				continue
			}
			parts := m.byTopic[name]
			if parts == nil {
				parts = make(map[int32]*Partition)
				m.byTopic[name] = parts
			}
			r := &Partition{self: m.brokerID, topic: name, index: p.Index, topicID: a.t.ID, log: logs[i], lg: m.log, leader: -1, leaderEpoch: -1, visible: make(chan struct{}), kick: m.isr.poke}
			parts[p.Index] = r
			r.setMinInsync(a.minIR)
			takeRole(r, p)
		}
	}
	if fenced > 0 {
		// One line for all: a restarted broker has thousands (each is
		// logged at Debug); the controller elects again at once.
		m.log.Info("partition state names this broker leader for another broker epoch; not leading until the controller elects a leader again",
			zap.Int("partitions", fenced), zap.Int64("broker_epoch", own))
	}
	if first {
		m.setAsideStrays()
	}
}

// setAsideStrays renames logs found on disk that the metadata does not
// place on this broker — partitions of topics deleted, or moved away,
// while the broker was down (Kafka's stray partitions) — to
// <topic>-<partition>.<id>-stray and keeps them: data is never deleted
// because metadata does not mention it (the broker's start also sets
// aside what it finds before the logs open; this catches the rest).
func (m *Manager) setAsideStrays() {
	for _, l := range m.logs.All() {
		if m.byTopic[l.Topic()][l.Partition()] != nil {
			continue
		}
		path, err := m.logs.RenameStray(l.Topic(), l.Partition())
		if err != nil {
			m.log.Warn("setting aside a stray partition log", zap.String("topic", l.Topic()), zap.Int32("partition", l.Partition()), zap.Error(err))
			continue
		}
		if path == "" {
			continue // a log never written to: nothing on disk to keep
		}
		m.log.Warn("stray partition log set aside, not deleted: the metadata does not place it on this broker", zap.String("topic", l.Topic()), zap.Int32("partition", l.Partition()), zap.String("kept_as", path))
	}
}

// takeRoleChanges returns the replicas whose role changed since the last
// call (added, removed, another leader or leader epoch) and forgets them.
func (m *Manager) takeRoleChanges() map[*Partition]struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.roleChanges
	m.roleChanges = make(map[*Partition]struct{})
	return out
}

// All returns every local replica.
func (m *Manager) All() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Partition
	for _, parts := range m.byTopic {
		for _, r := range parts {
			out = append(out, r)
		}
	}
	return out
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
		PerBroker:      snap.BrokerConfigs[strconv.Itoa(int(brokerID))],
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

// Local is the local replica of topic/partition as last applied, or nil;
// unlike Get it applies no snapshot.
func (m *Manager) Local(topic string, partition int32) *Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.byTopic[topic][partition]
}
