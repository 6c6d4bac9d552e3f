package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

type groupListItem struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func groupList(e *env, args []string) error {
	fs := e.flags()
	var states stringList
	fs.Var(&states, "state", "only groups in this state, e.g. Stable or Empty (repeatable)")
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	gs, err := adm.ListGroups(ctx, states...)
	if err != nil {
		return err
	}
	items := []groupListItem{}
	for _, g := range gs.Sorted() {
		items = append(items, groupListItem{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType, Coordinator: g.Coordinator})
	}
	return e.emit(items, func(w io.Writer) {
		t := newTable(w, "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
		for _, it := range items {
			t.row(it.Group, it.State, it.ProtocolType, it.Coordinator)
		}
		t.flush()
	})
}

type groupDescription struct {
	Group       string         `json:"group"`
	State       string         `json:"state"`
	Protocol    string         `json:"protocol"`
	Coordinator int32          `json:"coordinator"`
	Members     []groupMember  `json:"members"`
	TotalLag    int64          `json:"total_lag"`
	Partitions  []partitionLag `json:"partitions"`
	Error       string         `json:"error,omitempty"`
}

type groupMember struct {
	MemberID   string  `json:"member_id"`
	InstanceID *string `json:"instance_id"`
	ClientID   string  `json:"client_id"`
	ClientHost string  `json:"client_host"`
}

// partitionLag is one partition of a described group: committed is -1
// without a commit, lag -1 when either offset is unknown.
type partitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed_offset"`
	End       int64  `json:"end_offset"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"member_id,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Host      string `json:"client_host,omitempty"`
	Error     string `json:"error,omitempty"`
}

// classicGroupDescription turns kadm's lag of a classic group into the
// CLI's description.
func classicGroupDescription(name string, l kadm.DescribedGroupLag, ok bool) groupDescription {
	d := groupDescription{Group: name, Members: []groupMember{}, Partitions: []partitionLag{}}
	switch {
	case !ok:
		d.Error = "not in the answer"
		return d
	case l.DescribeErr != nil:
		d.Error = errText(l.DescribeErr, "")
	case l.FetchErr != nil:
		d.Error = "offsets: " + errText(l.FetchErr, "")
	case l.State == "Dead" && len(l.Members) == 0 && l.Lag.IsEmpty():
		// Brokers before GROUP_ID_NOT_FOUND in DescribeGroups (v6)
		// describe a group that does not exist as Dead and empty.
		d.Error = "group does not exist"
	}
	d.State, d.Protocol, d.Coordinator = l.State, l.Protocol, l.Coordinator.NodeID
	for _, m := range l.Members {
		d.Members = append(d.Members, groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost})
	}
	for _, pl := range l.Lag.Sorted() {
		p := partitionLag{Topic: pl.Topic, Partition: pl.Partition, Committed: pl.Commit.At, End: pl.End.Offset, Lag: pl.Lag, Error: errText(pl.Err, "")}
		if pl.End.Err != nil {
			p.End = -1
		}
		if pl.Member != nil {
			p.MemberID, p.ClientID, p.Host = pl.Member.MemberID, pl.Member.ClientID, pl.Member.ClientHost
		}
		if p.Lag > 0 {
			d.TotalLag += p.Lag
		}
		d.Partitions = append(d.Partitions, p)
	}
	return d
}

// describeConsumerGroup describes a KIP-848 group: members and their
// assignments from ConsumerGroupDescribe, lag from the group's commits and
// the partitions' end offsets. classic is the classic answer, kept when the
// group is not a consumer-protocol group either.
func describeConsumerGroup(ctx context.Context, adm *kadm.Client, name string, classic kadm.DescribedGroupLag) groupDescription {
	described, err := adm.DescribeConsumerGroups(ctx, name)
	cg, ok := described[name]
	if err != nil || !ok || cg.Err != nil {
		return classicGroupDescription(name, classic, true)
	}
	d := groupDescription{Group: name, State: cg.State, Protocol: cg.AssignorName, Coordinator: cg.Coordinator.NodeID,
		Members: []groupMember{}, Partitions: []partitionLag{}}
	owner := make(map[string]map[int32]kadm.ConsumerGroupMember)
	set := make(kadm.TopicsSet)
	for _, m := range cg.Members {
		d.Members = append(d.Members, groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost})
		m.Assignment.Each(func(t string, p int32) {
			if owner[t] == nil {
				owner[t] = make(map[int32]kadm.ConsumerGroupMember)
			}
			owner[t][p] = m
			set.Add(t, p)
		})
	}
	commits, err := adm.FetchOffsets(ctx, name)
	if err != nil {
		d.Error = "offsets: " + errText(err, "")
		return d
	}
	commits.Each(func(o kadm.OffsetResponse) { set.Add(o.Topic, o.Partition) })
	ends, err := adm.ListEndOffsets(ctx, set.Topics()...)
	if err != nil {
		d.Error = "end offsets: " + errText(err, "")
		return d
	}
	for _, tp := range set.Sorted() {
		for _, p := range tp.Partitions {
			pl := partitionLag{Topic: tp.Topic, Partition: p, Committed: -1, End: -1, Lag: -1}
			if c, ok := commits.Lookup(tp.Topic, p); ok {
				if c.Err != nil {
					pl.Error = errText(c.Err, "")
				} else {
					pl.Committed = c.At
				}
			}
			if x, ok := ends.Lookup(tp.Topic, p); ok {
				if x.Err != nil {
					pl.Error = errText(x.Err, "")
				} else {
					pl.End = x.Offset
				}
			}
			if pl.Committed >= 0 && pl.End >= 0 {
				pl.Lag = max(0, pl.End-pl.Committed)
				d.TotalLag += pl.Lag
			}
			if m, ok := owner[tp.Topic][p]; ok {
				pl.MemberID, pl.ClientID, pl.Host = m.MemberID, m.ClientID, m.ClientHost
			}
			d.Partitions = append(d.Partitions, pl)
		}
	}
	return d
}

func groupDescribe(e *env, args []string) error {
	fs := e.flags()
	groups, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return err
	}
	var out []groupDescription
	nErr := 0
	for _, name := range groups {
		l, ok := lags[name]
		var d groupDescription
		switch {
		case ok && errors.Is(l.DescribeErr, kerr.GroupIDNotFound):
			// Classic DescribeGroups does not describe groups of the
			// KIP-848 consumer protocol (Kafka answers GROUP_ID_NOT_FOUND,
			// as for a group that does not exist); ConsumerGroupDescribe
			// does.
			d = describeConsumerGroup(ctx, adm, name, l)
		default:
			d = classicGroupDescription(name, l, ok)
		}
		if d.Error != "" {
			nErr++
		}
		out = append(out, d)
	}
	if err := e.emit(nonNil(out), func(w io.Writer) { printGroupDescriptions(w, out) }); err != nil {
		return err
	}
	return failed(nErr, len(out), "groups")
}

// offsetText shows an unknown (negative) offset or lag as "-".
func offsetText(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

// resetPlan is the JSON answer of group reset-offsets.
type resetPlan struct {
	Group      string       `json:"group"`
	State      string       `json:"state"`
	Executed   bool         `json:"executed"`
	Partitions []resetEntry `json:"partitions"`
}

type resetEntry struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current_offset"`
	New       int64  `json:"new_offset"`
	Error     string `json:"error,omitempty"`
}

