package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// keyValues parses k=v items; the value may contain '='.
func keyValues(flagName string, items []string) (map[string]string, []string, error) {
	m := make(map[string]string, len(items))
	var order []string
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || k == "" {
			return nil, nil, usagef("%s %q: want key=value", flagName, it)
		}
		if _, dup := m[k]; !dup {
			order = append(order, k)
		}
		m[k] = v
	}
	return m, order, nil
}

// topicID formats a topic id as Kafka prints its Uuids (URL-safe base64
// without padding, as kafka-topics --describe shows them); "" for none.
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// topicResult is the JSON item of create, alter-config, add-partitions and
// delete.
type topicResult struct {
	Topic             string `json:"topic"`
	ID                string `json:"id,omitempty"`
	Partitions        int32  `json:"partitions,omitempty"`
	ReplicationFactor int16  `json:"replication_factor,omitempty"`
	Error             string `json:"error,omitempty"`
}

func (e *env) printTopicResults(rs []topicResult, withShape bool) error {
	nErr := 0
	for _, r := range rs {
		if r.Error != "" {
			nErr++
		}
	}
	err := e.emit(nonNil(rs), func(w io.Writer) {
		var t *table
		if withShape {
			t = newTable(w, "TOPIC", "ID", "PARTITIONS", "REPLICAS", "ERROR")
		} else {
			t = newTable(w, "TOPIC", "ERROR")
		}
		for _, r := range rs {
			if withShape && (r.Error != "" || r.Partitions == 0) {
				t.row(r.Topic, r.ID, "", "", r.Error)
			} else if withShape {
				t.row(r.Topic, r.ID, r.Partitions, r.ReplicationFactor, r.Error)
			} else {
				t.row(r.Topic, r.Error)
			}
		}
		t.flush()
	})
	if err != nil {
		return err
	}
	return failed(nErr, len(rs), "topics")
}

func topicCreate(e *env, args []string) error {
	fs := e.flags()
	partitions := fs.Int("p", -1, "partitions (-1: the broker's num.partitions)")
	replicas := fs.Int("r", -1, "replication factor (-1: the broker's default.replication.factor)")
	var configs stringList
	fs.Var(&configs, "c", "topic config key=value (repeatable)")
	dryRun := fs.Bool("dry-run", false, "validate only (CreateTopics validate_only)")
	ifNotExists := fs.Bool("if-not-exists", false, "a topic that already exists is not an error (as kafka-topics --if-not-exists)")
	topics, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	kv, _, err := keyValues("-c", configs)
	if err != nil {
		return err
	}
	cfg := make(map[string]*string, len(kv))
	for k, v := range kv {
		cfg[k] = kadm.StringPtr(v)
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	create := adm.CreateTopics
	if *dryRun {
		create = adm.ValidateCreateTopics
	}
	resps, err := create(ctx, int32(*partitions), int16(*replicas), cfg, topics...)
	if err != nil {
		return err
	}
	var rs []topicResult
	for _, r := range resps.Sorted() {
		if *ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists) {
			r.Err = nil
		}
		tr := topicResult{Topic: r.Topic, ID: topicID(r.ID), Error: errText(r.Err, r.ErrMessage)}
		// An existing topic (--if-not-exists) comes back without its shape.
		if r.Err == nil && r.NumPartitions > 0 {
			tr.Partitions, tr.ReplicationFactor = r.NumPartitions, r.ReplicationFactor
		}
		rs = append(rs, tr)
	}
	return e.printTopicResults(rs, true)
}

