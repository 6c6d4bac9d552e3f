package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run runs the CLI in process with the given environment.
func run(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return out.String(), errb.String(), code
}

func TestExitCodesWithoutABroker(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{nil, ExitUsage, "no command"},
		{[]string{"nosuch"}, ExitUsage, `unknown command "nosuch"`},
		{[]string{"topic"}, ExitUsage, "missing verb"},
		{[]string{"topic", "frob"}, ExitUsage, `unknown verb "frob"`},
		{[]string{"topic", "create"}, ExitUsage, "want TOPIC..."},
		{[]string{"topic", "list", "extra"}, ExitUsage, "unexpected arguments"},
		{[]string{"topic", "list", "--nosuch"}, ExitUsage, "flag provided but not defined"},
		{[]string{"topic", "list", "--format", "yaml"}, ExitUsage, `--format "yaml"`},
		{[]string{"topic", "list", "--sasl-mechanism", "GSSAPI", "--user", "u"}, ExitUsage, "--sasl-mechanism"},
		{[]string{"topic", "list", "--user", "u"}, ExitUsage, "need --sasl-mechanism"},
		{[]string{"topic", "list", "--tls-cert", "c.pem"}, ExitUsage, "--tls-cert and --tls-key"},
		{[]string{"topic", "list", "--brokers", " , "}, ExitUsage, "--brokers is empty"},
		{[]string{"topic", "alter-config", "t"}, ExitUsage, "nothing to alter"},
		{[]string{"topic", "add-partitions", "t"}, ExitUsage, "give one of -n"},
		{[]string{"group", "reset-offsets", "g", "--all-topics"}, ExitUsage, "exactly one of"},
		{[]string{"group", "reset-offsets", "g", "--to-earliest"}, ExitUsage, "give --topic or --all-topics"},
		{[]string{"consume", "t", "--format", "%x"}, ExitUsage, "% takes one of"},
		{[]string{"consume", "t", "-o", "later"}, ExitUsage, `-o "later"`},
		{[]string{"consume", "t", "-p", "0", "--group", "g"}, ExitUsage, "do not go together"},
		{[]string{"consume", "t", "--group", "g", "--group-protocol", "share"}, ExitUsage, "--group-protocol"},
		{[]string{"consume", "t", "--group", "g", "-e"}, ExitUsage, "-e and --group"},
		{[]string{"produce", "t", "--acks", "2"}, ExitUsage, `--acks "2"`},
		{[]string{"produce", "t", "--compression", "brotli"}, ExitUsage, `--compression "brotli"`},
		{[]string{"user", "create", "u"}, ExitUsage, "--new-password is required"},
		{[]string{"acl", "create", "--allow", "u", "--topic", "t"}, ExitUsage, "--operation"},
		{[]string{"quota", "alter", "--set", "producer_byte_rate=1"}, ExitUsage, "give an entity"},
		{[]string{"topic", "list", "-h"}, ExitOK, "usage: runnel topic list"},
	} {
		_, stderr, code := run(t, nil, c.args...)
		if code != c.code || !strings.Contains(stderr, c.err) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.err)
		}
	}
}

// An unreachable cluster is exit 1, not a usage error.
func TestExitCodeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, stderr, code := run(t, nil, "topic", "list", "--brokers", addr, "--timeout", "2s")
	if code != ExitError || stderr == "" {
		t.Fatalf("exit %d, stderr %q; want 1 and a message", code, stderr)
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	p := fs.Int("p", 0, "")
	v := fs.Bool("v", false, "")
	pos, err := parseInterleaved(fs, []string{"a", "-p", "3", "b", "-v", "--", "-c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	if *p != 3 || !*v || strings.Join(pos, " ") != "a b -c d" {
		t.Fatalf("p=%d v=%v pos=%q", *p, *v, pos)
	}
}

func TestGlobalsBrokersFromEnv(t *testing.T) {
	for _, c := range []struct {
		env  string
		args []string
		want []string
	}{
		{"", nil, []string{"localhost:9092"}},
		{"a:1, b:2", nil, []string{"a:1", "b:2"}},
		{"a:1", []string{"--brokers", "c:3"}, []string{"c:3"}},
	} {
		var g globals
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		g.register(fs, func(k string) string {
			if k == "RUNNEL_BROKERS" {
				return c.env
			}
			return ""
		})
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if got := g.seeds(); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("env %q args %q: seeds %q, want %q", c.env, c.args, got, c.want)
		}
	}
}