// resetTarget is where reset-offsets moves each partition.
type resetTarget struct {
	kind  string // earliest, latest, offset, datetime, shift
	value int64  // the offset, the millisecond or the shift
}

// parseResetTarget checks that exactly one --to-*/--shift-by was given.
func parseResetTarget(earliest, latest bool, offset int64, datetime string, shift int64) (resetTarget, error) {
	var ts []resetTarget
	if earliest {
		ts = append(ts, resetTarget{kind: "earliest"})
	}
	if latest {
		ts = append(ts, resetTarget{kind: "latest"})
	}
	if offset >= 0 {
		ts = append(ts, resetTarget{kind: "offset", value: offset})
	}
	if datetime != "" {
		ms, err := parseTime(datetime)
		if err != nil {
			return resetTarget{}, usagef("--to-datetime %q: %v", datetime, err)
		}
		ts = append(ts, resetTarget{kind: "datetime", value: ms})
	}
	if shift != 0 {
		ts = append(ts, resetTarget{kind: "shift", value: shift})
	}
	if len(ts) != 1 {
		return resetTarget{}, usagef("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
	}
	return ts[0], nil
}

// parseTime reads RFC 3339 (2026-01-02T15:04:05Z), a date-time without a
// zone (UTC, as kafka-consumer-groups' 'YYYY-MM-DDTHH:mm:SS.sss'), or Unix
// milliseconds.
func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("want RFC 3339, YYYY-MM-DDTHH:MM:SS[.sss] (UTC) or Unix milliseconds")
}