// topicListItem is the JSON item of topic list.
type topicListItem struct {
	Topic             string `json:"topic"`
	ID                string `json:"id,omitempty"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
	Error             string `json:"error,omitempty"`
}

func topicList(e *env, args []string) error {
	fs := e.flags()
	internal := fs.Bool("i", false, "include internal topics (__consumer_offsets, __transaction_state)")
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	list := adm.ListTopics
	if *internal {
		list = adm.ListTopicsWithInternal
	}
	tds, err := list(ctx)
	if err != nil {
		return err
	}
	var items []topicListItem
	nErr := 0
	for _, td := range tds.Sorted() {
		it := topicListItem{Topic: td.Topic, ID: topicID(td.ID), Partitions: len(td.Partitions), ReplicationFactor: td.Partitions.NumReplicas(), Internal: td.IsInternal, Error: errText(td.Err, "")}
		if td.Err != nil {
			nErr++
		}
		items = append(items, it)
	}
	if err := e.emit(nonNil(items), func(w io.Writer) {
		t := newTable(w, "TOPIC", "PARTITIONS", "REPLICAS", "ID", "ERROR")
		for _, it := range items {
			name := it.Topic
			if it.Internal {
				name += " (internal)"
			}
			t.row(name, it.Partitions, it.ReplicationFactor, it.ID, it.Error)
		}
		t.flush()
	}); err != nil {
		return err
	}
	return failed(nErr, len(items), "topics")
}

// topicDescription is the JSON item of topic describe.
type topicDescription struct {
	Topic      string           `json:"topic"`
	ID         string           `json:"id,omitempty"`
	Internal   bool             `json:"internal"`
	Partitions []partitionState `json:"partitions"`
	Configs    []configEntry    `json:"configs"`
	Error      string           `json:"error,omitempty"`
}

type partitionState struct {
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	StartOffset     int64   `json:"start_offset"`
	EndOffset       int64   `json:"end_offset"`
	Error           string  `json:"error,omitempty"`
}

type configEntry struct {
	Key       string  `json:"key"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive"`
}

func topicDescribe(e *env, args []string) error {
	fs := e.flags()
	all := fs.Bool("a", false, "all configs, defaults included (default: only those set on the topic or the broker)")
	topics, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return err
	}
	// Offsets and configs are best effort: a missing topic already carries
	// its error from Metadata.
	starts, _ := adm.ListStartOffsets(ctx, topics...)
	ends, _ := adm.ListEndOffsets(ctx, topics...)
	rcs, cfgErr := adm.DescribeTopicConfigs(ctx, topics...)
	configs := make(map[string]kadm.ResourceConfig, len(rcs))
	for _, rc := range rcs {
		configs[rc.Name] = rc
	}

	var out []topicDescription
	nErr := 0
	for _, name := range topics {
		td, ok := md.Topics[name]
		d := topicDescription{Topic: name, Partitions: []partitionState{}, Configs: []configEntry{}}
		switch {
		case !ok:
			d.Error = "not in the metadata answer"
		case td.Err != nil:
			d.Error = errText(td.Err, "")
		}
		if d.Error != "" {
			nErr++
			out = append(out, d)
			continue
		}
		d.Internal, d.ID = td.IsInternal, topicID(td.ID)
		for _, pd := range td.Partitions.Sorted() {
			ps := partitionState{Partition: pd.Partition, Leader: pd.Leader, LeaderEpoch: pd.LeaderEpoch,
				Replicas: nonNil(pd.Replicas), ISR: nonNil(pd.ISR), OfflineReplicas: nonNil(pd.OfflineReplicas),
				StartOffset: -1, EndOffset: -1, Error: errText(pd.Err, "")}
			if o, ok := starts.Lookup(name, pd.Partition); ok && o.Err == nil {
				ps.StartOffset = o.Offset
			}
			if o, ok := ends.Lookup(name, pd.Partition); ok && o.Err == nil {
				ps.EndOffset = o.Offset
			}
			d.Partitions = append(d.Partitions, ps)
		}
		rc, ok := configs[name]
		switch {
		case ok && rc.Err != nil:
			d.Error = "configs: " + errText(rc.Err, rc.ErrMessage)
			nErr++
		case !ok && cfgErr != nil:
			d.Error = "configs: " + cfgErr.Error()
			nErr++
		}
		for _, c := range rc.Configs {
			if !*all && c.Source == kmsg.ConfigSourceDefaultConfig {
				continue
			}
			d.Configs = append(d.Configs, configEntry{Key: c.Key, Value: c.Value, Source: c.Source.String(), Sensitive: c.Sensitive})
		}
		out = append(out, d)
	}
	if err := e.emit(nonNil(out), func(w io.Writer) { printTopicDescriptions(w, out) }); err != nil {
		return err
	}
	return failed(nErr, len(out), "topics")
}

func topicAlterConfig(e *env, args []string) error {
	fs := e.flags()
	var set, del, appendV, subtract stringList
	fs.Var(&set, "set", "key=value to set (repeatable)")
	fs.Var(&del, "delete", "key to reset to its default (repeatable)")
	fs.Var(&appendV, "append", "key=value to append to a list config (repeatable)")
	fs.Var(&subtract, "subtract", "key=value to remove from a list config (repeatable)")
	dryRun := fs.Bool("dry-run", false, "validate only")
	topics, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	alters, err := alterConfigs(set, del, appendV, subtract)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	alter := adm.AlterTopicConfigs
	if *dryRun {
		alter = adm.ValidateAlterTopicConfigs
	}
	resps, err := alter(ctx, alters, topics...)
	if err != nil {
		return err
	}
	var rs []topicResult
	for _, r := range resps {
		rs = append(rs, topicResult{Topic: r.Name, Error: errText(r.Err, r.ErrMessage)})
	}
	return e.printTopicResults(rs, false)
}

