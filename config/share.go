package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Share groups (KIP-932): Kafka 4.1's broker keys. Kafka 4.1 serves share
// groups when the share.version feature is 1 or its internal key
// group.share.enable is true; Runnel has no feature levels yet, so
// group.share.enable is the switch.

var shareDefs = []Def{
	{Name: "group.share.enable", Type: Boolean, Default: "false", Doc: `Serve share groups (KIP-932): ShareGroupHeartbeat, ShareFetch, ShareAcknowledge and their admin APIs. Off by default, as in Kafka 4.1 (where the share.version feature also enables them).`},
	{Name: "group.share.session.timeout.ms", Type: Int, Default: "45000", Validate: atLeast(1), Doc: `Session timeout of share group members: a member that does not heartbeat within it leaves the group.`},
	{Name: "group.share.min.session.timeout.ms", Type: Int, Default: "45000", Validate: atLeast(1), Doc: `Shortest share.session.timeout.ms a share group may be given.`},
	{Name: "group.share.max.session.timeout.ms", Type: Int, Default: "60000", Validate: atLeast(1), Doc: `Longest share.session.timeout.ms a share group may be given.`},
	{Name: "group.share.heartbeat.interval.ms", Type: Int, Default: "5000", Validate: atLeast(1), Doc: `Heartbeat interval the coordinator gives share group members.`},
	{Name: "group.share.min.heartbeat.interval.ms", Type: Int, Default: "5000", Validate: atLeast(1), Doc: `Shortest share.heartbeat.interval.ms a share group may be given.`},
	{Name: "group.share.max.heartbeat.interval.ms", Type: Int, Default: "15000", Validate: atLeast(1), Doc: `Longest share.heartbeat.interval.ms a share group may be given.`},
	{Name: "group.share.max.size", Type: Int, Default: "200", Validate: between(1, 1000), Doc: `Most members of one share group.`},
	{Name: "group.share.record.lock.duration.ms", Type: Int, Default: "30000", Validate: between(1000, 3600000), Doc: `How long a share group member holds a record it acquired before the record is offered again (share.record.lock.duration.ms overrides it per group).`},
	{Name: "group.share.min.record.lock.duration.ms", Type: Int, Default: "15000", Validate: between(1000, 30000), Doc: `Shortest share.record.lock.duration.ms a share group may be given.`},
	{Name: "group.share.max.record.lock.duration.ms", Type: Int, Default: "60000", Validate: between(30000, 3600000), Doc: `Longest share.record.lock.duration.ms a share group may be given.`},
	{Name: "group.share.delivery.count.limit", Type: Int, Default: "5", Validate: between(2, 10), Doc: `Deliveries of one record to a share group after which it is archived instead of offered again.`},
	{Name: "group.share.partition.max.record.locks", Type: Int, Default: "2000", Validate: between(100, 10000), Doc: `Most records of one share-partition in flight (between its start offset and the last record acquired); acquisition waits while the window is full.`},
	{Name: "group.share.max.share.sessions", Type: Int, Default: "2000", Validate: atLeast(1), Doc: `Most share sessions a broker keeps; past it, a new session evicts one idle for longer than group.share.session.timeout.ms, else SHARE_SESSION_LIMIT_REACHED.`},
	{Name: "share.coordinator.state.topic.num.partitions", Type: Int, Default: "50", Validate: atLeast(1), Doc: `Partitions of __share_group_state, where share-partition leaders keep their durable state.`},
	{Name: "share.coordinator.state.topic.replication.factor", Type: Short, Default: "3", Validate: atLeast(1), Doc: `Replication factor of __share_group_state. Creating it fails until this many brokers are registered.`},
	{Name: "share.coordinator.state.topic.min.isr", Type: Short, Default: "2", Validate: atLeast(1), Doc: `min.insync.replicas of __share_group_state.`},
	{Name: "share.coordinator.state.topic.segment.bytes", Type: Int, Default: "104857600", Validate: atLeast(1), Doc: `segment.bytes of __share_group_state.`},
}

// ShareConfig is the share-group part of the broker configuration.
type ShareConfig struct {
	Enable                                         bool
	SessionTimeoutMs, MinSessionMs, MaxSessionMs   int32
	HeartbeatMs, MinHeartbeatMs, MaxHeartbeatMs    int32
	MaxSize                                        int32
	RecordLockMs, MinRecordLockMs, MaxRecordLockMs int32
	DeliveryCountLimit                             int32
	PartitionMaxRecordLocks                        int32
	MaxShareSessions                               int32
	StateTopicPartitions                           int32
	StateTopicRF                                   int16
	StateTopicMinISR                               int16
	StateTopicSegmentBytes                         int32
}

func loadShare(g getter) ShareConfig {
	return ShareConfig{
		Enable:                  g.bool("group.share.enable"),
		SessionTimeoutMs:        g.i32("group.share.session.timeout.ms"),
		MinSessionMs:            g.i32("group.share.min.session.timeout.ms"),
		MaxSessionMs:            g.i32("group.share.max.session.timeout.ms"),
		HeartbeatMs:             g.i32("group.share.heartbeat.interval.ms"),
		MinHeartbeatMs:          g.i32("group.share.min.heartbeat.interval.ms"),
		MaxHeartbeatMs:          g.i32("group.share.max.heartbeat.interval.ms"),
		MaxSize:                 g.i32("group.share.max.size"),
		RecordLockMs:            g.i32("group.share.record.lock.duration.ms"),
		MinRecordLockMs:         g.i32("group.share.min.record.lock.duration.ms"),
		MaxRecordLockMs:         g.i32("group.share.max.record.lock.duration.ms"),
		DeliveryCountLimit:      g.i32("group.share.delivery.count.limit"),
		PartitionMaxRecordLocks: g.i32("group.share.partition.max.record.locks"),
		MaxShareSessions:        g.i32("group.share.max.share.sessions"),
		StateTopicPartitions:    g.i32("share.coordinator.state.topic.num.partitions"),
		StateTopicRF:            g.i16("share.coordinator.state.topic.replication.factor"),
		StateTopicMinISR:        g.i16("share.coordinator.state.topic.min.isr"),
		StateTopicSegmentBytes:  g.i32("share.coordinator.state.topic.segment.bytes"),
	}
}

// ParseISODuration parses an ISO-8601 duration as java.time.Duration.parse
// does (PnDTnHnMn.nS, each part optionally signed, the whole optionally
// negated), for share.auto.offset.reset=by_duration:<d>.
func ParseISODuration(d string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(d)
	if m == nil || (m[2] == "" && m[3] == "") || strings.EqualFold(m[3], "T") {
		return 0, fmt.Errorf("config: invalid ISO-8601 duration %q", d)
	}
	var total time.Duration
	for _, p := range []struct {
		s    string
		unit time.Duration
	}{{m[2], 24 * time.Hour}, {m[4], time.Hour}, {m[5], time.Minute}, {m[6], time.Second}} {
		if p.s == "" {
			continue
		}
		n, err := strconv.ParseInt(p.s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("config: invalid ISO-8601 duration %q", d)
		}
		total += time.Duration(n) * p.unit
	}
	if m[7] != "" {
		f, _ := strconv.ParseInt((m[7] + "000000000")[:9], 10, 64)
		if strings.HasPrefix(m[6], "-") {
			f = -f
		}
		total += time.Duration(f)
	}
	if m[1] == "-" {
		total = -total
	}
	return total, nil
}