// parseTopicPartitions reads --topic values: "t" (every partition) or
// "t:0,2".
func parseTopicPartitions(items []string) (map[string][]int32, error) {
	out := make(map[string][]int32)
	for _, it := range items {
		topic, parts, hasParts := strings.Cut(it, ":")
		if topic == "" {
			return nil, usagef("--topic %q: want TOPIC or TOPIC:P,P", it)
		}
		if !hasParts {
			out[topic] = nil
			continue
		}
		ps, err := parsePartitions(parts)
		if err != nil {
			return nil, usagef("--topic %q: %v", it, err)
		}
		out[topic] = append(out[topic], ps...)
	}
	return out, nil
}

// parsePartitions reads "0,2,5".
func parsePartitions(s string) ([]int32, error) {
	var ps []int32
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("partition %q: want a number ≥ 0", f)
		}
		ps = append(ps, int32(p))
	}
	return ps, nil
}

// planReset computes each partition's new offset. Offsets are clamped into
// [start, end], as kafka-consumer-groups does, so a reset never points a
// group outside the log.
func planReset(target resetTarget, current, start, end, atTime int64) int64 {
	n := current
	switch target.kind {
	case "earliest":
		n = start
	case "latest":
		n = end
	case "offset":
		n = target.value
	case "datetime":
		n = atTime
		if n < 0 {
			n = end
		}
	case "shift":
		if current < 0 {
			n = end
		} else {
			n = current + target.value
		}
	}
	return max(start, min(n, end))
}

