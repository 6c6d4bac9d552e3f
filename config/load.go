package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Broker is a broker's static configuration: built-in defaults overlaid by
// server.properties, then the environment, then --override flags. Dynamic
// configs (AlterConfigs, kept in etcd) are not in it; DescribeBroker,
// DescribeTopic and EffectiveTopic take them separately.
type Broker struct {
	// BrokerID is broker.id (or node.id); -1 when neither is set, in
	// which case the controller generates one if
	// BrokerIDGenerationEnable, above ReservedBrokerMaxID.
	BrokerID                 int32
	BrokerIDGenerationEnable bool
	ReservedBrokerMaxID      int32
	BrokerRack               string // "" = none
	// RackAwareReplicaSelection is replica.selector.class set to Kafka's
	// RackAwareReplicaSelector: leaders point consumers that give a rack
	// to an in-sync replica in that rack (KIP-392).
	RackAwareReplicaSelection bool

	// Listeners are the addresses to bind, without the KRaft controller
	// listeners named in controller.listener.names.
	Listeners []Listener
	// AdvertisedListeners are what clients are told, in the order given;
	// every host is non-empty.
	AdvertisedListeners         []Listener
	ListenerSecurityProtocolMap map[string]string
	InterBrokerListenerName     string

	LogDirs                     []string
	NumPartitions               int32
	BrokerSessionTimeoutMs      int32
	BrokerHeartbeatIntervalMs   int32
	DefaultReplicationFactor    int32
	AutoCreateTopicsEnable      bool
	DeleteTopicEnable           bool
	MaxBrokerPartitions         int32
	AutoLeaderRebalanceEnable   bool
	UncleanLeaderElectionEnable bool
	MinInsyncReplicas           int32
	MessageMaxBytes             int32
	CompressionType             string
	NumRecoveryThreadsPerDir    int32

	// Log defaults for topics, resolved from their synonyms:
	// LogRetentionMs from log.retention.ms > .minutes > .hours (negative
	// means forever and is reported as -1); LogRollMs from log.roll.ms >
	// log.roll.hours; LogRollJitterMs likewise; LogFlushIntervalMs from
	// log.flush.interval.ms > log.flush.scheduler.interval.ms.
	LogRetentionMs               int64
	LogRetentionBytes            int64
	LogRetentionCheckIntervalMs  int64
	LogSegmentBytes              int32
	LogRollMs                    int64
	LogRollJitterMs              int64
	LogFlushIntervalMessages     int64
	LogFlushIntervalMs           int64
	LogFlushSchedulerIntervalMs  int64
	LogFlushOffsetCheckpointMs   int32
	LogCleanupPolicy             []string
	LogIndexSizeMaxBytes         int32
	LogIndexIntervalBytes        int32
	LogSegmentDeleteDelayMs      int64
	LogPreallocate               bool
	LogMessageTimestampType      string
	LogMessageTimestampBeforeMax int64
	LogMessageTimestampAfterMax  int64

	LogCleanerEnable              bool
	LogCleanerThreads             int32
	LogCleanerDedupeBufferSize    int64
	LogCleanerIOBufferSize        int32
	LogCleanerIOBufferLoadFactor  float64
	LogCleanerIOMaxBytesPerSecond float64
	LogCleanerBackoffMs           int64
	LogCleanerMinCleanableRatio   float64
	LogCleanerDeleteRetentionMs   int64
	LogCleanerMinCompactionLagMs  int64
	LogCleanerMaxCompactionLagMs  int64

	SocketRequestMaxBytes     int32
	SocketSendBufferBytes     int32
	SocketReceiveBufferBytes  int32
	ConnectionsMaxIdleMs      int64
	MaxConnections            int32
	MaxConnectionsPerIP       int32
	QueuedMaxRequests         int32
	FetchMaxBytes             int32
	FetchSessionCacheSlots    int32
	NumNetworkThreads         int32 // informational
	NumIOThreads              int32 // informational
	ReplicaLagTimeMaxMs       int64
	ReplicaFetchMaxBytes      int32
	ReplicaFetchWaitMaxMs     int32
	ReplicaFetchMinBytes      int32
	ReplicaFetchBackoffMs     int32
	ReplicaFetchResponseMax   int32
	ReplicaSocketTimeoutMs    int32
	NumReplicaFetchers        int32
	ReplicaHWCheckpointMs     int64
	LeaderImbalanceCheckIntvS int64
	LeaderImbalancePercentage int32

	GroupInitialRebalanceDelayMs  int32
	GroupMinSessionTimeoutMs      int32
	GroupMaxSessionTimeoutMs      int32
	GroupMaxSize                  int32
	GroupRebalanceProtocols       []string
	Share                         ShareConfig // share.go
	ConsumerGroupSessionTimeoutMs int32
	ConsumerGroupMinSessionMs     int32
	ConsumerGroupMaxSessionMs     int32
	ConsumerGroupHeartbeatMs      int32
	ConsumerGroupMinHeartbeatMs   int32
	ConsumerGroupMaxHeartbeatMs   int32
	ConsumerGroupMaxSize          int32
	OffsetsTopicReplicationFactor int16
	OffsetsTopicNumPartitions     int32
	OffsetsTopicSegmentBytes      int32
	OffsetsRetentionMinutes       int32
	OffsetsRetentionCheckMs       int64
	OffsetsCommitTimeoutMs        int32
	OffsetMetadataMaxBytes        int32
	TransactionStateLogRF         int16
	TransactionStateLogMinISR     int32
	TransactionStateLogPartitions int32
	TransactionStateLogSegmentB   int32
	TransactionMaxTimeoutMs       int32
	TransactionalIDExpirationMs   int32
	TransactionAbortCheckMs       int32
	TransactionRemoveExpiredMs    int32
	TransactionPartitionVerify    bool
	AddPartitionsMaxTimeoutMs     int32 // add.partitions.to.txn.max.timeout.ms
	AddPartitionsRetryBackoffMs   int32 // add.partitions.to.txn.retry.backoff.ms
	ProducerIDExpirationMs        int32
	ProducerIDExpirationCheckMs   int32

	// EtcdEndpoints from etcd.endpoints; empty runs an embedded etcd.
	EtcdEndpoints []string
	// AdminListener from runnel.admin.listener; "" disables the admin
	// HTTP server.
	AdminListener string
	// AdminPprofEnable from runnel.admin.pprof.enable: serve
	// /debug/pprof on the admin listener.
	AdminPprofEnable bool
	// MetricsPartition from runnel.metrics.partition.enable: export
	// per-partition series.
	MetricsPartition bool
	// LogDurable from runnel.log.durable: fsync before acknowledging.
	LogDurable bool

	// AuthorizerEnabled: authorizer.class.name names Kafka's ACL
	// authorizer (knownAuthorizer); SuperUsers and AllowEveryoneIfNoACL are
	// super.users and allow.everyone.if.no.acl.found.
	AuthorizerEnabled    bool
	SuperUsers           string
	AllowEveryoneIfNoACL bool
	// ClusterIDRecover from runnel.cluster.id.recover: "" (refuse a
	// metadata store of another or no cluster), "adopt" or "restore".
	ClusterIDRecover string
	// LogFormat, LogLevel and LogLevels (logger name → level) from
	// runnel.log.format, runnel.log.level and runnel.log.levels.
	LogFormat string
	LogLevel  string
	LogLevels map[string]string
	// ClusterIDHint is the cluster id given by CLUSTER_ID,
	// KAFKA_CLUSTER_ID, KAFKA_KRAFT_CLUSTER_ID or cluster.id; the
	// controller uses it only when it creates a new cluster.
	ClusterIDHint string

	// Raw holds every key given (file, environment, overrides), known or
	// not, with its value as given; later layers win.
	Raw map[string]string
	// Origin says where each key of Raw came from, for messages:
	// "server.properties:12", "env KAFKA_NUM_PARTITIONS", "--override".
	Origin map[string]string
	// Notes are info-level remarks: keys that Runnel accepts but does
	// not need, and choices Load made (a derived advertised host).
	Notes []string

	// Connection and request-memory limits (network/quotas.go).
	QueuedMaxRequestBytes        int64
	MaxConnectionCreationRate    int32
	MaxConnectionsPerIPOverrides string
	FailedAuthenticationDelayMs  int32
	// QuotaWindowNum and QuotaWindowSizeSeconds are how client quota
	// rates are measured (quota.window.num, quota.window.size.seconds).
	QuotaWindowNum         int32
	QuotaWindowSizeSeconds int32
	// ControllerQuotaWindowNum and ControllerQuotaWindowSizeSeconds size
	// the controller_mutation_rate token bucket
	// (controller.quota.window.*).
	ControllerQuotaWindowNum         int32
	ControllerQuotaWindowSizeSeconds int32
}