func TestClientOptsSASLAndTLS(t *testing.T) {
	g := globals{brokers: "x:1", saslMechanism: "scram-sha-512", user: "u", password: "p", format: "json", timeout: time.Second, tls: true}
	if err := g.check(false); err != nil {
		t.Fatal(err)
	}
	opts, err := g.clientOpts()
	if err != nil {
		t.Fatal(err)
	}
	// seeds, client id, dial timeout, TLS, SASL
	if len(opts) != 5 {
		t.Fatalf("%d options", len(opts))
	}
	g.tlsCA = "/nonexistent/ca.pem"
	if _, err := g.clientOpts(); !errors.As(err, new(usageError)) {
		t.Fatalf("a missing CA file: %v, want a usage error", err)
	}
}

func TestConsumeFormatOnlyForConsume(t *testing.T) {
	g := globals{brokers: "x:1", format: "%v", timeout: time.Second}
	if err := g.check(true); err != nil {
		t.Fatal(err)
	}
	if err := g.check(false); err == nil {
		t.Fatal("a template accepted outside consume")
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	tb := newTable(&b, "A", "LONGER")
	tb.row("x\ty", "")
	tb.row(12345, -1)
	tb.flush()
	want := "A      LONGER\nx y    -\n12345  -1\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestEmit(t *testing.T) {
	var b bytes.Buffer
	e := &env{io: IO{Stdout: &b}, g: globals{format: "json"}}
	if err := e.emit([]topicResult{{Topic: "t", Error: "E"}}, nil); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || len(got) != 1 || got[0]["topic"] != "t" || got[0]["error"] != "E" {
		t.Fatalf("%s: %v", b.String(), err)
	}
	b.Reset()
	if err := e.emit(nonNil([]topicResult(nil)), nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Fatalf("empty list as %q (%v), want []", b.String(), err)
	}
}

func TestErrText(t *testing.T) {
	if errText(nil, "x") != "" {
		t.Fatal("nil error has text")
	}
	got := errText(kerr.TopicAlreadyExists, "Topic 't' already exists.")
	if !strings.HasPrefix(got, "TOPIC_ALREADY_EXISTS") || !strings.Contains(got, "Topic 't' already exists.") {
		t.Fatalf("%q", got)
	}
	if got := errText(kerr.SecurityDisabled, ""); !strings.HasPrefix(got, "SECURITY_DISABLED") {
		t.Fatalf("%q", got)
	}
	if err := aclError(kerr.SecurityDisabled); !errors.Is(err, kerr.SecurityDisabled) || !strings.Contains(err.Error(), "no authorizer") {
		t.Fatalf("%v", err)
	}
}

func TestParseOffset(t *testing.T) {
	for _, s := range []string{"start", "end", "0", "42", "-5", "@1700000000000"} {
		if _, err := parseOffset(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "soon", "@x", "@-1", "1.5"} {
		if _, err := parseOffset(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestStartPosition(t *testing.T) {
	for _, c := range []struct {
		offset string
		want   int64
	}{{"start", 10}, {"end", 100}, {"50", 50}, {"5", 10}, {"500", 100}, {"-3", 97}, {"-300", 10}, {"@1", 100}} {
		if got := startPosition(c.offset, 10, 100, nil, "t", 0); got != c.want {
			t.Errorf("%s: %d, want %d", c.offset, got, c.want)
		}
	}
	et := &endTracker{next: map[string]map[int32]int64{"t": {0: 8, 1: 5}}, end: map[string]map[int32]int64{"t": {0: 10, 1: 5}}}
	if et.done() {
		t.Fatal("done with partition 0 at 8 of 10")
	}
	et.consumed(&kgo.Record{Topic: "t", Partition: 0, Offset: 9})
	if !et.done() {
		t.Fatal("not done at the end offsets")
	}
}

func TestRecordFormat(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 2, Offset: 7, Key: []byte("k"), Value: []byte("v%"),
		Timestamp: time.UnixMilli(1700000000123), Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}}}
	for _, c := range []struct{ format, want string }{
		{"text", "v%\n"},
		{"%t %p %o %k=%v %T [%h] %K/%V %%", "t 2 7 k=v% 1700000000123 [a=1,b=] 1/2 %\n"},
		{`%k\t%v\n`, "k\tv%\n"},
		{`%v\n\n`, "v%\n\n"},
		{`a\\b %v`, `a\b v%` + "\n"},
	} {
		f, err := parseRecordFormat(c.format)
		if err != nil {
			t.Fatalf("%q: %v", c.format, err)
		}
		if got := string(f.append(nil, r)); got != c.want {
			t.Errorf("%q: got %q, want %q", c.format, got, c.want)
		}
	}
	f, _ := parseRecordFormat("json")
	var got consumedRecord
	line := f.append(nil, r)
	if line[len(line)-1] != '\n' {
		t.Fatal("a JSON record is not a line")
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	if got.Topic != "t" || got.Partition != 2 || got.Offset != 7 || got.Key == nil || *got.Key != "k" || got.Value != "v%" ||
		got.Timestamp != 1700000000123 || len(got.Headers) != 2 || got.Headers[0] != (consumedHeader{"a", "1"}) {
		t.Fatalf("%+v", got)
	}
	// A record without a key has a null key.
	nk, _ := parseRecordFormat("json")
	if s := string(nk.append(nil, &kgo.Record{Value: []byte("x")})); !strings.Contains(s, `"key":null`) {
		t.Fatalf("%s", s)
	}
	for _, bad := range []string{"%", "%z %v", "%v %"} {
		if _, err := parseRecordFormat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLineRecord(t *testing.T) {
	o := &produceOpts{keyDelim: "::", partition: -1, headers: []kgo.RecordHeader{{Key: "h", Value: []byte("1")}}}
	r := lineRecord("t", "k::v::w", o)
	if string(r.Key) != "k" || string(r.Value) != "v::w" || r.Partition != -1 || len(r.Headers) != 1 {
		t.Fatalf("%+v", r)
	}
	r = lineRecord("t", "no delimiter", o)
	if r.Key != nil || string(r.Value) != "no delimiter" {
		t.Fatalf("%+v", r)
	}
	r = lineRecord("t", "a::b", &produceOpts{partition: 3})
	if r.Key != nil || string(r.Value) != "a::b" || r.Partition != 3 {
		t.Fatalf("without --key-delim: %+v", r)
	}
}

func TestParseHeaders(t *testing.T) {
	hs, err := parseHeaders([]string{"a=1", "a=2", "b=", "c=x=y"})
	if err != nil || len(hs) != 4 || string(hs[3].Value) != "x=y" || hs[2].Value == nil {
		t.Fatalf("%+v %v", hs, err)
	}
	if _, err := parseHeaders([]string{"=v"}); err == nil {
		t.Fatal("empty header key accepted")
	}
}

func TestProducerOpts(t *testing.T) {
	for _, c := range []struct {
		acks, comp string
		n          int
	}{{"all", "zstd", 2}, {"-1", "none", 2}, {"1", "lz4", 3}, {"0", "gzip", 3}, {"ALL", "Snappy", 2}} {
		opts, err := producerOpts(c.acks, c.comp)
		if err != nil || len(opts) != c.n {
			t.Errorf("%s %s: %d options, %v", c.acks, c.comp, len(opts), err)
		}
	}
}

func TestPlanReset(t *testing.T) {
	const start, end = 10, 100
	for _, c := range []struct {
		target          resetTarget
		current, atTime int64
		want            int64
	}{
		{resetTarget{kind: "earliest"}, 50, -1, 10},
		{resetTarget{kind: "latest"}, 50, -1, 100},
		{resetTarget{kind: "offset", value: 42}, 50, -1, 42},
		{resetTarget{kind: "offset", value: 5}, 50, -1, 10},    // clamped up to the log start
		{resetTarget{kind: "offset", value: 500}, 50, -1, 100}, // clamped down to the end
		{resetTarget{kind: "datetime", value: 1}, 50, 60, 60},
		{resetTarget{kind: "datetime", value: 1}, 50, -1, 100}, // no record after the time: the end
		{resetTarget{kind: "shift", value: -20}, 50, -1, 30},
		{resetTarget{kind: "shift", value: -90}, 50, -1, 10},
		{resetTarget{kind: "shift", value: 5}, -1, -1, 100}, // no commit yet: from the end
	} {
		if got := planReset(c.target, c.current, start, end, c.atTime); got != c.want {
			t.Errorf("%+v current %d at %d: %d, want %d", c.target, c.current, c.atTime, got, c.want)
		}
	}
}

func TestParseResetTargetAndTime(t *testing.T) {
	if _, err := parseResetTarget(true, true, -1, "", 0); err == nil {
		t.Fatal("two targets accepted")
	}
	tg, err := parseResetTarget(false, false, -1, "2026-01-02T03:04:05Z", 0)
	if err != nil || tg.kind != "datetime" || tg.value != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli() {
		t.Fatalf("%+v %v", tg, err)
	}
	for _, s := range []string{"1700000000000", "2026-01-02T03:04:05.678", "2026-01-02T03:04:05+02:00", "2026-01-02"} {
		if _, err := parseTime(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Error("yesterday accepted")
	}
}

func TestParseTopicPartitions(t *testing.T) {
	m, err := parseTopicPartitions([]string{"a", "b:0,2", "b:5"})
	if err != nil || m["a"] != nil || len(m["b"]) != 3 {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{":1", "a:x", "a:-1", "a:"} {
		if _, err := parseTopicPartitions([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAlterConfigs(t *testing.T) {
	as, err := alterConfigs([]string{"retention.ms=1", "cleanup.policy=compact,delete"}, []string{"segment.bytes"}, []string{"x=y"}, nil)
	if err != nil || len(as) != 4 {
		t.Fatalf("%+v %v", as, err)
	}
	if as[0].Op != kadm.SetConfig || *as[1].Value != "compact,delete" || as[2].Op != kadm.AppendConfig || as[3].Op != kadm.DeleteConfig || as[3].Value != nil {
		t.Fatalf("%+v", as)
	}
	if _, err := alterConfigs([]string{"novalue"}, nil, nil, nil); err == nil {
		t.Fatal("--set without = accepted")
	}
	if _, err := alterConfigs(nil, []string{"k=v"}, nil, nil); err == nil {
		t.Fatal("--delete k=v accepted")
	}
}

func TestACLBuilder(t *testing.T) {
	a := aclFlags{allow: []string{"alice", "Group:ops"}, operations: []string{"read", "describe-configs"}, topics: []string{"t"}, pattern: "prefixed"}
	if _, err := a.builder(false); err != nil {
		t.Fatal(err)
	}
	if got := withUserPrefix([]string{"alice", "Group:ops"}); got[0] != "User:alice" || got[1] != "Group:ops" {
		t.Fatalf("%q", got)
	}
	// A filter with nothing matches everything.
	f := aclFlags{pattern: "any"}
	if _, err := f.builder(true); err != nil {
		t.Fatal(err)
	}
	bad := aclFlags{allow: []string{"u"}, operations: []string{"fly"}, topics: []string{"t"}, pattern: "literal"}
	if _, err := bad.builder(false); err == nil {
		t.Fatal("operation fly accepted")
	}
	noRes := aclFlags{allow: []string{"u"}, operations: []string{"read"}, pattern: "literal"}
	if _, err := noRes.builder(false); err == nil {
		t.Fatal("an ACL without a resource accepted")
	}
}

func TestQuotaEntity(t *testing.T) {
	q := quotaEntityFlags{user: "alice", defaultClientID: true}
	ent, err := q.entity()
	if err != nil || len(ent) != 2 || ent[0].Type != "user" || *ent[0].Name != "alice" || ent[1].Type != "client-id" || ent[1].Name != nil {
		t.Fatalf("%+v %v", ent, err)
	}
	if entityText(ent) != "user=alice,client-id=<default>" {
		t.Fatalf("%q", entityText(ent))
	}
	if _, err := (&quotaEntityFlags{ip: "1.2.3.4", defaultIP: true}).entity(); err == nil {
		t.Fatal("an ip and the default ip accepted together")
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	for _, g := range []string{"topic create", "group reset-offsets", "produce TOPIC", "consume TOPIC", "cluster health", "user create", "txn describe", "acl list", "quota alter"} {
		if !strings.Contains(b.String(), g) {
			t.Errorf("usage lacks %q", g)
		}
	}
	if !IsCommand("topic") || !IsCommand("consume") || IsCommand("serve") {
		t.Fatal("IsCommand")
	}
}

func TestAssessHealth(t *testing.T) {
	brokers := kadm.BrokerDetails{{NodeID: 1, Host: "a", Port: 9092}, {NodeID: 2, Host: "b", Port: 9092}, {NodeID: 3, Host: "c", Port: 9092}}
	part := func(p, leader int32, replicas, isr []int32) kadm.PartitionDetail {
		return kadm.PartitionDetail{Topic: "t", Partition: p, Leader: leader, Replicas: replicas, ISR: isr}
	}
	healthyTopics := kadm.TopicDetails{"t": {Topic: "t", Partitions: kadm.PartitionDetails{
		0: part(0, 1, []int32{1, 2, 3}, []int32{1, 2, 3}),
		1: part(1, 2, []int32{2, 3, 1}, []int32{2, 3, 1}),
	}}}
	allUp := kadm.BrokersApiVersions{1: {NodeID: 1}, 2: {NodeID: 2}, 3: {NodeID: 3}}

	h := assessHealth(kadm.Metadata{Cluster: "c", Controller: 1, Brokers: brokers, Topics: healthyTopics}, allUp)
	if !h.Healthy || len(h.UnhealthyBecause) != 0 || h.CheckedPartitionsTotal != 2 {
		t.Fatalf("healthy cluster judged %+v", h)
	}

	sick := kadm.TopicDetails{
		"t": {Topic: "t", Partitions: kadm.PartitionDetails{
			0: part(0, -1, []int32{1, 2, 3}, []int32{}),
			1: part(1, 2, []int32{2, 3, 1}, []int32{2, 1}),
		}},
		"gone": {Topic: "gone", Err: kerr.UnknownTopicOrPartition},
	}
	down := kadm.BrokersApiVersions{1: {NodeID: 1}, 2: {NodeID: 2}, 3: {NodeID: 3, Err: errors.New("dial refused")}}
	h = assessHealth(kadm.Metadata{Controller: -1, Brokers: brokers, Topics: sick}, down)
	if h.Healthy || len(h.Offline) != 1 || len(h.UnderReplicated) != 1 || len(h.UnreachableBrokers) != 1 || h.UnreachableBrokers[0] != 3 ||
		len(h.UnavailableTopics) != 1 || len(h.UnhealthyBecause) != 5 {
		t.Fatalf("sick cluster judged %+v", h)
	}
	var b bytes.Buffer
	printHealth(&b, h)
	for _, want := range []string{"UNHEALTHY\n", "no active controller", "1 offline partitions", "1 under-replicated partitions", "1 unreachable brokers",
		"dial refused", "under-replicated", "offline"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("health text lacks %q:\n%s", want, b.String())
		}
	}
	// A broker the metadata lists but that did not answer at all.
	h = assessHealth(kadm.Metadata{Controller: 1, Brokers: brokers, Topics: healthyTopics}, kadm.BrokersApiVersions{1: {NodeID: 1}, 2: {NodeID: 2}})
	if h.Healthy || len(h.UnreachableBrokers) != 1 || h.Brokers[2].Error != "no answer" {
		t.Fatalf("a silent broker judged %+v", h)
	}
}

func TestPrintDescriptions(t *testing.T) {
	v := "1000"
	var b bytes.Buffer
	printTopicDescriptions(&b, []topicDescription{
		{Topic: "t", ID: "abc", Partitions: []partitionState{{Partition: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}, StartOffset: 0, EndOffset: 5}},
			Configs: []configEntry{{Key: "retention.ms", Value: &v, Source: "DYNAMIC_TOPIC_CONFIG"}, {Key: "ssl.password", Sensitive: true, Source: "DYNAMIC_TOPIC_CONFIG"}}},
		{Topic: "missing", Error: "UNKNOWN_TOPIC_OR_PARTITION"},
	})
	for _, want := range []string{"TOPIC  t\n", "ID     abc\n", "1,2", "retention.ms  1000", "<sensitive>", "TOPIC  missing\nERROR  UNKNOWN_TOPIC_OR_PARTITION"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("topic describe text lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	printGroupDescriptions(&b, []groupDescription{{Group: "g", State: "Empty", TotalLag: 7,
		Partitions: []partitionLag{{Topic: "t", Partition: 0, Committed: 3, End: 10, Lag: 7}, {Topic: "t", Partition: 1, Committed: -1, End: 4, Lag: -1}}}})
	for _, want := range []string{"GROUP        g\n", "TOTAL-LAG    7\n", "t      0          3          10   7", "t      1          -          4    -"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("group describe text lacks %q:\n%s", want, b.String())
		}
	}
}