func groupResetOffsets(e *env, args []string) error {
	fs := e.flags()
	var topicFlags stringList
	fs.Var(&topicFlags, "topic", "TOPIC or TOPIC:P,P to reset (repeatable)")
	allTopics := fs.Bool("all-topics", false, "every topic the group has committed offsets for")
	earliest := fs.Bool("to-earliest", false, "reset to the log start offset")
	latest := fs.Bool("to-latest", false, "reset to the end offset")
	toOffset := fs.Int64("to-offset", -1, "reset to this offset (clamped into the log)")
	datetime := fs.String("to-datetime", "", "reset to the first offset at or after this time (RFC 3339, or Unix ms)")
	shift := fs.Int64("shift-by", 0, "move the committed offset by N (negative: back)")
	execute := fs.Bool("execute", false, "commit the new offsets; without it the plan is only printed (dry run)")
	pos, err := e.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	group := pos[0]
	target, err := parseResetTarget(*earliest, *latest, *toOffset, *datetime, *shift)
	if err != nil {
		return err
	}
	want, err := parseTopicPartitions(topicFlags)
	if err != nil {
		return err
	}
	if (len(want) > 0) == *allTopics {
		return usagef("give --topic or --all-topics")
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()

	state, members, err := groupState(ctx, adm, group)
	if err != nil {
		return err
	}
	// Kafka refuses to commit for a group with live members; say so before
	// trying, as kafka-consumer-groups does.
	if *execute && members > 0 {
		return fmt.Errorf("group %s is %s with %d members: offsets can be reset only while it has no members", group, state, members)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("fetch offsets of %s: %w", group, err)
	}

	// The partitions to reset.
	set := make(kadm.TopicsSet)
	if *allTopics {
		for _, o := range committed.Sorted() {
			set.Add(o.Topic, o.Partition)
		}
	} else {
		var whole []string
		for t, ps := range want {
			if ps == nil {
				whole = append(whole, t)
			} else {
				set.Add(t, ps...)
			}
		}
		if len(whole) > 0 {
			tds, err := adm.ListTopics(ctx, whole...)
			if err != nil {
				return err
			}
			for _, t := range whole {
				td, ok := tds[t]
				if !ok || td.Err != nil {
					return fmt.Errorf("topic %s: %v", t, errText(td.Err, "not found"))
				}
				set.Add(t, td.Partitions.Numbers()...)
			}
		}
	}
	topics := set.Topics()
	if len(topics) == 0 {
		return fmt.Errorf("group %s has no committed offsets to reset", group)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	var atTime kadm.ListedOffsets
	if target.kind == "datetime" {
		if atTime, err = adm.ListOffsetsAfterMilli(ctx, target.value, topics...); err != nil {
			return err
		}
	}

	plan := resetPlan{Group: group, State: state, Executed: *execute, Partitions: []resetEntry{}}
	newOffsets := make(kadm.Offsets)
	nErr := 0
	for _, tp := range set.Sorted() {
		for _, p := range tp.Partitions {
			en := resetEntry{Topic: tp.Topic, Partition: p, Current: -1, New: -1}
			if c, ok := committed.Lookup(tp.Topic, p); ok && c.Err == nil {
				en.Current = c.At
			}
			s, sok := starts.Lookup(tp.Topic, p)
			x, xok := ends.Lookup(tp.Topic, p)
			switch {
			case !sok || !xok:
				en.Error = "partition not found"
			case s.Err != nil:
				en.Error = errText(s.Err, "")
			case x.Err != nil:
				en.Error = errText(x.Err, "")
			default:
				at := int64(-1)
				if o, ok := atTime.Lookup(tp.Topic, p); ok && o.Err == nil {
					at = o.Offset
				}
				en.New = planReset(target, en.Current, s.Offset, x.Offset, at)
				newOffsets.Add(kadm.Offset{Topic: tp.Topic, Partition: p, At: en.New, LeaderEpoch: -1})
			}
			if en.Error != "" {
				nErr++
			}
			plan.Partitions = append(plan.Partitions, en)
		}
	}
	if *execute && nErr == 0 {
		resps, err := adm.CommitOffsets(ctx, group, newOffsets)
		if err != nil {
			return err
		}
		for i, en := range plan.Partitions {
			if r, ok := resps.Lookup(en.Topic, en.Partition); ok && r.Err != nil {
				plan.Partitions[i].Error = errText(r.Err, "")
				nErr++
			}
		}
	}
	if err := e.emit(plan, func(w io.Writer) {
		t := newTable(w, "GROUP", "TOPIC", "PARTITION", "CURRENT", "NEW", "ERROR")
		for _, en := range plan.Partitions {
			t.row(group, en.Topic, en.Partition, offsetText(en.Current), offsetText(en.New), en.Error)
		}
		t.flush()
		if !plan.Executed {
			fmt.Fprintln(w, "\ndry run: nothing committed; add --execute to commit these offsets")
		}
	}); err != nil {
		return err
	}
	return failed(nErr, len(plan.Partitions), "partitions")
}

// groupState is a group's state and member count, of a classic or a
// KIP-848 group; a group that does not exist is Dead with no members (its
// offsets may still be set, as kafka-consumer-groups allows).
func groupState(ctx context.Context, adm *kadm.Client, group string) (string, int, error) {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return "", 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	dg := described[group]
	switch {
	case dg.Err == nil:
		return dg.State, len(dg.Members), nil
	case !errors.Is(dg.Err, kerr.GroupIDNotFound):
		return "", 0, fmt.Errorf("describe group %s: %w", group, dg.Err)
	}
	cgs, err := adm.DescribeConsumerGroups(ctx, group)
	if cg, ok := cgs[group]; err == nil && ok && cg.Err == nil {
		return cg.State, len(cg.Members), nil
	}
	return "Dead", 0, nil
}

type groupResult struct {
	Group string `json:"group"`
	Error string `json:"error,omitempty"`
}

func groupDelete(e *env, args []string) error {
	fs := e.flags()
	groups, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	resps, err := adm.DeleteGroups(ctx, groups...)
	if err != nil {
		return err
	}
	var rs []groupResult
	nErr := 0
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			nErr++
		}
		rs = append(rs, groupResult{Group: r.Group, Error: errText(r.Err, "")})
	}
	if err := e.emit(nonNil(rs), func(w io.Writer) {
		t := newTable(w, "GROUP", "ERROR")
		for _, r := range rs {
			t.row(r.Group, r.Error)
		}
		t.flush()
	}); err != nil {
		return err
	}
	return failed(nErr, len(rs), "groups")
}

// printGroupDescriptions is group describe's text: per group a header and
// a table of partitions with committed offset, end offset and lag.
func printGroupDescriptions(w io.Writer, out []groupDescription) {
	for i, d := range out {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "GROUP        %s\nSTATE        %s\nCOORDINATOR  %d\nPROTOCOL     %s\nMEMBERS      %d\nTOTAL-LAG    %d\n", d.Group, d.State, d.Coordinator, d.Protocol, len(d.Members), d.TotalLag)
		if d.Error != "" {
			fmt.Fprintf(w, "ERROR        %s\n", d.Error)
		}
		if len(d.Partitions) > 0 {
			fmt.Fprintln(w)
			t := newTable(w, "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER", "CLIENT-ID", "HOST", "ERROR")
			for _, p := range d.Partitions {
				t.row(p.Topic, p.Partition, offsetText(p.Committed), offsetText(p.End), offsetText(p.Lag), p.MemberID, p.ClientID, p.Host, p.Error)
			}
			t.flush()
		}
	}
}