// Load builds a Broker's configuration: Kafka's defaults, then the
// properties file (if propertiesFile is not ""), then KAFKA_* and
// KAFKA_CFG_* variables of environ, then overrides ("key=value", as given
// to --override). It returns warnings for keys it does not know and for
// topic or removed keys set at broker level; such keys are kept in Raw,
// never dropped silently. Values that do not parse or are out of range are
// an error naming the key and where it came from; all such errors are
// returned together.
func Load(propertiesFile string, environ []string, overrides []string) (*Broker, []string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return load(propertiesFile, environ, overrides, host)
}

func load(propertiesFile string, environ, overrides []string, hostname string) (*Broker, []string, error) {
	b := &Broker{Raw: map[string]string{}, Origin: map[string]string{}}
	if propertiesFile != "" {
		data, err := os.ReadFile(propertiesFile)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		props, err := ParseProperties(string(data))
		if err != nil {
			return nil, nil, fmt.Errorf("config: %s: %w", propertiesFile, err)
		}
		for _, p := range props {
			b.Raw[p.Key] = p.Value
			b.Origin[p.Key] = fmt.Sprintf("%s:%d", propertiesFile, p.Line)
		}
	}
	vars, hint := EnvConfig(environ)
	for _, v := range vars {
		b.Raw[v.Key] = v.Value
		b.Origin[v.Key] = "env " + v.Name
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, nil, fmt.Errorf("config: --override %q is not key=value", o)
		}
		b.Raw[k] = v
		b.Origin[k] = "--override"
	}
	if c, ok := b.Raw["cluster.id"]; ok && c != "" {
		b.ClusterIDHint = c
	}
	if hint != "" {
		b.ClusterIDHint = hint
	}

	warnings, errs := b.classify()
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	if err := b.resolve(hostname); err != nil {
		return nil, warnings, err
	}
	return b, warnings, nil
}

