package config

import (
	"fmt"
	"sort"
	"strings"
)

// RackAwareReplicaSelector is the one replica.selector.class Runnel has:
// Kafka's class of that name, by its name.
const RackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// Runnel's own broker keys (Kafka has none of these).
const (
	EtcdEndpoints    = "etcd.endpoints"
	AdminListener    = "runnel.admin.listener"
	AdminPprofEnable = "runnel.admin.pprof.enable"
	MetricsPartition = "runnel.metrics.partition.enable"
	LogDurable       = "runnel.log.durable"
	ClusterIDRecover = "runnel.cluster.id.recover"
	LogFormat        = "runnel.log.format"
	LogLevel         = "runnel.log.level"
	LogLevels        = "runnel.log.levels"
)

// DefaultAdminListener is where the HTTP admin server (Prometheus metrics,
// /healthz, /readyz) listens unless runnel.admin.listener says otherwise:
// loopback only, on a port next to none of Kafka's.
const DefaultAdminListener = "127.0.0.1:9644"

const defaultProtocolMap = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"

var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// brokerDefs is every broker key Runnel understands: Kafka 4's keys that
// matter to a broker like Runnel, plus Runnel's own. Dynamic marks the keys
// Kafka lets AlterConfigs change at run time.
var brokerDefs = []Def{
	// ---- identity and network ----
	{Name: "broker.id", Type: Int, Default: "-1", Doc: `This broker's id, unique in the cluster. -1 lets Runnel take a generated id from etcd (see broker.id.generation.enable). node.id is accepted as another name for it.`},
	{Name: "node.id", Type: Int, Null: true, Validate: atLeast(0), Doc: `KRaft's name for the broker id; Runnel treats it as broker.id. If both are set they must agree.`},
	{Name: "broker.id.generation.enable", Type: Boolean, Default: "true", Doc: `When broker.id is not set, generate one from a sequence in etcd, above reserved.broker.max.id.`},
	{Name: "reserved.broker.max.id", Type: Int, Default: "1000", Validate: atLeast(0), Doc: `Highest id reserved for hand-picked broker ids; generated ids start above it.`},
	{Name: "broker.rack", Type: String, Null: true, Doc: `Rack (or availability zone) of this broker, used to spread replicas and by follower fetching.`},
	{Name: "listeners", Type: String, Default: "PLAINTEXT://:9092", Validate: nonEmpty, Doc: `Comma-separated NAME://host:port addresses the broker listens on. An empty host binds every interface; 0.0.0.0 does too. Each name needs an entry in listener.security.protocol.map unless it is a protocol name.`},
	{Name: "advertised.listeners", Type: String, Null: true, Doc: `Addresses given to clients in metadata, NAME://host:port, one per listener name. When unset the listeners are advertised, with an empty or wildcard host replaced by this machine's hostname.`},
	{Name: "listener.security.protocol.map", Type: String, Default: defaultProtocolMap, Doc: `Maps each listener name to its security protocol, as NAME:PROTOCOL pairs separated by commas.`},
	{Name: "inter.broker.listener.name", Type: String, Null: true, Doc: `Listener other brokers use to reach this one (replication). When unset, the listener named after security.inter.broker.protocol.`},
	{Name: "security.inter.broker.protocol", Type: String, Default: "PLAINTEXT", Validate: oneOf(securityProtocols...), Doc: `Security protocol between brokers; only one of this and inter.broker.listener.name may be set.`},
	{Name: "num.network.threads", Type: Int, Default: "3", Validate: atLeast(1), Dynamic: true, Doc: `Kafka's count of network threads. Runnel serves each connection on its own goroutine and reports this value only.`},
	{Name: "num.io.threads", Type: Int, Default: "8", Validate: atLeast(1), Dynamic: true, Doc: `Kafka's count of request handler threads. Runnel reports this value only.`},
	{Name: "background.threads", Type: Int, Default: "10", Validate: atLeast(1), Dynamic: true, Doc: `Kafka's count of background task threads. Runnel reports this value only.`},
	{Name: "socket.send.buffer.bytes", Type: Int, Default: "-1", Doc: `SO_SNDBUF for client sockets; -1 (the default, where Kafka's is 102400) leaves the OS default and its auto-tuning: a fetch response then goes out in fewer, larger sendfile calls and socket wake-ups (docs/performance.md).`},
	{Name: "socket.receive.buffer.bytes", Type: Int, Default: "102400", Doc: `SO_RCVBUF for client sockets; -1 leaves the OS default.`},
	{Name: "socket.request.max.bytes", Type: Int, Default: "104857600", Validate: atLeast(1), Doc: `Largest request the broker reads; a larger size prefix closes the connection.`},
	{Name: "socket.listen.backlog.size", Type: Int, Default: "50", Validate: atLeast(1), Doc: `Backlog of pending connections on each listening socket.`},
	{Name: "max.connections", Type: Int, Default: "2147483647", Validate: atLeast(0), Dynamic: true, Doc: `Most client connections the broker accepts at once.`},
	{Name: "max.connections.per.ip", Type: Int, Default: "2147483647", Validate: atLeast(0), Dynamic: true, Doc: `Most connections accepted from one IP address.`},
	{Name: "max.connections.per.ip.overrides", Type: String, Default: "", Dynamic: true, Doc: `Per-IP or per-hostname exceptions to max.connections.per.ip, as host:count pairs separated by commas.`},
	{Name: "max.connection.creation.rate", Type: Int, Default: "2147483647", Validate: atLeast(0), Dynamic: true, Doc: `Most new connections accepted per second.`},
	{Name: "connections.max.idle.ms", Type: Long, Default: "600000", Doc: `Close a client connection idle for this long.`},
	{Name: "queued.max.requests", Type: Int, Default: "500", Validate: atLeast(1), Doc: `Most requests read from one connection and not yet answered before the broker stops reading it.`},
	{Name: "connection.failed.authentication.delay.ms", Type: Int, Default: "100", Validate: atLeast(0), Doc: `How long the broker waits before answering a failed authentication and closing the connection (fewer password guesses per second); 0 answers at once. Must be below connections.max.idle.ms.`},
	{Name: "quota.window.num", Type: Int, Default: "11", Validate: atLeast(1), Doc: `Number of samples a client quota's rate is measured over.`},
	{Name: "quota.window.size.seconds", Type: Int, Default: "1", Validate: atLeast(1), Doc: `Time span of each sample of a client quota's rate.`},
	{Name: "controller.quota.window.num", Type: Int, Default: "11", Validate: atLeast(1), Doc: `Number of samples of controller_mutation_rate quotas: the token bucket holds the quota times this many windows.`},
	{Name: "controller.quota.window.size.seconds", Type: Int, Default: "1", Validate: atLeast(1), Doc: `Time span of each sample of controller_mutation_rate quotas.`},
	{Name: "queued.max.request.bytes", Type: Long, Default: "-1", Doc: `Most request bytes held in memory before the broker stops reading; -1 means no limit.`},
	{Name: "request.timeout.ms", Type: Int, Default: "30000", Doc: `How long the broker waits for a reply when it is the client (for example to another broker).`},
	{Name: "fetch.max.bytes", Type: Int, Default: "57671680", Validate: atLeast(1024), Doc: `Most bytes a broker returns in one Fetch response, whatever the request asks.`},
	{Name: "max.incremental.fetch.session.cache.slots", Type: Int, Default: "1000", Validate: atLeast(0), Doc: `Most incremental fetch sessions (KIP-227) the broker keeps.`},
	{Name: "max.request.partition.size.limit", Type: Int, Default: "2000", Validate: atLeast(1), Doc: `Most partitions one request may name where Kafka enforces such a limit.`},

	// ---- topics ----
	{Name: "auto.create.topics.enable", Type: Boolean, Default: "true", Doc: `Create a topic with default settings when a client asks for metadata of, or produces to, a topic that does not exist.`},
	{Name: "delete.topic.enable", Type: Boolean, Default: "true", Doc: `Allow DeleteTopics; when false, deletion requests fail.`},
	{Name: "max.broker.partitions", Type: Int, Default: "2147483647", Validate: atLeast(1), Doc: `Most partition replicas one broker may hold (KIP-578); CreateTopics and CreatePartitions that would exceed it on any broker fail with POLICY_VIOLATION.`},
	{Name: "num.partitions", Type: Int, Default: "1", Validate: atLeast(1), Doc: `Partitions of an automatically created topic, and of a created topic that does not say.`},
	{Name: "default.replication.factor", Type: Int, Default: "1", Doc: `Replication factor of an automatically created topic, and of a created topic that does not say.`},
	{Name: "min.insync.replicas", Type: Int, Default: "1", Validate: atLeast(1), Dynamic: true, Doc: `Default for the topic key min.insync.replicas: fewest in-sync replicas an acks=all write needs.`},
	{Name: "message.max.bytes", Type: Int, Default: defaultMaxMessageBytes, Validate: atLeast(0), Dynamic: true, Doc: `Default for the topic key max.message.bytes: largest record batch accepted, after compression.`},
	{Name: "compression.type", Type: String, Default: "producer", Validate: oneOf(compressionTypes...), Dynamic: true, Doc: `Default for the topic key compression.type.`},
	{Name: "compression.gzip.level", Type: Int, Default: "-1", Validate: levelIn(1, 9, -1), Dynamic: true, Doc: `Default for the topic key compression.gzip.level.`},
	{Name: "compression.lz4.level", Type: Int, Default: "9", Validate: levelIn(1, 17), Dynamic: true, Doc: `Default for the topic key compression.lz4.level.`},
	{Name: "compression.zstd.level", Type: Int, Default: "3", Validate: levelIn(zstdMinLevel, 22), Dynamic: true, Doc: `Default for the topic key compression.zstd.level.`},
	{Name: "unclean.leader.election.enable", Type: Boolean, Default: "false", Dynamic: true, Doc: `Default for the topic key unclean.leader.election.enable.`},

	// ---- replication ----
	{Name: "auto.leader.rebalance.enable", Type: Boolean, Default: "true", Doc: `Periodically move leadership back to each partition's preferred replica.`},
	{Name: "leader.imbalance.per.broker.percentage", Type: Int, Default: "10", Doc: `Share of a broker's partitions led elsewhere, in percent, above which a preferred-leader rebalance runs.`},
	{Name: "leader.imbalance.check.interval.seconds", Type: Long, Default: "300", Validate: atLeast(1), Doc: `How often the controller checks leader balance.`},
	{Name: "broker.session.timeout.ms", Type: Int, Default: "9000", Validate: atLeast(1000), Doc: `How long a broker that stopped renewing its registration stays registered before the controller counts it gone and moves its leaderships: the TTL of its etcd lease, rounded up to whole seconds (etcd raises a TTL below its own minimum, about 2 s with etcd's default timing).`},
	{Name: "broker.heartbeat.interval.ms", Type: Int, Default: "2000", Validate: atLeast(1), Doc: `Kafka's interval between a broker's heartbeats to its controller. Runnel's etcd client renews the lease every third of broker.session.timeout.ms instead; the key is checked to be below the session timeout, as Kafka requires, and has no other effect.`},
	{Name: "controlled.shutdown.enable", Type: Boolean, Default: "true", Doc: `Move leadership off a broker before it shuts down.`},
	{Name: "replica.lag.time.max.ms", Type: Long, Default: "30000", Doc: `A follower that has not caught up to the leader's log end for this long is removed from the ISR.`},
	{Name: "replica.socket.timeout.ms", Type: Int, Default: "30000", Doc: `Network timeout of follower fetch requests.`},
	{Name: "replica.socket.receive.buffer.bytes", Type: Int, Default: "65536", Doc: `SO_RCVBUF of follower fetch connections.`},
	{Name: "replica.fetch.max.bytes", Type: Int, Default: "1048576", Validate: atLeast(0), Doc: `Bytes a follower asks for per partition in each fetch.`},
	{Name: "replica.fetch.wait.max.ms", Type: Int, Default: "500", Doc: `Longest a follower fetch waits on the leader for data; keep it below replica.lag.time.max.ms.`},
	{Name: "replica.fetch.min.bytes", Type: Int, Default: "1", Doc: `Least data a follower fetch waits for.`},
	{Name: "replica.fetch.backoff.ms", Type: Int, Default: "1000", Validate: atLeast(0), Doc: `Pause after a failed follower fetch.`},
	{Name: "replica.fetch.response.max.bytes", Type: Int, Default: "10485760", Validate: atLeast(0), Doc: `Most bytes in one follower fetch response.`},
	{Name: "num.replica.fetchers", Type: Int, Default: "1", Dynamic: true, Doc: `Fetcher sessions per source broker used by followers.`},
	{Name: "replica.high.watermark.checkpoint.interval.ms", Type: Long, Default: "5000", Doc: `How often each log dir's high watermarks are written to disk.`},
	{Name: "replica.selector.class", Type: String, Null: true, Validate: oneOf(RackAwareReplicaSelector), Doc: `The replica a leader points a consumer to (fetch from follower, KIP-392). Unset: consumers always read from the leader. ` + RackAwareReplicaSelector + `: a consumer that gives its rack (client.rack) is sent to the in-sync replica in that rack with the most data, unless the leader is in it; followers serve such consumers up to their high watermark. No other selector exists in Runnel.`},

	// ---- log ----
	{Name: "log.dir", Type: String, Default: "/tmp/kafka-logs", Doc: `Directory holding partition data, used when log.dirs is not set.`},
	{Name: "log.dirs", Type: String, Null: true, Doc: `Comma-separated directories holding partition data; when unset, log.dir.`},
	{Name: "num.recovery.threads.per.data.dir", Type: Int, Default: "2", Validate: atLeast(1), Dynamic: true, Doc: `Workers per log dir recovering logs at startup and flushing them at shutdown.`},
	{Name: "log.segment.bytes", Type: Int, Default: defaultSegmentBytes, Validate: atLeast(minSegmentBytes), Dynamic: true, Doc: `Default for the topic key segment.bytes: size at which a segment rolls.`},
	{Name: "log.roll.ms", Type: Long, Null: true, Dynamic: true, Doc: `Default for the topic key segment.ms, in milliseconds; when unset, log.roll.hours.`},
	{Name: "log.roll.hours", Type: Int, Default: "168", Validate: atLeast(1), Doc: `Default for the topic key segment.ms, in hours; log.roll.ms takes precedence.`},
	{Name: "log.roll.jitter.ms", Type: Long, Null: true, Dynamic: true, Doc: `Default for the topic key segment.jitter.ms, in milliseconds; when unset, log.roll.jitter.hours.`},
	{Name: "log.roll.jitter.hours", Type: Int, Default: "0", Validate: atLeast(0), Doc: `Default for the topic key segment.jitter.ms, in hours; log.roll.jitter.ms takes precedence.`},
	{Name: "log.retention.ms", Type: Long, Null: true, Dynamic: true, Doc: `Default for the topic key retention.ms; when unset, log.retention.minutes, then log.retention.hours. -1 keeps data forever.`},
	{Name: "log.retention.minutes", Type: Int, Null: true, Doc: `Retention in minutes, used when log.retention.ms is not set; when unset too, log.retention.hours.`},
	{Name: "log.retention.hours", Type: Int, Default: "168", Doc: `Retention in hours, used when neither log.retention.ms nor log.retention.minutes is set.`},
	{Name: "log.retention.bytes", Type: Long, Default: "-1", Dynamic: true, Doc: `Default for the topic key retention.bytes: most bytes kept per partition; -1 means no limit.`},
	{Name: "log.retention.check.interval.ms", Type: Long, Default: "300000", Validate: atLeast(1), Doc: `How often logs are checked for segments past retention.`},
	{Name: "log.cleanup.policy", Type: List, Default: "delete", Validate: listOf(true, "compact", "delete"), Dynamic: true, Doc: `Default for the topic key cleanup.policy.`},
	{Name: "log.index.size.max.bytes", Type: Int, Default: defaultIndexSizeMaxBytes, Validate: atLeast(4), Dynamic: true, Doc: `Default for the topic key segment.index.bytes.`},
	{Name: "log.index.interval.bytes", Type: Int, Default: "4096", Validate: atLeast(0), Dynamic: true, Doc: `Default for the topic key index.interval.bytes.`},
	{Name: "log.flush.interval.messages", Type: Long, Default: maxLong, Validate: atLeast(1), Dynamic: true, Doc: `Default for the topic key flush.messages.`},
	{Name: "log.flush.interval.ms", Type: Long, Null: true, Dynamic: true, Doc: `Default for the topic key flush.ms; when unset, log.flush.scheduler.interval.ms.`},
	{Name: "log.flush.scheduler.interval.ms", Type: Long, Default: maxLong, Doc: `How often the flusher looks for logs due a flush; also the default of log.flush.interval.ms.`},
	{Name: "log.flush.offset.checkpoint.interval.ms", Type: Int, Default: "60000", Validate: atLeast(0), Doc: `How often the recovery-point checkpoint is written.`},
	{Name: "log.flush.start.offset.checkpoint.interval.ms", Type: Int, Default: "60000", Validate: atLeast(0), Doc: `How often the log-start-offset checkpoint is written.`},
	{Name: "log.segment.delete.delay.ms", Type: Long, Default: "60000", Validate: atLeast(0), Dynamic: true, Doc: `Default for the topic key file.delete.delay.ms.`},
	{Name: "log.preallocate", Type: Boolean, Default: "false", Dynamic: true, Doc: `Default for the topic key preallocate.`},
	{Name: "log.message.timestamp.type", Type: String, Default: "CreateTime", Validate: oneOf("CreateTime", "LogAppendTime"), Dynamic: true, Doc: `Default for the topic key message.timestamp.type.`},
	{Name: "log.message.timestamp.before.max.ms", Type: Long, Default: maxLong, Validate: atLeast(0), Dynamic: true, Doc: `Default for the topic key message.timestamp.before.max.ms.`},
	{Name: "log.message.timestamp.after.max.ms", Type: Long, Default: "3600000", Validate: atLeast(0), Dynamic: true, Doc: `Default for the topic key message.timestamp.after.max.ms.`},
	{Name: "log.local.retention.ms", Type: Long, Default: "-2", Validate: atLeast(-2), Dynamic: true, Doc: `Default for the topic key local.retention.ms (tiered storage, which Runnel does not have).`},
	{Name: "log.local.retention.bytes", Type: Long, Default: "-2", Validate: atLeast(-2), Dynamic: true, Doc: `Default for the topic key local.retention.bytes (tiered storage, which Runnel does not have).`},
	{Name: "log.cleaner.enable", Type: Boolean, Default: "true", Doc: `Run the log cleaner, which compacts topics with cleanup.policy=compact. The internal topics rely on it.`},
	{Name: "log.cleaner.threads", Type: Int, Default: "1", Validate: atLeast(0), Dynamic: true, Doc: `Cleaner workers compacting logs in parallel.`},
	{Name: "log.cleaner.io.max.bytes.per.second", Type: Double, Default: "1.7976931348623157E308", Dynamic: true, Doc: `Cap on the cleaner's combined read and write rate.`},
	{Name: "log.cleaner.dedupe.buffer.size", Type: Long, Default: "134217728", Dynamic: true, Doc: `Memory, across all cleaner workers, for the key → offset map built while cleaning.`},
	{Name: "log.cleaner.io.buffer.size", Type: Int, Default: "524288", Validate: atLeast(0), Dynamic: true, Doc: `Read and write buffer memory, across all cleaner workers.`},
	{Name: "log.cleaner.io.buffer.load.factor", Type: Double, Default: "0.9", Dynamic: true, Doc: `How full the cleaner's dedupe map may get before a cleaning pass stops.`},
	{Name: "log.cleaner.backoff.ms", Type: Long, Default: "15000", Validate: atLeast(0), Dynamic: true, Doc: `Pause of a cleaner worker that found nothing to clean.`},
	{Name: "log.cleaner.min.cleanable.ratio", Type: Double, Default: "0.5", Validate: betweenFloat(0, 1), Dynamic: true, Doc: `Default for the topic key min.cleanable.dirty.ratio.`},
	{Name: "log.cleaner.delete.retention.ms", Type: Long, Default: "86400000", Validate: atLeast(0), Dynamic: true, Doc: `Default for the topic key delete.retention.ms.`},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: Long, Default: "0", Validate: atLeast(0), Dynamic: true, Doc: `Default for the topic key min.compaction.lag.ms.`},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: Long, Default: maxLong, Validate: atLeast(1), Dynamic: true, Doc: `Default for the topic key max.compaction.lag.ms.`},

	// ---- consumer groups ----
	{Name: "group.min.session.timeout.ms", Type: Int, Default: "6000", Doc: `Shortest session timeout a classic-protocol group member may ask for.`},
	{Name: "group.max.session.timeout.ms", Type: Int, Default: "1800000", Doc: `Longest session timeout a classic-protocol group member may ask for.`},
	{Name: "group.initial.rebalance.delay.ms", Type: Int, Default: "3000", Doc: `How long a new classic group waits for more members before its first rebalance.`},
	{Name: "group.max.size", Type: Int, Default: "2147483647", Validate: atLeast(1), Doc: `Most members of one classic group.`},
	{Name: "group.coordinator.rebalance.protocols", Type: List, Default: "classic,consumer", Validate: listOf(false, "classic", "consumer", "share", "streams"), Doc: `Group protocols the coordinator serves: classic (JoinGroup/SyncGroup) and consumer (KIP-848 ConsumerGroupHeartbeat). Share groups are switched on by group.share.enable, as in Kafka 4.1.`},
	{Name: "group.consumer.session.timeout.ms", Type: Int, Default: "45000", Validate: atLeast(1), Doc: `Session timeout of consumer-protocol (KIP-848) group members.`},
	{Name: "group.consumer.min.session.timeout.ms", Type: Int, Default: "45000", Validate: atLeast(1), Doc: `Shortest session timeout a consumer-protocol group may be given.`},
	{Name: "group.consumer.max.session.timeout.ms", Type: Int, Default: "60000", Validate: atLeast(1), Doc: `Longest session timeout a consumer-protocol group may be given.`},
	{Name: "group.consumer.heartbeat.interval.ms", Type: Int, Default: "5000", Validate: atLeast(1), Doc: `Heartbeat interval the coordinator gives consumer-protocol members.`},
	{Name: "group.consumer.min.heartbeat.interval.ms", Type: Int, Default: "5000", Validate: atLeast(1), Doc: `Shortest heartbeat interval a consumer-protocol group may be given.`},
	{Name: "group.consumer.max.heartbeat.interval.ms", Type: Int, Default: "15000", Validate: atLeast(1), Doc: `Longest heartbeat interval a consumer-protocol group may be given.`},
	{Name: "group.consumer.max.size", Type: Int, Default: "2147483647", Validate: atLeast(1), Doc: `Most members of one consumer-protocol group.`},
	{Name: "offsets.topic.replication.factor", Type: Short, Default: "3", Validate: atLeast(1), Doc: `Replication factor of __consumer_offsets. Creating it fails until this many brokers are registered.`},
	{Name: "offsets.topic.num.partitions", Type: Int, Default: "50", Validate: atLeast(1), Doc: `Partitions of __consumer_offsets; do not change it once the topic exists.`},
	{Name: "offsets.topic.segment.bytes", Type: Int, Default: "104857600", Validate: atLeast(1), Doc: `segment.bytes of __consumer_offsets, kept small so compaction and loading are quick.`},
	{Name: "offsets.retention.minutes", Type: Int, Default: "10080", Validate: atLeast(1), Doc: `How long the committed offsets of an empty group are kept.`},
	{Name: "offsets.retention.check.interval.ms", Type: Long, Default: "600000", Validate: atLeast(1), Doc: `How often expired committed offsets are removed.`},
	{Name: "offsets.commit.timeout.ms", Type: Int, Default: "5000", Validate: atLeast(1), Doc: `How long an offset commit waits for its write to __consumer_offsets to be replicated.`},
	{Name: "offset.metadata.max.bytes", Type: Int, Default: "4096", Doc: `Largest metadata string allowed with a committed offset.`},
	{Name: "offsets.load.buffer.size", Type: Int, Default: "5242880", Validate: atLeast(1), Doc: `Read size used when loading a group partition into the coordinator's cache.`},

	// ---- transactions and producer ids ----
	{Name: "transaction.state.log.replication.factor", Type: Short, Default: "3", Validate: atLeast(1), Doc: `Replication factor of __transaction_state. Creating it fails until this many brokers are registered.`},
	{Name: "transaction.state.log.min.isr", Type: Int, Default: "2", Validate: atLeast(1), Doc: `min.insync.replicas of __transaction_state.`},
	{Name: "transaction.state.log.num.partitions", Type: Int, Default: "50", Validate: atLeast(1), Doc: `Partitions of __transaction_state; do not change it once the topic exists.`},
	{Name: "transaction.state.log.segment.bytes", Type: Int, Default: "104857600", Validate: atLeast(1), Doc: `segment.bytes of __transaction_state.`},
	{Name: "transaction.state.log.load.buffer.size", Type: Int, Default: "5242880", Validate: atLeast(1), Doc: `Read size used when loading a transaction-state partition.`},
	{Name: "transaction.max.timeout.ms", Type: Int, Default: "900000", Validate: atLeast(1), Doc: `Longest transaction timeout a producer may ask for; InitProducerId asking for more fails.`},
	{Name: "transactional.id.expiration.ms", Type: Int, Default: "604800000", Validate: atLeast(1), Doc: `A transactional id with no transaction status update for this long is expired.`},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: Int, Default: "10000", Validate: atLeast(1), Doc: `How often transactions past their timeout are looked for and aborted.`},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: Int, Default: "3600000", Validate: atLeast(1), Doc: `How often expired transactional ids are removed.`},
	{Name: "add.partitions.to.txn.max.timeout.ms", Type: Int, Default: "100", Validate: atLeast(1), Doc: `How long a partition leader keeps retrying, on the producer's behalf, to add a partition to a transaction (KIP-890 part 2: Produce v12+, TxnOffsetCommit v5+) while the coordinator answers CONCURRENT_TRANSACTIONS (the previous transaction's markers are still being written).`},
	{Name: "add.partitions.to.txn.retry.backoff.ms", Type: Int, Default: "20", Validate: atLeast(1), Doc: `The pause between those retries.`},
	{Name: "transaction.partition.verification.enable", Type: Boolean, Default: "true", Dynamic: true, Doc: `Check that a partition was added to the ongoing transaction before accepting a transactional write to it (KIP-890).`},
	{Name: "producer.id.expiration.ms", Type: Int, Default: "86400000", Validate: atLeast(1), Dynamic: true, Doc: `How long an idle producer id's state is kept for idempotence after its last write.`},
	{Name: "producer.id.expiration.check.interval.ms", Type: Int, Default: "600000", Validate: atLeast(1), Doc: `How often expired producer ids are removed.`},

	// ---- security ----
	{Name: "authorizer.class.name", Type: String, Default: "", Validate: knownAuthorizer, Doc: `The ACL authorizer: Kafka's ` + "`" + `org.apache.kafka.metadata.authorizer.StandardAuthorizer` + "`" + ` (or the older name ` + "`" + `kafka.security.authorizer.AclAuthorizer` + "`" + `) turns on Runnel's, with StandardAuthorizer's semantics over ACLs kept in etcd. Empty: no authorization, and the ACL APIs answer SECURITY_DISABLED, as in Kafka. Any other class is refused at start rather than run without the ACLs it was meant to enforce.`},
	{Name: "super.users", Type: String, Default: "", Doc: `Principals allowed every operation whatever the ACLs say, separated by ';' (User:admin;User:broker). With an authorizer and a PLAINTEXT or SSL inter-broker listener, the brokers' own principal (User:ANONYMOUS, or the certificate's) needs to be here or to hold CLUSTER_ACTION, as in Kafka.`},
	{Name: "allow.everyone.if.no.acl.found", Type: Boolean, Default: "false", Doc: `With an authorizer: allow an operation on a resource that no ACL applies to. Kafka's default (false) denies it.`},

	// ---- Runnel ----
	{Name: EtcdEndpoints, Type: List, Default: "", Doc: `Runnel: comma-separated etcd client URLs holding cluster metadata (Runnel's replacement for zookeeper.connect). Empty runs an embedded single-member etcd in the first log dir.`},
	{Name: AdminListener, Type: String, Default: DefaultAdminListener, Doc: `Runnel: host:port of the HTTP admin server (Prometheus /metrics, /healthz, /readyz). Empty disables it.`},
	{Name: MetricsPartition, Type: Boolean, Default: "true", Doc: `Runnel: export per-partition series on /metrics (log size, segments, log start and end offsets, high watermark, follower lag, consumer groups' committed offsets and lag). Turn off on brokers with many partitions to bound the number of series; the per-topic and broker-wide series stay.`},
	{Name: AdminPprofEnable, Type: Boolean, Default: "false", Doc: `Runnel: serve Go's profiler (/debug/pprof) on the admin listener. Off by default: a profile exposes memory contents and costs CPU, and the admin listener has no authentication.`},
	{Name: ClusterIDRecover, Type: String, Default: "", Validate: oneOf("", "adopt", "restore"), Doc: `Runnel: what to do when the log dir's meta.properties records a cluster id that the metadata store does not hold (Kafka's InconsistentClusterIdException, where the broker refuses to start; so does Runnel when this is empty). restore: the metadata store is empty (lost or replaced): write the log dir's cluster id into it and re-create every topic found in the log dir (its partitions, replication factor 1 on this broker), so clients read all the data again. adopt: join the cluster the metadata store holds (or a new one in an empty store); partition directories its metadata does not place on this broker are kept, renamed <topic>-<partition>.<id>-stray. Set it for one start, then remove it.`},
	{Name: LogFormat, Type: String, Default: "console", Validate: oneOf("console", "json"), Doc: `Runnel: how the broker writes its log on standard error: console (one human-readable line per entry) or json (one JSON object per line, for log shippers).`},
	{Name: LogLevel, Type: String, Default: "info", Validate: oneOf("debug", "info", "warn", "error"), Doc: `Runnel: the least severe level logged (debug, info, warn, error); serve's --log-level flag overrides it.`},
	{Name: LogLevels, Type: List, Default: "", Validate: subsystemLevels, Doc: `Runnel: levels for single subsystems, overriding runnel.log.level for them: comma-separated name=level pairs, where a name is a logger name or its prefix as it appears in the log (controller, storage, server, replica, groups, txns, etcd…), e.g. controller=debug,etcd=warn.`},
	{Name: LogDurable, Type: Boolean, Default: "false", Doc: `Runnel: fsync a partition's log before acknowledging a produce to it. Off by default, as in Kafka, where durability comes from replication.`},
}

