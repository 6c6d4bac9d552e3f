package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Group configs: Kafka 4's dynamic per-group settings (KIP-848, KIP-932,
// KIP-1071), set with IncrementalAlterConfigs or AlterConfigs on config
// resource GROUP (32) and described with DescribeConfigs. A key a group
// does not set takes its value from the broker's group.<key> where the
// broker has one, else from the key's own default.
//
// Runnel serves consumer (KIP-848) and share (KIP-932) groups; the
// streams.* keys are stored, validated and described as Kafka does, and
// have no effect. Their broker-level bounds are Kafka's defaults, since
// Runnel's broker does not take group.streams.* keys (streams groups are
// not served).

// Group config keys used outside this file.
const (
	GroupConsumerSessionTimeoutMs    = "consumer.session.timeout.ms"
	GroupConsumerHeartbeatIntervalMs = "consumer.heartbeat.interval.ms"
)

var groupDefs = []Def{
	{Name: GroupConsumerSessionTimeoutMs, Type: Int, Default: "45000", Validate: atLeast(1), Doc: `Session timeout of this consumer-protocol group's members: a member that does not heartbeat within it leaves the group.`},
	{Name: GroupConsumerHeartbeatIntervalMs, Type: Int, Default: "5000", Validate: atLeast(1), Doc: `Heartbeat interval the coordinator gives this consumer-protocol group's members.`},
	{Name: "share.session.timeout.ms", Type: Int, Default: "45000", Validate: atLeast(1), Doc: `Session timeout of this share group's members.`},
	{Name: "share.heartbeat.interval.ms", Type: Int, Default: "5000", Validate: atLeast(1), Doc: `Heartbeat interval of this share group's members.`},
	{Name: "share.record.lock.duration.ms", Type: Int, Default: "30000", Validate: atLeast(1000), Doc: `How long a share-group member holds a record it acquired.`},
	{Name: "share.auto.offset.reset", Type: String, Default: "latest", Validate: shareAutoOffsetReset, Doc: `Where a share group starts on a partition it has no state for: earliest, latest, or by_duration:<ISO-8601 duration> back from now.`},
	{Name: "share.isolation.level", Type: String, Default: "read_uncommitted", Validate: oneOf("read_committed", "read_uncommitted"), Doc: `Whether a share group delivers records of aborted transactions (read_uncommitted) or only committed ones.`},
	{Name: "streams.session.timeout.ms", Type: Int, Default: "45000", Validate: atLeast(1), Doc: `Session timeout of this streams group's members (streams groups are not served by Runnel).`},
	{Name: "streams.heartbeat.interval.ms", Type: Int, Default: "5000", Validate: atLeast(1), Doc: `Heartbeat interval of this streams group's members (streams groups are not served by Runnel).`},
	{Name: "streams.num.standby.replicas", Type: Int, Default: "0", Validate: atLeast(0), Doc: `Standby replicas of each task of this streams group (streams groups are not served by Runnel).`},
}

var groupIndex = func() map[string]*Def {
	sort.Slice(groupDefs, func(i, j int) bool { return groupDefs[i].Name < groupDefs[j].Name })
	m := make(map[string]*Def, len(groupDefs))
	for i := range groupDefs {
		m[groupDefs[i].Name] = &groupDefs[i]
	}
	return m
}()

// LookupGroup returns the definition of a group config key.
func LookupGroup(name string) (Def, bool) {
	d, ok := groupIndex[name]
	if !ok {
		return Def{}, false
	}
	return *d, true
}

// groupBounds are the broker-level limits a group's values must respect,
// each with the broker key Kafka names in its error message.
type groupBound struct {
	key      string // group key
	min, max int64
	minKey   string // broker key of the lower bound ("" = none)
	maxKey   string // broker key of the upper bound
}

func (b *Broker) groupBounds() []groupBound {
	// The streams bounds are Kafka's defaults (see above).
	return []groupBound{
		{GroupConsumerHeartbeatIntervalMs, int64(b.ConsumerGroupMinHeartbeatMs), int64(b.ConsumerGroupMaxHeartbeatMs), "group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"},
		{GroupConsumerSessionTimeoutMs, int64(b.ConsumerGroupMinSessionMs), int64(b.ConsumerGroupMaxSessionMs), "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"},
		{"share.heartbeat.interval.ms", int64(b.Share.MinHeartbeatMs), int64(b.Share.MaxHeartbeatMs), "group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"},
		{"share.session.timeout.ms", int64(b.Share.MinSessionMs), int64(b.Share.MaxSessionMs), "group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"},
		{"share.record.lock.duration.ms", int64(b.Share.MinRecordLockMs), int64(b.Share.MaxRecordLockMs), "group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"},
		{"streams.heartbeat.interval.ms", 5000, 15000, "group.streams.min.heartbeat.interval.ms", "group.streams.max.heartbeat.interval.ms"},
		{"streams.session.timeout.ms", 45000, 60000, "group.streams.min.session.timeout.ms", "group.streams.max.session.timeout.ms"},
		{"streams.num.standby.replicas", 0, 2, "", "group.streams.max.standby.replicas"},
	}
}

// GroupDefaults are the values of a group that sets no key: the broker's
// group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms
// for the consumer keys, each other key's own default.
func (b *Broker) GroupDefaults() map[string]string {
	m := make(map[string]string, len(groupDefs))
	for _, d := range groupDefs {
		m[d.Name] = d.Default
	}
	if b != nil {
		m[GroupConsumerSessionTimeoutMs] = strconv.Itoa(int(b.ConsumerGroupSessionTimeoutMs))
		m[GroupConsumerHeartbeatIntervalMs] = strconv.Itoa(int(b.ConsumerGroupHeartbeatMs))
	}
	return m
}

