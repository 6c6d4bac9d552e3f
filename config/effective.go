package config

import (
	"fmt"
	"strconv"
)

// Topic is a topic's configuration with every key resolved (override, else
// broker synonyms, else default) and typed, for the storage layer and the
// produce path.
type Topic struct {
	CleanupPolicy               []string
	Compact, Delete             bool // from CleanupPolicy
	CompressionType             string
	CompressionGzipLevel        int32
	CompressionLz4Level         int32
	CompressionZstdLevel        int32
	DeleteRetentionMs           int64
	FileDeleteDelayMs           int64
	FlushMessages               int64
	FlushMs                     int64
	FollowerThrottledReplicas   []string
	IndexIntervalBytes          int32
	LeaderThrottledReplicas     []string
	LocalRetentionBytes         int64
	LocalRetentionMs            int64
	MaxCompactionLagMs          int64
	MaxMessageBytes             int32
	MessageTimestampAfterMaxMs  int64
	MessageTimestampBeforeMaxMs int64
	// LogAppendTime is true when message.timestamp.type is LogAppendTime.
	LogAppendTime               bool
	MinCleanableDirtyRatio      float64
	MinCompactionLagMs          int64
	MinInsyncReplicas           int32
	Preallocate                 bool
	RemoteStorageEnable         bool
	RetentionBytes              int64 // -1: no size limit
	RetentionMs                 int64 // -1: no time limit
	SegmentBytes                int32
	SegmentIndexBytes           int32
	SegmentJitterMs             int64
	SegmentMs                   int64
	UncleanLeaderElectionEnable bool
}

// EffectiveTopic resolves a topic's configuration from its overrides and
// the broker's static and dynamic configs, the same way DescribeTopic
// reports it. Overrides are validated first (ValidateTopicConfigs), so a
// bad stored override is reported rather than silently replaced.
func EffectiveTopic(b *Broker, dyn Dynamic, overrides map[string]string) (Topic, error) {
	if err := ValidateTopicConfigs(overrides); err != nil {
		return Topic{}, err
	}
	vals := map[string]string{}
	for _, e := range DescribeTopic(b, dyn, overrides) {
		if e.Value != nil {
			vals[e.Name] = *e.Value
		}
	}
	var firstErr error
	i64 := func(k string) int64 {
		n, err := strconv.ParseInt(vals[k], 10, 64)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("config: topic key %s resolved to %q, not an integer", k, vals[k])
		}
		return n
	}
	i32 := func(k string) int32 { return int32(i64(k)) }
	f64 := func(k string) float64 {
		f, err := strconv.ParseFloat(vals[k], 64)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("config: topic key %s resolved to %q, not a number", k, vals[k])
		}
		return f
	}
	boolean := func(k string) bool { return vals[k] == "true" }

	t := Topic{
		CleanupPolicy:               SplitList(vals[CleanupPolicy]),
		CompressionType:             vals[CompressionType],
		CompressionGzipLevel:        i32(CompressionGzipLevel),
		CompressionLz4Level:         i32(CompressionLz4Level),
		CompressionZstdLevel:        i32(CompressionZstdLevel),
		DeleteRetentionMs:           i64(DeleteRetentionMs),
		FileDeleteDelayMs:           i64(FileDeleteDelayMs),
		FlushMessages:               i64(FlushMessages),
		FlushMs:                     i64(FlushMs),
		FollowerThrottledReplicas:   SplitList(vals[FollowerReplicationThrottledReplicas]),
		IndexIntervalBytes:          i32(IndexIntervalBytes),
		LeaderThrottledReplicas:     SplitList(vals[LeaderReplicationThrottledReplicas]),
		LocalRetentionBytes:         i64(LocalRetentionBytes),
		LocalRetentionMs:            i64(LocalRetentionMs),
		MaxCompactionLagMs:          i64(MaxCompactionLagMs),
		MaxMessageBytes:             i32(MaxMessageBytes),
		MessageTimestampAfterMaxMs:  i64(MessageTimestampAfterMaxMs),
		MessageTimestampBeforeMaxMs: i64(MessageTimestampBeforeMaxMs),
		LogAppendTime:               vals[MessageTimestampType] == "LogAppendTime",
		MinCleanableDirtyRatio:      f64(MinCleanableDirtyRatio),
		MinCompactionLagMs:          i64(MinCompactionLagMs),
		MinInsyncReplicas:           i32(MinInsyncReplicas),
		Preallocate:                 boolean(Preallocate),
		RemoteStorageEnable:         boolean(RemoteStorageEnable),
		RetentionBytes:              i64(RetentionBytes),
		RetentionMs:                 i64(RetentionMs),
		SegmentBytes:                i32(SegmentBytes),
		SegmentIndexBytes:           i32(SegmentIndexBytes),
		SegmentJitterMs:             i64(SegmentJitterMs),
		SegmentMs:                   i64(SegmentMs),
		UncleanLeaderElectionEnable: boolean(UncleanLeaderElectionEnable),
	}
	for _, p := range t.CleanupPolicy {
		switch p {
		case "compact":
			t.Compact = true
		case "delete":
			t.Delete = true
		}
	}
	if t.RetentionMs < 0 {
		t.RetentionMs = -1
	}
	if firstErr != nil {
		return Topic{}, firstErr
	}
	return t, nil
}