// removedBrokerKeys are broker keys of older Kafka versions that Kafka 4
// no longer has; setting one is a warning with this advice.
var removedBrokerKeys = map[string]string{
	"port":                                    "use listeners",
	"host.name":                               "use listeners",
	"advertised.port":                         "use advertised.listeners",
	"advertised.host.name":                    "use advertised.listeners",
	"log.message.format.version":              "Kafka 4 writes only message format v2",
	"message.format.version":                  "Kafka 4 writes only message format v2",
	"log.message.downconversion.enable":       "Kafka 4 never down-converts",
	"log.message.timestamp.difference.max.ms": "use log.message.timestamp.before.max.ms and log.message.timestamp.after.max.ms",
	"control.plane.listener.name":             "removed with ZooKeeper mode",
}

// classify sorts the given keys into known (validated), accepted (a note)
// and unknown (a warning).
func (b *Broker) classify() (warnings []string, errs []error) {
	keys := make([]string, 0, len(b.Raw))
	for k := range b.Raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, origin := b.Raw[k], b.Origin[k]
		if d, ok := brokerIndex[k]; ok {
			if err := d.Check(v); err != nil {
				errs = append(errs, fmt.Errorf("config (%s): %w", origin, err))
			}
			continue
		}
		if _, d, ok := listenerSSLKey(k); ok { // listener.name.<l>.ssl.* (ssl.go)
			if err := d.Check(v); err != nil {
				errs = append(errs, fmt.Errorf("config (%s): %s: %w", origin, k, err))
			}
			continue
		}
		if listenerLimitDef(k) != nil { // connlimits.go
			if err := checkListenerLimitKey(k, v); err != nil {
				errs = append(errs, fmt.Errorf("config (%s): %w", origin, err))
			}
			continue
		}
		if d := listenerSASLDef(k); d != nil { // sasl.go
			if err := d.Check(v); err != nil {
				errs = append(errs, fmt.Errorf("config (%s): %w", origin, err))
			}
			continue
		}
		if why := acceptedNote(k); why != "" {
			b.Notes = append(b.Notes, fmt.Sprintf("%s (%s) accepted and not used: %s", k, origin, why))
			continue
		}
		if advice, ok := removedBrokerKeys[k]; ok {
			warnings = append(warnings, fmt.Sprintf("%s (%s) was removed from Kafka and is ignored: %s", k, origin, advice))
			continue
		}
		if td, ok := topicIndex[k]; ok {
			hint := "it has no broker-level default"
			if len(td.Synonyms) > 0 {
				hint = "the broker-level default is " + td.Synonyms[0].Name
			}
			warnings = append(warnings, fmt.Sprintf("%s (%s) is a topic config and is ignored at broker level; %s", k, origin, hint))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("unknown config %s (%s) is ignored", k, origin))
	}
	return warnings, errs
}