var brokerIndex = func() map[string]*Def {
	brokerDefs = append(brokerDefs, sslDefs...)   // ssl.go
	brokerDefs = append(brokerDefs, saslDefs...)  // sasl.go
	brokerDefs = append(brokerDefs, shareDefs...) // share.go
	sort.Slice(brokerDefs, func(i, j int) bool { return brokerDefs[i].Name < brokerDefs[j].Name })
	m := make(map[string]*Def, len(brokerDefs))
	for i := range brokerDefs {
		m[brokerDefs[i].Name] = &brokerDefs[i]
	}
	return m
}()

// BrokerDefs returns every broker key's definition, sorted by name.
func BrokerDefs() []Def {
	out := make([]Def, len(brokerDefs))
	copy(out, brokerDefs)
	return out
}

// LookupBroker returns the definition of a broker key.
func LookupBroker(name string) (Def, bool) {
	d, ok := brokerIndex[name]
	if !ok {
		return Def{}, false
	}
	return *d, true
}

// Authorizer class names authorizer.class.name accepts: KRaft's and the
// ZooKeeper-era one, which Runnel treats alike (ACLs in etcd).
const (
	StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	AclAuthorizer      = "kafka.security.authorizer.AclAuthorizer"
)

// knownAuthorizer refuses an authorizer Runnel does not implement: a
// broker told to enforce ACLs must not start without enforcing them.
func knownAuthorizer(v string) error {
	switch strings.TrimSpace(v) {
	case "", StandardAuthorizer, AclAuthorizer:
		return nil
	}
	return fmt.Errorf("Runnel implements only Kafka's %s (or %s); unset it to run without ACLs", StandardAuthorizer, AclAuthorizer)
}

