package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// cliRunner runs the runnel binary's admin verbs against one cluster, as an
// operator's script would: --brokers on the command line, JSON parsed from
// stdout, exit codes checked.
type cliRunner struct {
	t       *testing.T
	brokers string
	// extra are global flags added to every command (TLS, SASL).
	extra []string
	// env replaces --brokers when set (RUNNEL_BROKERS).
	env []string
}

// run returns stdout, stderr and the exit code.
func (c cliRunner) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if c.env == nil {
		args = append(args, "--brokers", c.brokers)
	}
	cmd := exec.CommandContext(ctx, runnelBinary, append(args, c.extra...)...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		c.t.Fatalf("runnel %q: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// ok runs a command that must exit 0 and returns its stdout.
func (c cliRunner) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("runnel %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// json runs a command with --format json that must exit 0 and decodes its
// stdout into v.
func (c cliRunner) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok("", append(args, "--format", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("runnel %q: stdout is not JSON (%v):\n%s", args, err, out)
	}
}

// fails runs a command that must exit with code and print wantErr on
// stderr; it returns stdout.
func (c cliRunner) fails(code int, wantErr string, args ...string) string {
	c.t.Helper()
	out, errOut, got := c.run("", args...)
	if got != code || !strings.Contains(errOut, wantErr) {
		c.t.Fatalf("runnel %q: exit %d, stderr %q; want exit %d and %q\nstdout:\n%s", args, got, errOut, code, wantErr, out)
	}
	return out
}

// cliJSONLines decodes one JSON object per line.
func cliJSONLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, v)
	}
	return out
}

