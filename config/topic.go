package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Topic keys, as Kafka 4 names them.
const (
	CleanupPolicy                        = "cleanup.policy"
	CompressionGzipLevel                 = "compression.gzip.level"
	CompressionLz4Level                  = "compression.lz4.level"
	CompressionType                      = "compression.type"
	CompressionZstdLevel                 = "compression.zstd.level"
	DeleteRetentionMs                    = "delete.retention.ms"
	FileDeleteDelayMs                    = "file.delete.delay.ms"
	FlushMessages                        = "flush.messages"
	FlushMs                              = "flush.ms"
	FollowerReplicationThrottledReplicas = "follower.replication.throttled.replicas"
	IndexIntervalBytes                   = "index.interval.bytes"
	LeaderReplicationThrottledReplicas   = "leader.replication.throttled.replicas"
	LocalRetentionBytes                  = "local.retention.bytes"
	LocalRetentionMs                     = "local.retention.ms"
	MaxCompactionLagMs                   = "max.compaction.lag.ms"
	MaxMessageBytes                      = "max.message.bytes"
	MessageTimestampAfterMaxMs           = "message.timestamp.after.max.ms"
	MessageTimestampBeforeMaxMs          = "message.timestamp.before.max.ms"
	MessageTimestampType                 = "message.timestamp.type"
	MinCleanableDirtyRatio               = "min.cleanable.dirty.ratio"
	MinCompactionLagMs                   = "min.compaction.lag.ms"
	MinInsyncReplicas                    = "min.insync.replicas"
	Preallocate                          = "preallocate"
	RemoteLogCopyDisable                 = "remote.log.copy.disable"
	RemoteLogDeleteOnDisable             = "remote.log.delete.on.disable"
	RemoteStorageEnable                  = "remote.storage.enable"
	RetentionBytes                       = "retention.bytes"
	RetentionMs                          = "retention.ms"
	SegmentBytes                         = "segment.bytes"
	SegmentIndexBytes                    = "segment.index.bytes"
	SegmentJitterMs                      = "segment.jitter.ms"
	SegmentMs                            = "segment.ms"
	UncleanLeaderElectionEnable          = "unclean.leader.election.enable"
)

// Values shared by topic and broker definitions.
const (
	maxLong                  = "9223372036854775807"
	defaultSegmentBytes      = "1073741824" // 1 GiB
	minSegmentBytes          = 1 << 20      // Kafka 4 (KIP-1030): 1 MiB
	defaultWeekMs            = "604800000"
	defaultMaxMessageBytes   = "1048588" // 1 MiB + the 12-byte log overhead
	defaultIndexSizeMaxBytes = "10485760"
	zstdMinLevel             = -131072 // zstd's negative "fast" levels
)

// Compression codecs a topic or broker may name in compression.type.
var compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

func syn(names ...string) []Synonym {
	out := make([]Synonym, len(names))
	for i, n := range names {
		out[i] = Synonym{Name: n, Scale: 1}
	}
	return out
}

const (
	hourMs   = 3600 * 1000
	minuteMs = 60 * 1000
)