// acceptedKeys are Kafka keys Runnel takes without complaint but does not
// need: KRaft and ZooKeeper machinery (etcd replaces both), logging set up
// through log4j, and JVM-side plumbing. Each is reported at info level.
var acceptedKeys = map[string]string{
	"process.roles":                          "Runnel has no KRaft roles; every node is a broker and etcd holds metadata",
	"controller.quorum.voters":               "Runnel uses etcd, not a KRaft quorum",
	"controller.quorum.bootstrap.servers":    "Runnel uses etcd, not a KRaft quorum",
	"controller.listener.names":              "Runnel has no KRaft controller; listeners with these names are not opened",
	"inter.broker.protocol.version":          "Runnel speaks Kafka 4's protocol; metadata versions do not apply",
	"eligible.leader.replicas.enable":        "KRaft feature; not used by Runnel",
	"metadata.log.dir":                       "KRaft metadata log; Runnel keeps metadata in etcd",
	"zookeeper.connect":                      "Runnel uses etcd; set etcd.endpoints instead",
	"early.start.listeners":                  "Runnel opens all listeners once it is ready",
	"num.replica.alter.log.dirs.threads":     "Runnel does not move replicas between log dirs",
	"log.dir.failure.timeout.ms":             "KRaft log-dir failure reporting; not used by Runnel",
	"offsets.topic.compression.codec":        "Runnel writes __consumer_offsets uncompressed",
	"controller.socket.timeout.ms":           "Runnel's controller talks to etcd, not to brokers",
	"initial.broker.registration.timeout.ms": "Runnel registers brokers in etcd",
	"log.initial.task.delay.ms":              "test-only Kafka key",
	"unstable.api.versions.enable":           "Runnel advertises only the versions it implements",
	"unstable.feature.versions.enable":       "Runnel advertises only the versions it implements",
	"group.coordinator.new.enable":           "Runnel has one group coordinator",
	"group.coordinator.threads":              "Runnel's coordinator needs no thread pool",
	"group.coordinator.append.linger.ms":     "Runnel's coordinator writes without lingering",
	"metric.reporters":                       "Runnel exports Prometheus metrics on runnel.admin.listener",
	"cluster.id":                             "the cluster id lives in etcd; this value is only a hint for a new cluster",
	"sasl.mechanism.controller.protocol":     "Runnel has no KRaft controller",
}