// Get returns a broker key's static value: as given (normalised for its
// type) or else its default. ok is false for a null default or a key that
// is not a broker key.
func (b *Broker) Get(key string) (string, bool) {
	d, known := brokerIndex[key]
	if !known {
		return "", false
	}
	if v, ok := b.Raw[key]; ok {
		c, err := Canonical(d.Type, v)
		if err != nil {
			return v, true
		}
		return c, true
	}
	if d.Null {
		return "", false
	}
	return d.Default, true
}

// staticValues returns the known broker keys that were given, normalised.
func (b *Broker) staticValues() map[string]string {
	m := map[string]string{}
	for k := range b.Raw {
		if _, ok := brokerIndex[k]; ok {
			m[k], _ = b.Get(k)
		}
	}
	return m
}

// getter reads typed values; values were validated by classify, so parse
// errors cannot happen here.
type getter struct{ b *Broker }

func (g getter) str(k string) string { v, _ := g.b.Get(k); return v }
func (g getter) has(k string) bool   { _, ok := g.b.Get(k); return ok }
func (g getter) i64(k string) int64 {
	n, _ := strconv.ParseInt(g.str(k), 10, 64)
	return n
}
func (g getter) i32(k string) int32     { return int32(g.i64(k)) }
func (g getter) i16(k string) int16     { return int16(g.i64(k)) }
func (g getter) bool(k string) bool     { return g.str(k) == "true" }
func (g getter) list(k string) []string { return SplitList(g.str(k)) }
func (g getter) f64(k string) float64 {
	f, _ := strconv.ParseFloat(g.str(k), 64)
	return f
}

// scaled multiplies without overflowing: Kafka computes hours × 3 600 000
// in a long, which a 32-bit hour count cannot overflow.
func scaled(n, by int64) int64 {
	if n > 0 && n > math.MaxInt64/by {
		return math.MaxInt64
	}
	if n < 0 && n < math.MinInt64/by {
		return math.MinInt64
	}
	return n * by
}