// topicDefs is every Kafka 4 topic-level key, sorted by name.
var topicDefs = []Def{
	{Name: CleanupPolicy, Type: List, Default: "delete", Validate: listOf(true, "compact", "delete"), Synonyms: syn("log.cleanup.policy"),
		Doc: `How old segments are cleaned up: "delete" removes segments past the retention time or size, "compact" keeps only the latest record for each key; both may be given as "compact,delete".`},
	{Name: CompressionGzipLevel, Type: Int, Default: "-1", Validate: levelIn(1, 9, -1), Synonyms: syn("compression.gzip.level"),
		Doc: `Compression level used when compression.type is gzip; -1 is the codec's default.`},
	{Name: CompressionLz4Level, Type: Int, Default: "9", Validate: levelIn(1, 17), Synonyms: syn("compression.lz4.level"),
		Doc: `Compression level used when compression.type is lz4.`},
	{Name: CompressionType, Type: String, Default: "producer", Validate: oneOf(compressionTypes...), Synonyms: syn("compression.type"),
		Doc: `Codec the topic's batches are stored with: gzip, snappy, lz4 or zstd; "uncompressed" stores them uncompressed; "producer" keeps whatever codec the producer used.`},
	{Name: CompressionZstdLevel, Type: Int, Default: "3", Validate: levelIn(zstdMinLevel, 22), Synonyms: syn("compression.zstd.level"),
		Doc: `Compression level used when compression.type is zstd.`},
	{Name: DeleteRetentionMs, Type: Long, Default: "86400000", Validate: atLeast(0), Synonyms: syn("log.cleaner.delete.retention.ms"),
		Doc: `How long tombstones (null-value records) stay in a compacted topic; a consumer reading from the start must finish within this time to be sure it sees every delete.`},
	{Name: FileDeleteDelayMs, Type: Long, Default: "60000", Validate: atLeast(0), Synonyms: syn("log.segment.delete.delay.ms"),
		Doc: `How long a deleted segment's files wait before they are removed from the filesystem.`},
	{Name: FlushMessages, Type: Long, Default: maxLong, Validate: atLeast(1), Synonyms: syn("log.flush.interval.messages"),
		Doc: `Force an fsync after this many records have been appended to a partition; by default durability comes from replication and the OS flushes in the background.`},
	{Name: FlushMs, Type: Long, Default: maxLong, Validate: atLeast(0), Synonyms: syn("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
		Doc: `Force an fsync once appended data is this many milliseconds old; by default durability comes from replication and the OS flushes in the background.`},
	{Name: FollowerReplicationThrottledReplicas, Type: List, Default: "", Validate: throttledReplicas,
		Doc: `Replicas whose follower-side replication is throttled: "partition:broker" pairs, or "*" for every replica of the topic.`},
	{Name: IndexIntervalBytes, Type: Int, Default: "4096", Validate: atLeast(0), Synonyms: syn("log.index.interval.bytes"),
		Doc: `Bytes of log between entries of the sparse offset index; smaller values make lookups land closer to the target at the cost of a larger index.`},
	{Name: LeaderReplicationThrottledReplicas, Type: List, Default: "", Validate: throttledReplicas,
		Doc: `Replicas whose leader-side replication is throttled: "partition:broker" pairs, or "*" for every replica of the topic.`},
	{Name: LocalRetentionBytes, Type: Long, Default: "-2", Validate: atLeast(-2), Synonyms: syn("log.local.retention.bytes"),
		Doc: `With tiered storage, the most bytes of a partition kept on local disk; -2 means use retention.bytes.`},
	{Name: LocalRetentionMs, Type: Long, Default: "-2", Validate: atLeast(-2), Synonyms: syn("log.local.retention.ms"),
		Doc: `With tiered storage, how long segments stay on local disk; -2 means use retention.ms.`},
	{Name: MaxCompactionLagMs, Type: Long, Default: maxLong, Validate: atLeast(1), Synonyms: syn("log.cleaner.max.compaction.lag.ms"),
		Doc: `Longest time a record may stay uncompacted in a compacted topic.`},
	{Name: MaxMessageBytes, Type: Int, Default: defaultMaxMessageBytes, Validate: atLeast(0), Synonyms: syn("message.max.bytes"),
		Doc: `Largest record batch the topic accepts, measured after compression.`},
	{Name: MessageTimestampAfterMaxMs, Type: Long, Default: "3600000", Validate: atLeast(0), Synonyms: syn("log.message.timestamp.after.max.ms"),
		Doc: `With CreateTime timestamps, how far in the future (relative to the broker's clock) a record's timestamp may be before the batch is rejected.`},
	{Name: MessageTimestampBeforeMaxMs, Type: Long, Default: maxLong, Validate: atLeast(0), Synonyms: syn("log.message.timestamp.before.max.ms"),
		Doc: `With CreateTime timestamps, how far in the past (relative to the broker's clock) a record's timestamp may be before the batch is rejected.`},
	{Name: MessageTimestampType, Type: String, Default: "CreateTime", Validate: oneOf("CreateTime", "LogAppendTime"), Synonyms: syn("log.message.timestamp.type"),
		Doc: `Which timestamp records carry: CreateTime keeps the producer's, LogAppendTime replaces it with the broker's clock at append.`},
	{Name: MinCleanableDirtyRatio, Type: Double, Default: "0.5", Validate: betweenFloat(0, 1), Synonyms: syn("log.cleaner.min.cleanable.ratio"),
		Doc: `Fraction of a compacted log that must be uncleaned before the cleaner will compact it; higher values clean less often but waste more space.`},
	{Name: MinCompactionLagMs, Type: Long, Default: "0", Validate: atLeast(0), Synonyms: syn("log.cleaner.min.compaction.lag.ms"),
		Doc: `Shortest time a record stays uncompacted in a compacted topic.`},
	{Name: MinInsyncReplicas, Type: Int, Default: "1", Validate: atLeast(1), Synonyms: syn("min.insync.replicas"),
		Doc: `Fewest in-sync replicas that must hold a write for an acks=all produce to succeed; with fewer the producer gets NOT_ENOUGH_REPLICAS.`},
	{Name: Preallocate, Type: Boolean, Default: "false", Synonyms: syn("log.preallocate"),
		Doc: `Whether a new segment file is preallocated to its full size on disk.`},
	{Name: RemoteLogCopyDisable, Type: Boolean, Default: "false",
		Doc: `With tiered storage, stop copying new segments to remote storage while keeping what is there readable.`},
	{Name: RemoteLogDeleteOnDisable, Type: Boolean, Default: "false",
		Doc: `With tiered storage, delete the topic's remote data when remote storage is turned off for it.`},
	{Name: RemoteStorageEnable, Type: Boolean, Default: "false",
		Doc: `Whether the topic uses tiered (remote) storage. Runnel has no tiered storage, so only false is accepted.`},
	{Name: RetentionBytes, Type: Long, Default: "-1", Synonyms: syn("log.retention.bytes"),
		Doc: `Largest size a partition may grow to before its oldest segments are deleted (delete policy); -1 means no size limit. The limit is per partition.`},
	{Name: RetentionMs, Type: Long, Default: defaultWeekMs, Validate: atLeast(-1),
		Synonyms: []Synonym{{"log.retention.ms", 1}, {"log.retention.minutes", minuteMs}, {"log.retention.hours", hourMs}},
		Doc:      `How long records are kept before their segment is deleted (delete policy); -1 means no time limit.`},
	{Name: SegmentBytes, Type: Int, Default: defaultSegmentBytes, Validate: atLeast(minSegmentBytes), Synonyms: syn("log.segment.bytes"),
		Doc: `Size at which a partition's active segment is closed and a new one started; retention and cleaning work a whole segment at a time.`},
	{Name: SegmentIndexBytes, Type: Int, Default: defaultIndexSizeMaxBytes, Validate: atLeast(4), Synonyms: syn("log.index.size.max.bytes"),
		Doc: `Size preallocated for each segment's offset index; the index is trimmed when the segment rolls.`},
	{Name: SegmentJitterMs, Type: Long, Default: "0", Validate: atLeast(0),
		Synonyms: []Synonym{{"log.roll.jitter.ms", 1}, {"log.roll.jitter.hours", hourMs}},
		Doc:      `Largest random amount subtracted from segment.ms so that partitions do not all roll at once.`},
	{Name: SegmentMs, Type: Long, Default: defaultWeekMs, Validate: atLeast(1),
		Synonyms: []Synonym{{"log.roll.ms", 1}, {"log.roll.hours", hourMs}},
		Doc:      `Time after which the active segment is rolled even if not full, so retention and compaction can act on it.`},
	{Name: UncleanLeaderElectionEnable, Type: Boolean, Default: "false", Synonyms: syn("unclean.leader.election.enable"),
		Doc: `Whether a replica outside the ISR may become leader when no in-sync replica is left, at the risk of losing acknowledged data.`},
}

var topicIndex = func() map[string]*Def {
	m := make(map[string]*Def, len(topicDefs))
	for i := range topicDefs {
		m[topicDefs[i].Name] = &topicDefs[i]
	}
	return m
}()

// removedTopicKeys are topic keys older Kafka versions defined and Kafka 4
// rejects, with the reason given back to the client.
var removedTopicKeys = map[string]string{
	"message.format.version":              "removed in Kafka 4: only message format v2 exists",
	"message.downconversion.enable":       "removed in Kafka 4: the broker never down-converts",
	"message.timestamp.difference.max.ms": "removed in Kafka 4: use message.timestamp.before.max.ms and message.timestamp.after.max.ms",
}

// TopicDefs returns every topic key's definition, sorted by name. The
// slice is a copy; the Defs' validators are shared.
func TopicDefs() []Def {
	out := make([]Def, len(topicDefs))
	copy(out, topicDefs)
	return out
}

// LookupTopic returns the definition of a topic key.
func LookupTopic(name string) (Def, bool) {
	d, ok := topicIndex[name]
	if !ok {
		return Def{}, false
	}
	return *d, true
}

// ValidateTopicConfigs checks topic overrides as CreateTopics and
// AlterConfigs receive them: every key must be a Kafka 4 topic key
// (*UnknownKeyError otherwise), every value must parse and be in range
// (*ValueError), and the values must agree with each other
// (min.compaction.lag.ms ≤ max.compaction.lag.ms; no remote storage).
// Keys are checked in sorted order so the error is deterministic. The
// broker answers any error with INVALID_CONFIG and the error's text.
func ValidateTopicConfigs(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, ok := topicIndex[k]
		if !ok {
			return &UnknownKeyError{Key: k, Why: removedTopicKeys[k]}
		}
		if err := d.Check(m[k]); err != nil {
			return err
		}
	}
	return validateTopicCombination(func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return topicIndex[k].Default
	})
}

// validateTopicCombination checks rules that span keys, given each key's
// effective value.
func validateTopicCombination(get func(string) string) error {
	minLag, _ := strconv.ParseInt(strings.TrimSpace(get(MinCompactionLagMs)), 10, 64)
	maxLag, _ := strconv.ParseInt(strings.TrimSpace(get(MaxCompactionLagMs)), 10, 64)
	if minLag > maxLag {
		return &ValueError{Key: MinCompactionLagMs, Value: strconv.FormatInt(minLag, 10),
			Problem: fmt.Sprintf("conflicts with %s (%d): the minimum compaction lag must not exceed the maximum", MaxCompactionLagMs, maxLag)}
	}
	if strings.EqualFold(strings.TrimSpace(get(RemoteStorageEnable)), "true") {
		return &ValueError{Key: RemoteStorageEnable, Value: "true",
			Problem: "tiered storage is not available on this broker; topics cannot use remote log storage"}
	}
	return nil
}
