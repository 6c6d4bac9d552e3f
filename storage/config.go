package storage

import (
	"math"
	"strings"
	"time"
)

// Config is one partition log's settings. Field comments give the Kafka
// topic-config key each field mirrors; DefaultConfig returns Kafka's
// defaults. Start from DefaultConfig: zero is taken literally where Kafka
// allows it (RetentionMs 0 deletes every inactive segment).
type Config struct {
	SegmentBytes           int64   // segment.bytes (default 1 GiB)
	SegmentMs              int64   // segment.ms (default 7 days)
	SegmentIndexBytes      int     // segment.index.bytes (default 10 MiB): index files preallocated to this, trimmed on roll/close
	IndexIntervalBytes     int     // index.interval.bytes (4096)
	MaxMessageBytes        int     // max.message.bytes (1048588): max size of one batch
	RetentionMs            int64   // retention.ms (7 days; -1 infinite)
	RetentionBytes         int64   // retention.bytes (-1)
	CleanupPolicy          string  // cleanup.policy: "delete" | "compact" | "compact,delete"
	DeleteRetentionMs      int64   // delete.retention.ms (1 day)
	MinCompactionLagMs     int64   // min.compaction.lag.ms (0)
	MaxCompactionLagMs     int64   // max.compaction.lag.ms (math.MaxInt64)
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio (0.5)
	FlushMessages          int64   // flush.messages (math.MaxInt64)
	FlushMs                int64   // flush.ms (math.MaxInt64)
	MessageTimestampType   string  // message.timestamp.type: "CreateTime" | "LogAppendTime"
	// Under CreateTime, how far a record's timestamp may lie before or
	// after the broker's clock (KIP-937); math.MaxInt64 disables a side.
	MessageTimestampBeforeMaxMs int64 // message.timestamp.before.max.ms (math.MaxInt64)
	MessageTimestampAfterMaxMs  int64 // message.timestamp.after.max.ms (3600000 since Kafka 4, KIP-1030)
	Durable                     bool  // Runnel option: fsync before Append returns
	FileDeleteDelayMs           int64 // file.delete.delay.ms (60000)
}

// DefaultConfig returns Kafka's topic-config defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * 24 * 3600 * 1000,
		SegmentIndexBytes:      10 << 20,
		IndexIntervalBytes:     4096,
		MaxMessageBytes:        1048588,
		RetentionMs:            7 * 24 * 3600 * 1000,
		RetentionBytes:         -1,
		CleanupPolicy:          "delete",
		DeleteRetentionMs:      24 * 3600 * 1000,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
		MinCleanableDirtyRatio: 0.5,
		FlushMessages:          math.MaxInt64,
		FlushMs:                math.MaxInt64,
		MessageTimestampType:   "CreateTime",
		FileDeleteDelayMs:      60000,

		MessageTimestampBeforeMaxMs: math.MaxInt64,
		MessageTimestampAfterMaxMs:  3600 * 1000,
	}
}

// normalized replaces zero values of fields for which zero is not a valid
// Kafka setting (segment sizes and times, max.message.bytes, flush.*,
// cleanup.policy, message.timestamp.type, the compaction ratio and lag) with
// their defaults. Fields where zero is meaningful — retention.ms,
// retention.bytes, index.interval.bytes, delete.retention.ms,
// min.compaction.lag.ms, file.delete.delay.ms,
// message.timestamp.{before,after}.max.ms — are taken literally, so
// build configs from DefaultConfig().
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.SegmentBytes > math.MaxInt32 {
		c.SegmentBytes = math.MaxInt32 // positions in .index are 32-bit
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	if c.SegmentIndexBytes < 2*timeEntrySize {
		c.SegmentIndexBytes = 2 * timeEntrySize
	}
	if c.IndexIntervalBytes < 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.RetentionMs < 0 {
		c.RetentionMs = -1
	}
	if c.RetentionBytes < 0 {
		c.RetentionBytes = -1
	}
	if c.CleanupPolicy == "" {
		c.CleanupPolicy = d.CleanupPolicy
	}
	if c.MaxCompactionLagMs <= 0 {
		c.MaxCompactionLagMs = d.MaxCompactionLagMs
	}
	if c.MinCleanableDirtyRatio <= 0 {
		c.MinCleanableDirtyRatio = d.MinCleanableDirtyRatio
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = d.FlushMessages
	}
	if c.FlushMs <= 0 {
		c.FlushMs = d.FlushMs
	}
	if c.MessageTimestampType == "" {
		c.MessageTimestampType = d.MessageTimestampType
	}
	if c.FileDeleteDelayMs < 0 {
		c.FileDeleteDelayMs = 0
	}
	if c.MessageTimestampBeforeMaxMs < 0 {
		c.MessageTimestampBeforeMaxMs = d.MessageTimestampBeforeMaxMs
	}
	if c.MessageTimestampAfterMaxMs < 0 {
		c.MessageTimestampAfterMaxMs = d.MessageTimestampAfterMaxMs
	}
	return c
}

func (c Config) logAppendTime() bool { return c.MessageTimestampType == "LogAppendTime" }

func (c Config) compacted() bool { return strings.Contains(c.CleanupPolicy, "compact") }

func (c Config) deletes() bool {
	return c.CleanupPolicy == "" || strings.Contains(c.CleanupPolicy, "delete")
}

// msDuration converts a millisecond setting to a Duration without overflow.
func msDuration(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}