func (b *Broker) resolve(hostname string) error {
	g := getter{b}

	// Identity: node.id is KRaft's name for broker.id.
	b.BrokerID = g.i32("broker.id")
	_, hasBroker := b.Raw["broker.id"]
	if _, hasNode := b.Raw["node.id"]; hasNode {
		n := g.i32("node.id")
		if hasBroker && n != b.BrokerID {
			return fmt.Errorf("config: broker.id (%d) and node.id (%d) must be equal when both are set", b.BrokerID, n)
		}
		b.BrokerID = n
	}
	b.BrokerIDGenerationEnable = g.bool("broker.id.generation.enable")
	b.ReservedBrokerMaxID = g.i32("reserved.broker.max.id")
	// Kafka's ZooKeeper-era rule, which etcd mode inherits: with id
	// generation on, hand-picked ids stay at or below the reserved
	// maximum so they never collide with generated ones.
	switch {
	case b.BrokerIDGenerationEnable && (b.BrokerID < -1 || b.BrokerID > b.ReservedBrokerMaxID):
		return fmt.Errorf("config: broker.id %d must be between -1 and reserved.broker.max.id (%d) while broker.id.generation.enable is true", b.BrokerID, b.ReservedBrokerMaxID)
	case !b.BrokerIDGenerationEnable && b.BrokerID < 0:
		return fmt.Errorf("config: broker.id must be set (>= 0) when broker.id.generation.enable is false")
	}
	b.BrokerRack = g.str("broker.rack")
	b.RackAwareReplicaSelection = g.str("replica.selector.class") == RackAwareReplicaSelector

	if err := b.resolveListeners(hostname); err != nil {
		return err
	}

	if dirs, ok := b.Get("log.dirs"); ok {
		b.LogDirs = SplitList(dirs)
	} else {
		b.LogDirs = SplitList(g.str("log.dir"))
	}
	if len(b.LogDirs) == 0 {
		return fmt.Errorf("config: log.dirs (or log.dir) names no directory")
	}

	b.NumPartitions = g.i32("num.partitions")
	b.BrokerSessionTimeoutMs = g.i32("broker.session.timeout.ms")
	b.BrokerHeartbeatIntervalMs = g.i32("broker.heartbeat.interval.ms")
	if b.BrokerHeartbeatIntervalMs >= b.BrokerSessionTimeoutMs {
		return fmt.Errorf("config: broker.heartbeat.interval.ms (%d) must be less than broker.session.timeout.ms (%d)", b.BrokerHeartbeatIntervalMs, b.BrokerSessionTimeoutMs)
	}
	b.DefaultReplicationFactor = g.i32("default.replication.factor")
	b.AutoCreateTopicsEnable = g.bool("auto.create.topics.enable")
	b.DeleteTopicEnable = g.bool("delete.topic.enable")
	b.MaxBrokerPartitions = g.i32("max.broker.partitions")
	b.AutoLeaderRebalanceEnable = g.bool("auto.leader.rebalance.enable")
	b.UncleanLeaderElectionEnable = g.bool("unclean.leader.election.enable")
	b.MinInsyncReplicas = g.i32("min.insync.replicas")
	b.MessageMaxBytes = g.i32("message.max.bytes")
	b.CompressionType = g.str("compression.type")
	b.NumRecoveryThreadsPerDir = g.i32("num.recovery.threads.per.data.dir")

	b.LogRetentionMs = resolveSynonyms(topicIndex[RetentionMs].Synonyms, b.staticValues())
	if b.LogRetentionMs < 0 {
		b.LogRetentionMs = -1
	}
	b.LogRetentionBytes = g.i64("log.retention.bytes")
	b.LogRetentionCheckIntervalMs = g.i64("log.retention.check.interval.ms")
	b.LogSegmentBytes = g.i32("log.segment.bytes")
	b.LogRollMs = resolveSynonyms(topicIndex[SegmentMs].Synonyms, b.staticValues())
	b.LogRollJitterMs = resolveSynonyms(topicIndex[SegmentJitterMs].Synonyms, b.staticValues())
	b.LogFlushIntervalMessages = g.i64("log.flush.interval.messages")
	b.LogFlushIntervalMs = resolveSynonyms(topicIndex[FlushMs].Synonyms, b.staticValues())
	b.LogFlushSchedulerIntervalMs = g.i64("log.flush.scheduler.interval.ms")
	b.LogFlushOffsetCheckpointMs = g.i32("log.flush.offset.checkpoint.interval.ms")
	b.LogCleanupPolicy = g.list("log.cleanup.policy")
	b.LogIndexSizeMaxBytes = g.i32("log.index.size.max.bytes")
	b.LogIndexIntervalBytes = g.i32("log.index.interval.bytes")
	b.LogSegmentDeleteDelayMs = g.i64("log.segment.delete.delay.ms")
	b.LogPreallocate = g.bool("log.preallocate")
	b.LogMessageTimestampType = g.str("log.message.timestamp.type")
	b.LogMessageTimestampBeforeMax = g.i64("log.message.timestamp.before.max.ms")
	b.LogMessageTimestampAfterMax = g.i64("log.message.timestamp.after.max.ms")

	b.LogCleanerEnable = g.bool("log.cleaner.enable")
	b.LogCleanerThreads = g.i32("log.cleaner.threads")
	b.LogCleanerDedupeBufferSize = g.i64("log.cleaner.dedupe.buffer.size")
	b.LogCleanerIOBufferSize = g.i32("log.cleaner.io.buffer.size")
	b.LogCleanerIOBufferLoadFactor = g.f64("log.cleaner.io.buffer.load.factor")
	b.LogCleanerIOMaxBytesPerSecond = g.f64("log.cleaner.io.max.bytes.per.second")
	b.LogCleanerBackoffMs = g.i64("log.cleaner.backoff.ms")
	b.LogCleanerMinCleanableRatio = g.f64("log.cleaner.min.cleanable.ratio")
	b.LogCleanerDeleteRetentionMs = g.i64("log.cleaner.delete.retention.ms")
	b.LogCleanerMinCompactionLagMs = g.i64("log.cleaner.min.compaction.lag.ms")
	b.LogCleanerMaxCompactionLagMs = g.i64("log.cleaner.max.compaction.lag.ms")
	if b.LogCleanerMinCompactionLagMs > b.LogCleanerMaxCompactionLagMs {
		return fmt.Errorf("config: log.cleaner.min.compaction.lag.ms (%d) exceeds log.cleaner.max.compaction.lag.ms (%d)", b.LogCleanerMinCompactionLagMs, b.LogCleanerMaxCompactionLagMs)
	}

	b.SocketRequestMaxBytes = g.i32("socket.request.max.bytes")
	b.SocketSendBufferBytes = g.i32("socket.send.buffer.bytes")
	b.SocketReceiveBufferBytes = g.i32("socket.receive.buffer.bytes")
	b.ConnectionsMaxIdleMs = g.i64("connections.max.idle.ms")
	b.MaxConnections = g.i32("max.connections")
	b.MaxConnectionsPerIP = g.i32("max.connections.per.ip")
	b.QueuedMaxRequests = g.i32("queued.max.requests")
	b.QueuedMaxRequestBytes = g.i64("queued.max.request.bytes")
	b.MaxConnectionCreationRate = g.i32("max.connection.creation.rate")
	b.MaxConnectionsPerIPOverrides = g.str("max.connections.per.ip.overrides")
	b.FailedAuthenticationDelayMs = g.i32("connection.failed.authentication.delay.ms")
	b.QuotaWindowNum = g.i32("quota.window.num")
	b.QuotaWindowSizeSeconds = g.i32("quota.window.size.seconds")
	b.ControllerQuotaWindowNum = g.i32("controller.quota.window.num")
	b.ControllerQuotaWindowSizeSeconds = g.i32("controller.quota.window.size.seconds")
	b.FetchMaxBytes = g.i32("fetch.max.bytes")
	b.FetchSessionCacheSlots = g.i32("max.incremental.fetch.session.cache.slots")
	b.NumNetworkThreads = g.i32("num.network.threads")
	b.NumIOThreads = g.i32("num.io.threads")
	b.ReplicaLagTimeMaxMs = g.i64("replica.lag.time.max.ms")
	b.ReplicaFetchMaxBytes = g.i32("replica.fetch.max.bytes")
	b.ReplicaFetchWaitMaxMs = g.i32("replica.fetch.wait.max.ms")
	b.ReplicaFetchMinBytes = g.i32("replica.fetch.min.bytes")
	b.ReplicaFetchBackoffMs = g.i32("replica.fetch.backoff.ms")
	b.ReplicaFetchResponseMax = g.i32("replica.fetch.response.max.bytes")
	b.ReplicaSocketTimeoutMs = g.i32("replica.socket.timeout.ms")
	b.NumReplicaFetchers = g.i32("num.replica.fetchers")
	b.ReplicaHWCheckpointMs = g.i64("replica.high.watermark.checkpoint.interval.ms")
	b.LeaderImbalanceCheckIntvS = g.i64("leader.imbalance.check.interval.seconds")
	b.LeaderImbalancePercentage = g.i32("leader.imbalance.per.broker.percentage")
	if int64(b.ReplicaFetchWaitMaxMs) > b.ReplicaLagTimeMaxMs {
		return fmt.Errorf("config: replica.fetch.wait.max.ms (%d) must not exceed replica.lag.time.max.ms (%d), or followers would drop out of the ISR", b.ReplicaFetchWaitMaxMs, b.ReplicaLagTimeMaxMs)
	}

	b.GroupInitialRebalanceDelayMs = g.i32("group.initial.rebalance.delay.ms")
	b.GroupMinSessionTimeoutMs = g.i32("group.min.session.timeout.ms")
	b.GroupMaxSessionTimeoutMs = g.i32("group.max.session.timeout.ms")
	b.GroupMaxSize = g.i32("group.max.size")
	b.GroupRebalanceProtocols = g.list("group.coordinator.rebalance.protocols")
	b.ConsumerGroupSessionTimeoutMs = g.i32("group.consumer.session.timeout.ms")
	b.ConsumerGroupMinSessionMs = g.i32("group.consumer.min.session.timeout.ms")
	b.ConsumerGroupMaxSessionMs = g.i32("group.consumer.max.session.timeout.ms")
	b.ConsumerGroupHeartbeatMs = g.i32("group.consumer.heartbeat.interval.ms")
	b.ConsumerGroupMinHeartbeatMs = g.i32("group.consumer.min.heartbeat.interval.ms")
	b.ConsumerGroupMaxHeartbeatMs = g.i32("group.consumer.max.heartbeat.interval.ms")
	b.ConsumerGroupMaxSize = g.i32("group.consumer.max.size")
	b.OffsetsTopicReplicationFactor = g.i16("offsets.topic.replication.factor")
	b.OffsetsTopicNumPartitions = g.i32("offsets.topic.num.partitions")
	b.OffsetsTopicSegmentBytes = g.i32("offsets.topic.segment.bytes")
	b.OffsetsRetentionMinutes = g.i32("offsets.retention.minutes")
	b.OffsetsRetentionCheckMs = g.i64("offsets.retention.check.interval.ms")
	b.OffsetsCommitTimeoutMs = g.i32("offsets.commit.timeout.ms")
	b.OffsetMetadataMaxBytes = g.i32("offset.metadata.max.bytes")
	b.Share = loadShare(g)
	b.TransactionStateLogRF = g.i16("transaction.state.log.replication.factor")
	b.TransactionStateLogMinISR = g.i32("transaction.state.log.min.isr")
	b.TransactionStateLogPartitions = g.i32("transaction.state.log.num.partitions")
	b.TransactionStateLogSegmentB = g.i32("transaction.state.log.segment.bytes")
	b.TransactionMaxTimeoutMs = g.i32("transaction.max.timeout.ms")
	b.TransactionalIDExpirationMs = g.i32("transactional.id.expiration.ms")
	b.TransactionAbortCheckMs = g.i32("transaction.abort.timed.out.transaction.cleanup.interval.ms")
	b.TransactionRemoveExpiredMs = g.i32("transaction.remove.expired.transaction.cleanup.interval.ms")
	b.TransactionPartitionVerify = g.bool("transaction.partition.verification.enable")
	b.AddPartitionsMaxTimeoutMs = g.i32("add.partitions.to.txn.max.timeout.ms")
	b.AddPartitionsRetryBackoffMs = g.i32("add.partitions.to.txn.retry.backoff.ms")
	b.ProducerIDExpirationMs = g.i32("producer.id.expiration.ms")
	b.ProducerIDExpirationCheckMs = g.i32("producer.id.expiration.check.interval.ms")

	b.EtcdEndpoints = g.list(EtcdEndpoints)
	b.AdminListener = g.str(AdminListener)
	b.AdminPprofEnable = g.bool(AdminPprofEnable)
	b.MetricsPartition = g.bool(MetricsPartition)
	b.LogDurable = g.bool(LogDurable)
	b.AuthorizerEnabled = strings.TrimSpace(g.str("authorizer.class.name")) != ""
	b.SuperUsers = g.str("super.users")
	b.AllowEveryoneIfNoACL = g.bool("allow.everyone.if.no.acl.found")
	b.ClusterIDRecover = g.str(ClusterIDRecover)
	b.LogFormat = g.str(LogFormat)
	b.LogLevel = g.str(LogLevel)
	b.LogLevels, _ = ParseSubsystemLevels(strings.Join(g.list(LogLevels), ",")) // validated with the key
	return nil
}