// acceptedPrefixes extend acceptedKeys to whole families of keys.
var acceptedPrefixes = map[string]string{
	"zookeeper.":        "Runnel uses etcd, not ZooKeeper",
	"controller.":       "Runnel has no KRaft controller",
	"metadata.":         "KRaft metadata log; Runnel keeps metadata in etcd",
	"log4j.":            "Runnel logs with zap, not log4j",
	"kafka.log4j.":      "Runnel logs with zap, not log4j",
	"kafka.metrics.":    "Runnel exports Prometheus metrics on runnel.admin.listener",
	"metrics.":          "Runnel exports Prometheus metrics on runnel.admin.listener",
	"confluent.":        "Confluent Server key; not part of Apache Kafka",
	"remote.log.":       "Runnel has no tiered storage",
	"share.":            "Runnel has no separate share coordinator: share-partition leaders keep their state in __share_group_state (share.coordinator.state.topic.* apply)",
	"group.share.":      "share group setting Runnel does not use (the simple assignor is the only one; state is persisted by the share-partition leader)",
	"group.streams.":    "streams groups (KIP-1071) are not implemented",
	"quorum.":           "Runnel uses etcd, not a KRaft quorum",
	"raft.":             "Runnel uses etcd, not a KRaft quorum",
	"client.quota.":     "client.quota.callback.class names a Java class; Runnel applies Kafka's default quota callback",
	"password.encoder.": "Runnel stores no encoded passwords in broker configs",
	"sasl.":             "Runnel's SASL mechanisms (PLAIN, SCRAM-SHA-256/512) are built in; Kerberos, OAuth and callback-handler settings do not apply",
}

// acceptedNote returns why a key Runnel does not use is still accepted, or
// "" if the key is not one of those.
func acceptedNote(key string) string {
	if why, ok := acceptedKeys[key]; ok {
		return why
	}
	best := ""
	for p := range acceptedPrefixes {
		if strings.HasPrefix(key, p) && len(p) > len(best) {
			best = p
		}
	}
	if best != "" {
		return acceptedPrefixes[best]
	}
	return ""
}