// alterConfigs turns the alter-config flags into incremental operations.
func alterConfigs(set, del, appendV, subtract []string) ([]kadm.AlterConfig, error) {
	var out []kadm.AlterConfig
	for _, group := range []struct {
		flag  string
		items []string
		op    kadm.IncrementalOp
	}{{"--set", set, kadm.SetConfig}, {"--append", appendV, kadm.AppendConfig}, {"--subtract", subtract, kadm.SubtractConfig}} {
		kv, order, err := keyValues(group.flag, group.items)
		if err != nil {
			return nil, err
		}
		for _, k := range order {
			out = append(out, kadm.AlterConfig{Op: group.op, Name: k, Value: kadm.StringPtr(kv[k])})
		}
	}
	for _, k := range del {
		if k == "" || strings.Contains(k, "=") {
			return nil, usagef("--delete %q: want a key", k)
		}
		out = append(out, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(out) == 0 {
		return nil, usagef("nothing to alter: give --set, --delete, --append or --subtract")
	}
	return out, nil
}

func topicAddPartitions(e *env, args []string) error {
	fs := e.flags()
	add := fs.Int("n", 0, "partitions to add")
	total := fs.Int("total", 0, "the partition count to reach (instead of -n)")
	topics, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	if (*add > 0) == (*total > 0) {
		return usagef("give one of -n (partitions to add) or --total, positive")
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	var resps kadm.CreatePartitionsResponses
	if *add > 0 {
		resps, err = adm.CreatePartitions(ctx, *add, topics...)
	} else {
		resps, err = adm.UpdatePartitions(ctx, *total, topics...)
	}
	if err != nil {
		return err
	}
	var rs []topicResult
	for _, r := range resps.Sorted() {
		rs = append(rs, topicResult{Topic: r.Topic, Error: errText(r.Err, r.ErrMessage)})
	}
	return e.printTopicResults(rs, false)
}

func topicDelete(e *env, args []string) error {
	fs := e.flags()
	ifExists := fs.Bool("if-exists", false, "a topic that does not exist is not an error (as kafka-topics --if-exists)")
	topics, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	resps, err := adm.DeleteTopics(ctx, topics...)
	if err != nil {
		return err
	}
	var rs []topicResult
	for _, r := range resps.Sorted() {
		if *ifExists && errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			r.Err, r.ErrMessage = nil, ""
		}
		rs = append(rs, topicResult{Topic: r.Topic, Error: errText(r.Err, r.ErrMessage)})
	}
	return e.printTopicResults(rs, false)
}

// printTopicDescriptions is topic describe's text: per topic a header,
// the partitions table and the configs table.
func printTopicDescriptions(w io.Writer, out []topicDescription) {
	for i, d := range out {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "TOPIC  %s\n", d.Topic)
		if d.ID != "" {
			fmt.Fprintf(w, "ID     %s\n", d.ID)
		}
		if d.Internal {
			fmt.Fprintln(w, "INTERNAL")
		}
		if d.Error != "" {
			fmt.Fprintf(w, "ERROR  %s\n", d.Error)
		}
		if len(d.Partitions) > 0 {
			fmt.Fprintln(w)
			t := newTable(w, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "START", "END", "ERROR")
			for _, p := range d.Partitions {
				t.row(p.Partition, p.Leader, p.LeaderEpoch, int32s(p.Replicas), int32s(p.ISR), int32s(p.OfflineReplicas), p.StartOffset, p.EndOffset, p.Error)
			}
			t.flush()
		}
		if len(d.Configs) > 0 {
			fmt.Fprintln(w)
			t := newTable(w, "CONFIG", "VALUE", "SOURCE")
			for _, c := range d.Configs {
				v := "<null>"
				switch {
				case c.Sensitive:
					v = "<sensitive>"
				case c.Value != nil:
					v = *c.Value
				}
				t.row(c.Key, v, c.Source)
			}
			t.flush()
		}
	}
}