// resolveSynonyms returns the value of the first synonym present in m,
// scaled to the topic key's unit, else the first synonym's non-null
// default, scaled. Synonyms with a null default and no value are skipped,
// which is how log.retention.ms falls back to .minutes then .hours.
func resolveSynonyms(syns []Synonym, m map[string]string) int64 {
	for _, s := range syns {
		if v, ok := m[s.Name]; ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return scaled(n, s.Scale)
		}
	}
	for _, s := range syns {
		if d := brokerIndex[s.Name]; d != nil && !d.Null {
			n, _ := strconv.ParseInt(d.Default, 10, 64)
			return scaled(n, s.Scale)
		}
	}
	return 0
}

func (b *Broker) resolveListeners(hostname string) error {
	g := getter{b}
	pm, err := ParseProtocolMap(g.str("listener.security.protocol.map"))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	b.ListenerSecurityProtocolMap = pm
	controller := map[string]bool{}
	if v, ok := b.Raw["controller.listener.names"]; ok {
		for _, n := range SplitList(v) {
			controller[strings.ToUpper(n)] = true
		}
	}
	all, err := ParseListeners("listeners", g.str("listeners"))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ports := map[string]string{}
	for _, l := range all {
		if controller[l.Name] {
			b.Notes = append(b.Notes, fmt.Sprintf("listener %s is a KRaft controller listener (controller.listener.names); Runnel does not open it", l))
			continue
		}
		proto, ok := pm[l.Name]
		if !ok {
			return fmt.Errorf("config: listener %s has no security protocol; add %s:<PROTOCOL> to listener.security.protocol.map", l.Name, l.Name)
		}
		l.SecurityProtocol = proto
		if l.Port != 0 {
			if other, dup := ports[l.Addr()]; dup {
				return fmt.Errorf("config: listeners %s and %s bind the same address %s; each listener must have a different port", other, l.Name, l.Addr())
			}
			ports[l.Addr()] = l.Name
		}
		b.Listeners = append(b.Listeners, l)
	}
	if len(b.Listeners) == 0 {
		return fmt.Errorf("config: listeners names no broker listener")
	}
	byName := map[string]Listener{}
	for _, l := range b.Listeners {
		byName[l.Name] = l
	}

	if adv, ok := b.Get("advertised.listeners"); ok {
		ls, err := ParseListeners("advertised.listeners", adv)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		for _, l := range ls {
			bound, ok := byName[l.Name]
			if !ok {
				return fmt.Errorf("config: advertised listener %s is not one of listeners (%s)", l.Name, listenerNames(b.Listeners))
			}
			if isWildcard(l.Host) {
				return fmt.Errorf("config: advertised listener %s uses the non-routable address %s; advertise a host name or IP clients can reach", l, l.Host)
			}
			if l.Host == "" {
				l.Host = hostname
			}
			l.SecurityProtocol = bound.SecurityProtocol
			b.AdvertisedListeners = append(b.AdvertisedListeners, l)
		}
		if len(b.AdvertisedListeners) == 0 {
			return fmt.Errorf("config: advertised.listeners names no listener")
		}
	} else {
		for _, l := range b.Listeners {
			if l.Host == "" || isWildcard(l.Host) {
				b.Notes = append(b.Notes, fmt.Sprintf("advertising listener %s as host %s (advertised.listeners is not set)", l, hostname))
				l.Host = hostname
			}
			b.AdvertisedListeners = append(b.AdvertisedListeners, l)
		}
	}

	// The listener brokers use between themselves.
	_, setName := b.Raw["inter.broker.listener.name"]
	_, setProto := b.Raw["security.inter.broker.protocol"]
	if setName && setProto {
		return fmt.Errorf("config: only one of inter.broker.listener.name and security.inter.broker.protocol may be set")
	}
	if setName {
		b.InterBrokerListenerName = strings.ToUpper(strings.TrimSpace(b.Raw["inter.broker.listener.name"]))
	} else {
		b.InterBrokerListenerName = g.str("security.inter.broker.protocol")
	}
	found := false
	for _, l := range b.AdvertisedListeners {
		if l.Name == b.InterBrokerListenerName {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("config: inter-broker listener %s is not an advertised listener (%s); set inter.broker.listener.name", b.InterBrokerListenerName, listenerNames(b.AdvertisedListeners))
	}
	return nil
}

func listenerNames(ls []Listener) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return strings.Join(names, ", ")
}