// cliEventually retries cond until it holds or a minute passed; cond reports
// what it saw for the failure message.
func cliEventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", what, seen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The JSON shapes the tests read: the CLI's contract with scripts.
type (
	cliBroker struct {
		ID    int32  `json:"id"`
		Host  string `json:"host"`
		Port  int32  `json:"port"`
		Error string `json:"error"`
	}
	cliClusterInfo struct {
		ClusterID  string      `json:"cluster_id"`
		Controller int32       `json:"controller"`
		Brokers    []cliBroker `json:"brokers"`
	}
	cliHealth struct {
		Healthy            bool        `json:"healthy"`
		Controller         int32       `json:"controller"`
		Brokers            []cliBroker `json:"brokers"`
		UnreachableBrokers []int32     `json:"unreachable_brokers"`
		UnderReplicated    []struct {
			Topic string `json:"topic"`
		} `json:"under_replicated_partitions"`
		Offline          []struct{} `json:"offline_partitions"`
		UnhealthyBecause []string   `json:"unhealthy_because"`
	}
	cliTopicResult struct {
		Topic             string `json:"topic"`
		ID                string `json:"id"`
		Partitions        int32  `json:"partitions"`
		ReplicationFactor int16  `json:"replication_factor"`
		Error             string `json:"error"`
	}
	cliTopicDescription struct {
		Topic      string `json:"topic"`
		ID         string `json:"id"`
		Partitions []struct {
			Partition int32   `json:"partition"`
			Leader    int32   `json:"leader"`
			Replicas  []int32 `json:"replicas"`
			ISR       []int32 `json:"isr"`
			End       int64   `json:"end_offset"`
		} `json:"partitions"`
		Configs []struct {
			Key    string  `json:"key"`
			Value  *string `json:"value"`
			Source string  `json:"source"`
		} `json:"configs"`
		Error string `json:"error"`
	}
	cliProduced struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Error     string `json:"error"`
	}
	cliConsumed struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset"`
		Key       *string `json:"key"`
		Value     string  `json:"value"`
		Headers   []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"headers"`
	}
	cliGroupDescription struct {
		Group      string `json:"group"`
		State      string `json:"state"`
		TotalLag   int64  `json:"total_lag"`
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Committed int64  `json:"committed_offset"`
			End       int64  `json:"end_offset"`
			Lag       int64  `json:"lag"`
		} `json:"partitions"`
		Error string `json:"error"`
	}
	cliResetPlan struct {
		Group      string `json:"group"`
		Executed   bool   `json:"executed"`
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Current   int64  `json:"current_offset"`
			New       int64  `json:"new_offset"`
			Error     string `json:"error"`
		} `json:"partitions"`
	}
)

// committedOn is the group's committed offset and lag on one partition.
func (d cliGroupDescription) committedOn(topic string, p int32) (committed, lag int64, ok bool) {
	for _, x := range d.Partitions {
		if x.Topic == topic && x.Partition == p {
			return x.Committed, x.Lag, true
		}
	}
	return 0, 0, false
}

// cliTopicsGroupsAndClients runs the topic, produce, consume and group
// verbs against a cluster of nBrokers, with topics of replication factor
// rf.
func cliTopicsGroupsAndClients(t *testing.T, c cliRunner, nBrokers, rf int) {
	// cluster info / health
	var info cliClusterInfo
	c.json(&info, "cluster", "info")
	if info.ClusterID == "" || info.Controller < 1 || len(info.Brokers) != nBrokers {
		t.Fatalf("cluster info: %+v, want %d brokers and a controller", info, nBrokers)
	}
	if out := c.ok("", "cluster", "info"); !strings.Contains(out, info.ClusterID) {
		t.Fatalf("cluster info text lacks the cluster id:\n%s", out)
	}

	// topic create, twice
	topic := "cli-orders"
	var created []cliTopicResult
	c.json(&created, "topic", "create", topic, "-p", "3", "-r", fmt.Sprint(rf), "-c", "retention.ms=86400000")
	if len(created) != 1 || created[0].Topic != topic || created[0].Partitions != 3 || int(created[0].ReplicationFactor) != rf || created[0].ID == "" {
		t.Fatalf("topic create: %+v", created)
	}
	out := c.fails(1, "1 of 1 topics failed", "topic", "create", topic, "--format", "json")
	var again []cliTopicResult
	if err := json.Unmarshal([]byte(out), &again); err != nil || len(again) != 1 || !strings.Contains(again[0].Error, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("second create: %v %s", err, out)
	}

	c.ok("", "topic", "create", topic, "--if-not-exists")

	// topic list
	var listed []cliTopicResult
	c.json(&listed, "topic", "list")
	found := false
	for _, l := range listed {
		found = found || (l.Topic == topic && l.Partitions == 3 && int(l.ReplicationFactor) == rf && l.ID == created[0].ID)
	}
	if !found {
		t.Fatalf("topic list lacks %s: %+v", topic, listed)
	}

	// alter-config and describe
	c.ok("", "topic", "alter-config", topic, "--set", "retention.ms=1234", "--set", "max.message.bytes=2000000")
	describe := func() cliTopicDescription {
		var ds []cliTopicDescription
		c.json(&ds, "topic", "describe", topic)
		if len(ds) != 1 || ds[0].Error != "" {
			t.Fatalf("topic describe: %+v", ds)
		}
		return ds[0]
	}
	cliEventually(t, "retention.ms=1234 in topic describe", func() (bool, string) {
		d := describe()
		for _, cfg := range d.Configs {
			if cfg.Key == "retention.ms" && cfg.Value != nil && *cfg.Value == "1234" && cfg.Source == "DYNAMIC_TOPIC_CONFIG" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", d.Configs)
	})
	d := describe()
	if len(d.Partitions) != 3 {
		t.Fatalf("describe: %d partitions", len(d.Partitions))
	}
	for _, p := range d.Partitions {
		if len(p.Replicas) != rf || p.Leader < 1 {
			t.Fatalf("describe: partition %+v, want %d replicas and a leader", p, rf)
		}
	}

	// add-partitions
	c.ok("", "topic", "add-partitions", topic, "-n", "1")
	cliEventually(t, "4 partitions after add-partitions", func() (bool, string) {
		n := len(describe().Partitions)
		return n == 4, fmt.Sprint(n)
	})
	c.fails(1, "1 of 1 topics failed", "topic", "add-partitions", topic, "--total", "2")

	// produce: keys, headers, a partition, acks and compression
	out = c.ok("k0:v0\nk1:v1\nk2:v2\n", "produce", topic, "-p", "0", "--key-delim", ":", "-H", "src=cli", "--acks", "all", "--compression", "lz4", "--format", "json")
	produced := cliJSONLines[cliProduced](t, out)
	if len(produced) != 3 {
		t.Fatalf("produce reported %d records:\n%s", len(produced), out)
	}
	for i, p := range produced {
		if p.Partition != 0 || p.Offset != int64(i) || p.Error != "" {
			t.Fatalf("produced %+v, want partition 0 offset %d", p, i)
		}
	}
	c.ok("no key here\n", "produce", topic, "-p", "1", "--acks", "1", "-q")

	// consume: JSON, a template, relative offsets
	consumed := cliJSONLines[cliConsumed](t, c.ok("", "consume", topic, "-p", "0", "-n", "3", "--format", "json"))
	if len(consumed) != 3 {
		t.Fatalf("consumed %d records", len(consumed))
	}
	for i, r := range consumed {
		if r.Key == nil || *r.Key != fmt.Sprintf("k%d", i) || r.Value != fmt.Sprintf("v%d", i) || r.Offset != int64(i) ||
			len(r.Headers) != 1 || r.Headers[0].Key != "src" || r.Headers[0].Value != "cli" {
			t.Fatalf("consumed %+v, want k%d/v%d with header src=cli", r, i, i)
		}
	}
	if got := c.ok("", "consume", topic, "-p", "0", "-o", "2", "-n", "1", "--format", `%t|%k|%v|%p|%o|%h`); got != topic+"|k2|v2|0|2|src=cli\n" {
		t.Fatalf("template: %q", got)
	}
	if got := c.ok("", "consume", topic, "-p", "0", "-o", "-1", "-n", "1"); got != "v2\n" {
		t.Fatalf("-o -1: %q", got)
	}
	if got := c.ok("", "consume", topic, "-e", "--format", "%p/%o"); strings.Count(got, "\n") != 4 {
		t.Fatalf("consume -e printed %q, want the 4 records", got)
	}
	c.fails(1, "UNKNOWN_TOPIC_OR_PARTITION", "consume", "cli-no-such-topic")
	c.fails(1, "UNKNOWN_TOPIC_OR_PARTITION", "produce", "cli-no-such-topic")
	c.fails(1, "has no partition 9", "produce", topic, "-p", "9")
	nk := cliJSONLines[cliConsumed](t, c.ok("", "consume", topic, "-p", "1", "-n", "1", "--format", "json"))
	if len(nk) != 1 || nk[0].Key != nil || nk[0].Value != "no key here" {
		t.Fatalf("a line without the delimiter: %+v", nk)
	}

	// group: consume as a group, then list, describe with lag, reset, delete
	group := "cli-group"
	if got := c.ok("", "consume", topic, "--group", group, "-n", "4"); strings.Count(got, "\n") != 4 {
		t.Fatalf("group consume printed %q", got)
	}
	var groups []struct {
		Group string `json:"group"`
		State string `json:"state"`
	}
	c.json(&groups, "group", "list", "--state", "Empty")
	found = false
	for _, g := range groups {
		found = found || g.Group == group
	}
	if !found {
		t.Fatalf("group list lacks %s: %+v", group, groups)
	}
	describeGroup := func() cliGroupDescription {
		var ds []cliGroupDescription
		c.json(&ds, "group", "describe", group)
		if len(ds) != 1 || ds[0].Error != "" {
			t.Fatalf("group describe: %+v", ds)
		}
		return ds[0]
	}
	gd := describeGroup()
	if committed, lag, ok := gd.committedOn(topic, 0); !ok || committed != 3 || lag != 0 || gd.TotalLag != 0 {
		t.Fatalf("group describe after consuming everything: %+v", gd)
	}
	c.ok("v3\nv4\n", "produce", topic, "-p", "0")
	gd = describeGroup()
	if committed, lag, _ := gd.committedOn(topic, 0); committed != 3 || lag != 2 || gd.TotalLag != 2 {
		t.Fatalf("group describe after two more records: %+v", gd)
	}

	var plan cliResetPlan
	c.json(&plan, "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
	if plan.Executed || len(plan.Partitions) != 4 {
		t.Fatalf("dry run: %+v", plan)
	}
	for _, p := range plan.Partitions {
		if p.New != 0 {
			t.Fatalf("dry run to earliest: %+v", p)
		}
	}
	if committed, _, _ := describeGroup().committedOn(topic, 0); committed != 3 {
		t.Fatalf("a dry run moved the group to %d", committed)
	}
	c.json(&plan, "group", "reset-offsets", group, "--topic", topic+":0", "--to-offset", "1", "--execute")
	if !plan.Executed || len(plan.Partitions) != 1 || plan.Partitions[0].Current != 3 || plan.Partitions[0].New != 1 {
		t.Fatalf("reset to offset 1: %+v", plan)
	}
	if committed, lag, _ := describeGroup().committedOn(topic, 0); committed != 1 || lag != 4 {
		t.Fatalf("after the reset to 1: committed %d lag %d", committed, lag)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	c.json(&plan, "group", "reset-offsets", group, "--all-topics", "--to-datetime", future, "--execute")
	for _, p := range plan.Partitions {
		if p.Topic == topic && p.Partition == 0 && p.New != 5 {
			t.Fatalf("reset to a future time: %+v, want the end (5)", p)
		}
	}
	c.json(&plan, "group", "reset-offsets", group, "--topic", topic+":0", "--shift-by", "-2", "--execute")
	if plan.Partitions[0].New != 3 {
		t.Fatalf("shift by -2 from 5: %+v", plan.Partitions)
	}

	c.ok("", "group", "delete", group)
	c.fails(1, "1 of 1 groups failed", "group", "describe", group)
	c.fails(1, "1 of 1 groups failed", "group", "delete", group)

	// topic delete
	c.ok("", "topic", "delete", topic)
	cliEventually(t, "the deleted topic to be gone", func() (bool, string) {
		_, _, code := c.run("", "topic", "describe", topic)
		return code == 1, fmt.Sprintf("exit %d", code)
	})
	c.fails(1, "1 of 1 topics failed", "topic", "delete", topic)
	c.ok("", "topic", "delete", topic, "--if-exists")
}

func TestCLISingleBroker(t *testing.T) {
	b := startBroker(t)
	c := cliRunner{t: t, brokers: b.addr()}
	cliTopicsGroupsAndClients(t, c, 1, 1)

	var h cliHealth
	c.json(&h, "cluster", "health")
	if !h.Healthy || h.Controller != 1 || len(h.Brokers) != 1 || len(h.UnhealthyBecause) != 0 {
		t.Fatalf("cluster health: %+v", h)
	}

	// RUNNEL_BROKERS stands in for --brokers.
	env := cliRunner{t: t, env: []string{"RUNNEL_BROKERS=" + b.addr()}}
	var info cliClusterInfo
	env.json(&info, "cluster", "info")
	if len(info.Brokers) != 1 {
		t.Fatalf("cluster info through RUNNEL_BROKERS: %+v", info)
	}

	// Usage errors are exit 2 and touch nothing.
	c.fails(2, "unknown verb", "topic", "frob")
	c.fails(2, "want TOPIC", "topic", "create")
	c.fails(2, "--format", "topic", "list", "--format", "yaml")

	t.Run("live group", func(t *testing.T) {
		// A group with a live member, of either protocol: describe shows
		// the member on its partitions, reset-offsets --execute refuses,
		// and after the consumer's SIGINT its commits are there.
		c := cliRunner{t: t, brokers: b.addr()}
		c.ok("", "topic", "create", "cli-live", "-p", "2")
		c.ok("a\nb\nc\n", "produce", "cli-live", "-p", "0")
		for _, protocol := range []string{"classic", "consumer"} {
			group := "cli-live-" + protocol
			cmd := exec.Command(runnelBinary, "consume", "cli-live", "--group", group, "--group-protocol", protocol, "--brokers", b.addr())
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cliEventually(t, group+" to be Stable with its member on both partitions", func() (bool, string) {
				var ds []struct {
					State   string     `json:"state"`
					Members []struct{} `json:"members"`
					Parts   []struct {
						MemberID string `json:"member_id"`
					} `json:"partitions"`
				}
				// Until the member joined, the group does not exist: exit 1.
				out, _, code := c.run("", "group", "describe", group, "--format", "json")
				if err := json.Unmarshal([]byte(out), &ds); err != nil || len(ds) != 1 {
					return false, fmt.Sprintf("exit %d: %s", code, out)
				}
				d := ds[0]
				return code == 0 && d.State == "Stable" && len(d.Members) == 1 && len(d.Parts) == 2 && d.Parts[0].MemberID != "", fmt.Sprintf("%+v", d)
			})
			c.fails(1, "only while it has no members", "group", "reset-offsets", group, "--all-topics", "--to-earliest", "--execute")
			// Records are marked for commit once printed, and marks are
			// committed every few seconds: a commit of 3 means all three
			// were printed.
			cliEventually(t, group+" to commit offset 3", func() (bool, string) {
				var ds []cliGroupDescription
				c.json(&ds, "group", "describe", group)
				committed, _, _ := ds[0].committedOn("cli-live", 0)
				return committed == 3, fmt.Sprint(committed)
			})
			_ = cmd.Process.Signal(os.Interrupt)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("consume --group %s after SIGINT: %v\n%s", group, err, errOut.String())
			}
			if out.String() != "a\nb\nc\n" {
				t.Fatalf("consume --group %s printed %q", group, out.String())
			}
			var ds []cliGroupDescription
			c.json(&ds, "group", "describe", group)
			if committed, lag, ok := ds[0].committedOn("cli-live", 0); !ok || committed != 3 || lag != 0 {
				t.Fatalf("%s after the consumer stopped: %+v", group, ds[0])
			}
		}
	})

	t.Run("user", func(t *testing.T) {
		c := cliRunner{t: t, brokers: b.addr()}
		c.ok("", "user", "create", "cli-alice", "--new-password", "pw-1")
		c.ok("", "user", "create", "cli-bob", "--new-password", "pw-2", "--mechanism", "SCRAM-SHA-256", "--iterations", "4096")
		var users []struct {
			User       string `json:"user"`
			Mechanisms []struct {
				Mechanism  string `json:"mechanism"`
				Iterations int32  `json:"iterations"`
			} `json:"mechanisms"`
		}
		c.json(&users, "user", "list")
		got := map[string]string{}
		for _, u := range users {
			for _, m := range u.Mechanisms {
				got[u.User] = fmt.Sprintf("%s/%d", m.Mechanism, m.Iterations)
			}
		}
		if got["cli-alice"] != "SCRAM-SHA-512/8192" || got["cli-bob"] != "SCRAM-SHA-256/4096" {
			t.Fatalf("user list: %+v", users)
		}
		c.ok("", "user", "delete", "cli-alice")
		c.json(&users, "user", "list")
		for _, u := range users {
			if u.User == "cli-alice" {
				t.Fatalf("cli-alice still listed: %+v", users)
			}
		}
		c.fails(1, "1 of 1 users failed", "user", "delete", "cli-nobody")
	})

	t.Run("txn", func(t *testing.T) {
		c := cliRunner{t: t, brokers: b.addr()}
		b.createTopic(t, "cli-txn", 1)
		cl := b.franz(t, kgo.TransactionalID("cli-txn-id"), kgo.DefaultProduceTopic("cli-txn"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, kgo.StringRecord("in a txn")).FirstErr(); err != nil {
			t.Fatal(err)
		}
		// Ongoing: txn describe shows the partition in the transaction.
		var ds []struct {
			ID         string `json:"transactional_id"`
			State      string `json:"state"`
			ProducerID int64  `json:"producer_id"`
			Partitions []struct {
				Topic string `json:"topic"`
			} `json:"partitions"`
		}
		c.json(&ds, "txn", "describe", "cli-txn-id")
		if len(ds) != 1 || ds[0].State != "Ongoing" || ds[0].ProducerID < 0 || len(ds[0].Partitions) != 1 || ds[0].Partitions[0].Topic != "cli-txn" {
			t.Fatalf("txn describe of an ongoing transaction: %+v", ds)
		}
		var ls []struct {
			ID    string `json:"transactional_id"`
			State string `json:"state"`
		}
		c.json(&ls, "txn", "list", "--state", "Ongoing")
		if len(ls) != 1 || ls[0].ID != "cli-txn-id" {
			t.Fatalf("txn list --state Ongoing: %+v", ls)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		c.json(&ls, "txn", "list")
		found := false
		for _, l := range ls {
			found = found || l.ID == "cli-txn-id"
		}
		if !found {
			t.Fatalf("txn list: %+v", ls)
		}
		c.fails(1, "1 of 1 transactional ids failed", "txn", "describe", "cli-no-such-txn")
		// -e ends at the commit marker, which no record stands for.
		if got := cliJSONLines[cliConsumed](t, c.ok("", "consume", "cli-txn", "-e", "--format", "json")); len(got) != 1 || got[0].Value != "in a txn" {
			t.Fatalf("consume -e of a committed transaction: %+v", got)
		}
	})

	t.Run("acl", func(t *testing.T) {
		// No authorizer: every ACL verb says SECURITY_DISABLED and exits 1.
		c := cliRunner{t: t, brokers: b.addr()}
		out := c.fails(1, "SECURITY_DISABLED", "acl", "create", "--allow", "alice", "--operation", "read", "--topic", "t", "--format", "json")
		var created []struct {
			Principal string `json:"principal"`
			Error     string `json:"error"`
		}
		if err := json.Unmarshal([]byte(out), &created); err != nil || len(created) != 1 || created[0].Principal != "User:alice" || !strings.Contains(created[0].Error, "SECURITY_DISABLED") {
			t.Fatalf("acl create JSON: %v %s", err, out)
		}
		c.fails(1, "SECURITY_DISABLED", "acl", "list")
		c.fails(1, "SECURITY_DISABLED", "acl", "delete", "--topic", "t")
	})

	t.Run("quota", func(t *testing.T) {
		// The verb round-trips a quota through Runnel's quota APIs.
		c := cliRunner{t: t, brokers: b.addr()}
		out, errOut, code := c.run("", "quota", "alter", "--client-id", "cli-app", "--set", "producer_byte_rate=1048576")
		if code != 0 {
			t.Fatalf("quota alter: exit %d\n%s\n%s", code, out, errOut)
		}
		var qs []struct {
			Entity map[string]*string `json:"entity"`
			Values map[string]float64 `json:"values"`
		}
		c.json(&qs, "quota", "describe", "--client-id", "cli-app")
		if len(qs) != 1 || qs[0].Values["producer_byte_rate"] != 1048576 {
			t.Fatalf("quota describe: %+v", qs)
		}
	})
}

func TestCLIThreeBrokers(t *testing.T) {
	cl := startCluster(t, 3)
	c := cliRunner{t: t, brokers: strings.Join(cl.seeds(), ",")}
	cliTopicsGroupsAndClients(t, c, 3, 3)

	// Healthy with every broker up; a replicated topic keeps partitions on
	// every broker for health to look at.
	c.ok("", "topic", "create", "cli-health", "-p", "3", "-r", "3")
	cliEventually(t, "cluster health to be healthy", func() (bool, string) {
		out, _, code := c.run("", "cluster", "health", "--format", "json")
		return code == 0, out
	})
	var h cliHealth
	c.json(&h, "cluster", "health")
	if !h.Healthy || len(h.Brokers) != 3 {
		t.Fatalf("cluster health: %+v", h)
	}

	// One broker gone: health says why and exits 1.
	cl.node(3).b.kill9()
	cliEventually(t, "cluster health to report broker 3's loss", func() (bool, string) {
		out, _, code := c.run("", "cluster", "health", "--format", "json", "--timeout", "5s")
		if code != 1 {
			return false, fmt.Sprintf("exit %d: %s", code, out)
		}
		var h cliHealth
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			t.Fatalf("cluster health JSON: %v\n%s", err, out)
		}
		return !h.Healthy && len(h.UnhealthyBecause) > 0 && (len(h.UnderReplicated) > 0 || len(h.UnreachableBrokers) > 0), out
	})
	if out := c.fails(1, "cluster is unhealthy", "cluster", "health", "--timeout", "5s"); !strings.Contains(out, "UNHEALTHY") {
		t.Fatalf("cluster health text:\n%s", out)
	}
}

func TestCLISASLAndTLS(t *testing.T) {
	t.Run("sasl", func(t *testing.T) {
		b := startSASLBroker(t)
		plainC := cliRunner{t: t, brokers: b.addr()}
		// The password comes from stdin, as a script keeps it out of ps.
		plainC.ok("dave-s3cret\n", "user", "create", "dave", "--new-password", "-", "--mechanism", "SCRAM-SHA-256")
		for _, auth := range [][]string{
			{"--sasl-mechanism", "SCRAM-SHA-256", "--user", "dave", "--password", "dave-s3cret"},
			{"--sasl-mechanism", "PLAIN", "--user", "alice", "--password", alicePassword},
		} {
			c := cliRunner{t: t, brokers: b.saslAddr(), extra: auth}
			var info cliClusterInfo
			c.json(&info, "cluster", "info")
			if len(info.Brokers) != 1 {
				t.Fatalf("%q: %+v", auth, info)
			}
		}
		bad := cliRunner{t: t, brokers: b.saslAddr(), extra: []string{"--sasl-mechanism", "SCRAM-SHA-256", "--user", "dave", "--password", "wrong", "--timeout", "5s"}}
		bad.fails(1, "runnel:", "cluster", "info")
	})
	t.Run("tls", func(t *testing.T) {
		f := testTLSFiles(t)
		_, addr := tlsBroker(t, f, "JKS", true, withOverride("ssl.client.auth", "required"))
		c := cliRunner{t: t, brokers: addr, extra: []string{"--tls-ca", f.CA, "--tls-cert", f.ClientCert, "--tls-key", f.ClientKey}}
		var info cliClusterInfo
		c.json(&info, "cluster", "info")
		if len(info.Brokers) != 1 {
			t.Fatalf("cluster info over mTLS: %+v", info)
		}
		noCert := cliRunner{t: t, brokers: addr, extra: []string{"--tls-ca", f.CA, "--timeout", "5s"}}
		noCert.fails(1, "runnel:", "cluster", "info")
	})
}