// ValidateGroupConfigs checks the configs a group would have after an
// AlterConfigs or IncrementalAlterConfigs, as Kafka's controller does:
// every key must be a group key and every value valid for its type; then,
// with the unset keys at their defaults, each value must lie within the
// broker's bounds and each session timeout must exceed its heartbeat
// interval. Keys are checked in sorted order; the message is Kafka's.
func (b *Broker) ValidateGroupConfigs(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := groupIndex[k]; !ok {
			return fmt.Errorf("Unknown group config name: %s", k)
		}
	}
	// Kafka fills only the consumer keys from the broker before it checks
	// the bounds; the others from the group keys' own defaults.
	eff := map[string]int64{}
	for _, d := range groupDefs {
		v := d.Default
		if d.Name == GroupConsumerSessionTimeoutMs {
			v = strconv.Itoa(int(b.ConsumerGroupSessionTimeoutMs))
		} else if d.Name == GroupConsumerHeartbeatIntervalMs {
			v = strconv.Itoa(int(b.ConsumerGroupHeartbeatMs))
		}
		if given, ok := m[d.Name]; ok {
			if err := d.Check(given); err != nil {
				return err
			}
			v, _ = Canonical(d.Type, given)
		}
		if d.Type == Int {
			n, _ := strconv.ParseInt(v, 10, 64)
			eff[d.Name] = n
		}
	}
	for _, g := range b.groupBounds() {
		v := eff[g.key]
		if g.minKey != "" && v < g.min {
			return fmt.Errorf("%s must be greater than or equal to %s", g.key, g.minKey)
		}
		if v > g.max {
			return fmt.Errorf("%s must be less than or equal to %s", g.key, g.maxKey)
		}
	}
	for _, p := range []string{"consumer", "share", "streams"} {
		if eff[p+".session.timeout.ms"] <= eff[p+".heartbeat.interval.ms"] {
			return fmt.Errorf("%s.session.timeout.ms must be greater than %s.heartbeat.interval.ms", p, p)
		}
	}
	return nil
}

// DescribeGroup describes every group key for a group with the given
// overrides, sorted by name. As Kafka 4.1 does, a key the group sets has
// source GROUP_CONFIG and one synonym of that source; any other key has
// the default value (GroupDefaults) with source DEFAULT_CONFIG and one
// synonym of that source.
func (b *Broker) DescribeGroup(overrides map[string]string) []Entry {
	defaults := b.GroupDefaults()
	out := make([]Entry, 0, len(groupDefs))
	for i := range groupDefs {
		d := &groupDefs[i]
		v, src := defaults[d.Name], SourceDefault
		if o, ok := overrides[d.Name]; ok {
			v, src = normalise(d, o), SourceGroup
		}
		out = append(out, Entry{
			Name: d.Name, Value: strp(v), Source: src, Type: d.Type, Doc: d.Doc,
			Synonyms: []EntrySynonym{{Name: d.Name, Value: strp(v), Source: src}},
		})
	}
	return out
}

// GroupTimeoutMs returns a consumer group's value of key (one of the
// consumer.* int keys) from its overrides, or false when it sets none or
// the stored value does not parse (then the broker's value applies).
func GroupTimeoutMs(overrides map[string]string, key string) (int64, bool) {
	v, ok := overrides[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// isoDuration is java.time.Duration's text form (PnDTnHnMn.nS, any part
// optional but at least one, each signed), case-insensitive.
var isoDuration = regexp.MustCompile(`(?i)^([-+]?)P(?:([-+]?[0-9]+)D)?(T(?:([-+]?[0-9]+)H)?(?:([-+]?[0-9]+)M)?(?:([-+]?[0-9]+)(?:[.,]([0-9]{0,9}))?S)?)?$`)

// shareAutoOffsetReset accepts latest, earliest or by_duration:<d> with a
// non-negative ISO-8601 duration d, as Kafka's validator does (the
// by_duration: prefix is case-sensitive, the duration is not).
func shareAutoOffsetReset(v string) error {
	bad := fmt.Errorf("Invalid value `%s` for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.", v)
	switch v {
	case "latest", "earliest":
		return nil
	}
	d, ok := strings.CutPrefix(v, "by_duration:")
	if !ok {
		return bad
	}
	neg, ok := isoDurationNegative(d)
	if !ok || neg {
		return bad
	}
	return nil
}

// isoDurationNegative parses d as java.time.Duration.parse does and
// reports whether it is negative; ok is false when d does not parse.
func isoDurationNegative(d string) (neg, ok bool) {
	m := isoDuration.FindStringSubmatch(d)
	if m == nil || (m[2] == "" && m[3] == "") || strings.EqualFold(m[3], "T") {
		return false, false
	}
	// Nanoseconds overflow for durations no value here reaches; a sum in
	// big seconds plus a fraction decides the sign.
	part := func(s string, scale int64) (int64, bool) {
		if s == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		return n * scale, true
	}
	var secs int64
	for _, p := range []struct {
		s     string
		scale int64
	}{{m[2], 86400}, {m[4], 3600}, {m[5], 60}, {m[6], 1}} {
		n, ok := part(p.s, p.scale)
		if !ok {
			return false, false
		}
		secs += n
	}
	var frac int64
	if m[7] != "" {
		f, _ := strconv.ParseInt((m[7] + "000000000")[:9], 10, 64)
		if strings.HasPrefix(m[6], "-") {
			f = -f
		}
		frac = f
	}
	neg = secs < 0 || (secs == 0 && frac < 0)
	if m[1] == "-" {
		neg = !neg && (secs != 0 || frac != 0)
	}
	return neg, true
}
