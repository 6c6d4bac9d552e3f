package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// batchBytes is a franz-go hook adding up the record batches the client
// knows were written, in the bytes the broker stores: the records plus the
// 61-byte batch header.
type batchBytes struct {
	mu             sync.Mutex
	bytes, records int64
}

func (h *batchBytes) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	h.mu.Lock()
	h.bytes += int64(m.CompressedBytes) + 61
	h.records += int64(m.NumRecords)
	h.mu.Unlock()
}

func (h *batchBytes) get() (bytes, records int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bytes, h.records
}

// scrapeAll scrapes the /metrics of the nodes given (the live ones).
func scrapeAll(t *testing.T, nodes ...*clusterNode) []testenv.Metrics {
	t.Helper()
	var out []testenv.Metrics
	for _, nd := range nodes {
		out = append(out, testenv.ScrapeMetrics(t, "http://"+nd.adminAddr+"/metrics"))
	}
	return out
}

// sumOf adds a series over brokers.
func sumOf(ms []testenv.Metrics, name string, labels ...string) float64 {
	var total float64
	for _, m := range ms {
		v, _ := m.Value(name, labels...)
		total += v
	}
	return total
}

// groupLag is a group's lag on topic computed from the brokers' metrics
// as the dashboard does: each partition's high watermark (from its
// leader) less the group's committed offset (from its coordinator).
func metricsGroupLag(t *testing.T, ms []testenv.Metrics, group, topic string, partitions int) (int64, bool) {
	t.Helper()
	var lag int64
	for p := 0; p < partitions; p++ {
		part := strconv.Itoa(p)
		hw, committed := -1.0, -1.0
		for _, m := range ms {
			if v, ok := m.Value("runnel_partition_high_watermark", "topic", topic, "partition", part); ok {
				hw = max(hw, v)
			}
			if v, ok := m.Value("runnel_consumer_group_committed_offset", "group", group, "topic", topic, "partition", part); ok {
				committed = v
			}
		}
		if hw < 0 || committed < 0 {
			return 0, false
		}
		lag += int64(hw - committed)
	}
	return lag, true
}

// TestMetricsDuringTraffic scrapes three brokers' /metrics while franz-go
// and kcat produce and consume, a group rebalances and a follower dies and
// returns: bytes in equal what franz-go wrote, messages in count both
// clients' records, followers' fetches count as replication bytes out, the
// group's lag is what was produced past its commit and falls to 0 once it
// catches up, a second member counts a rebalance, and killing a broker
// raises under-replicated partitions and ISR shrinks, which return to 0
// and expand once it is back. Every query of the Grafana dashboard
// (docs/grafana/runnel.json) names a metric the brokers export.
func TestMetricsDuringTraffic(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic, group, partitions = "metered", "metered-group", 3
	adm := c.replicatedTopic(ctx, topic, partitions)
	all := c.nodes

	// franz-go produces; bytes in are exactly its batches.
	hook := &batchBytes{}
	pcl := c.client(kgo.WithHooks(hook), kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 600
	for i := 0; i < n; i++ {
		pcl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf("franz-%d", i))}, nil)
	}
	if err := pcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	franzBytes, franzRecords := hook.get()
	ms := scrapeAll(t, all...)
	// A batch franz-go sent again (its first answer lost or late on a
	// loaded machine) is answered as a duplicate and counted again, as
	// Kafka's BytesInPerSec counts every accepted append: at least what
	// franz-go wrote, exactly that when nothing was retried.
	bytesIn := sumOf(ms, "runnel_topic_bytes_in_total", "topic", topic)
	messagesIn := sumOf(ms, "runnel_topic_messages_in_total", "topic", topic)
	if bytesIn < float64(franzBytes) || messagesIn < float64(franzRecords) || franzRecords != n {
		t.Fatalf("bytes in %v and messages in %v, franz-go wrote %d bytes in %d records", bytesIn, messagesIn, franzBytes, franzRecords)
	}
	if bytesIn != float64(franzBytes) {
		t.Logf("bytes in %v, franz-go wrote %d: a retried batch was counted twice", bytesIn, franzBytes)
	}

	// kcat (librdkafka) produces 100 more, acks=all.
	var lines strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&lines, "kcat-%d\n", i)
	}
	seeds := strings.Join(c.seeds(), ",")
	kcat(t, lines.String(), "-b", seeds, "-P", "-t", topic, "-X", "acks=all")
	total := n + 100 // records in the log (a duplicate is not appended twice)
	ms = scrapeAll(t, all...)
	if got := sumOf(ms, "runnel_topic_messages_in_total", "topic", topic); got-messagesIn != 100 {
		t.Fatalf("messages in %v after kcat, %v before: want %d more", got, messagesIn, 100)
	}
	bytesIn = sumOf(ms, "runnel_topic_bytes_in_total", "topic", topic)
	// Every byte reaches both followers of its ISR before acks=all.
	testenv.Eventually(t, "replication bytes out = 2 × bytes in", func() bool {
		return sumOf(scrapeAll(t, all...), "runnel_topic_replication_bytes_out_total", "topic", topic) >= 2*bytesIn
	})
	if got := sumOf(ms, "runnel_topic_failed_produce_requests_total", "topic", topic); got != 0 {
		t.Errorf("failed produce %v", got)
	}

	// A franz-go group consumes everything and commits: lag 0.
	consume := func(cl *kgo.Client, want int) {
		t.Helper()
		got := 0
		for got < want {
			fs := cl.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatal(err)
			}
			got += fs.NumRecords()
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ccl := c.client(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	consume(ccl, total)
	testenv.Eventually(t, "lag 0 after catching up", func() bool {
		lag, ok := metricsGroupLag(t, scrapeAll(t, all...), group, topic, partitions)
		return ok && lag == 0
	})
	ms = scrapeAll(t, all...)
	consumerBytes := sumOf(ms, "runnel_topic_bytes_out_total", "topic", topic) - sumOf(ms, "runnel_topic_replication_bytes_out_total", "topic", topic)
	if consumerBytes < bytesIn {
		t.Errorf("consumer bytes out %v < bytes in %v after reading everything", consumerBytes, bytesIn)
	}
	if got := sumOf(ms, "runnel_groups", "protocol", "classic", "state", "Stable"); got != 1 {
		t.Errorf("stable classic groups %v, want 1", got)
	}

	// 50 more records: the lag is 50, and 0 again once consumed.
	for i := 0; i < 50; i++ {
		pcl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte("more")}, nil)
	}
	if err := pcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if lag, ok := metricsGroupLag(t, scrapeAll(t, all...), group, topic, partitions); !ok || lag != 50 {
		t.Errorf("lag %d (%v) after 50 more records, want 50", lag, ok)
	}
	consume(ccl, 50)
	testenv.Eventually(t, "lag back to 0", func() bool {
		lag, ok := metricsGroupLag(t, scrapeAll(t, all...), group, topic, partitions)
		return ok && lag == 0
	})

	// kcat reads everything back through the same brokers.
	if out := kcat(t, "", "-b", seeds, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n"); strings.Count(out, "\n") != total+50 {
		t.Errorf("kcat read %d records, want %d", strings.Count(out, "\n"), total+50)
	}

	// A second member joins: the coordinator counts a rebalance.
	rebalances := sumOf(scrapeAll(t, all...), "runnel_group_rebalances_total", "protocol", "classic")
	ccl2 := c.client(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.DisableAutoCommit())
	go ccl2.PollFetches(ctx) //nolint:errcheck // only joining matters
	testenv.Eventually(t, "a rebalance counted", func() bool {
		return sumOf(scrapeAll(t, all...), "runnel_group_rebalances_total", "protocol", "classic") > rebalances
	})

	// Failover: broker 3 dies; the others report under-replicated
	// partitions and ISR shrinks, and the controller elects new leaders
	// for what broker 3 led.
	td, _, err := c.metadata(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	led3 := 0
	for _, p := range td.Partitions {
		if p.Leader == 3 {
			led3++
		}
	}
	live := all[:2]
	before := scrapeAll(t, all...)
	c.node(3).b.kill9()
	testenv.Eventually(t, "under-replicated partitions after broker 3 died", func() bool {
		ms := scrapeAll(t, live...)
		return sumOf(ms, "runnel_under_replicated_partitions") >= partitions &&
			sumOf(ms, "runnel_isr_shrinks_total") > sumOf(before[:2], "runnel_isr_shrinks_total")
	})
	if led3 > 0 {
		testenv.Eventually(t, "leader elections counted", func() bool {
			return sumOf(scrapeAll(t, live...), "runnel_leader_elections_total") > sumOf(before, "runnel_leader_elections_total")
		})
	}
	if got := sumOf(scrapeAll(t, live...), "runnel_unclean_leader_elections_total"); got != 0 {
		t.Errorf("unclean elections %v", got)
	}
	if got := sumOf(scrapeAll(t, live...), "runnel_controller_active"); got != 1 {
		t.Errorf("active controllers %v, want 1", got)
	}

	// Broker 3 returns: it catches up, the ISR expands, and nothing is
	// under-replicated any more.
	expands := sumOf(scrapeAll(t, live...), "runnel_isr_expands_total")
	c.node(3).b.start()
	testenv.EventuallyWithin(t, 2*time.Minute, "under-replicated back to 0", func() bool {
		ms := scrapeAll(t, all...)
		return sumOf(ms, "runnel_under_replicated_partitions") == 0 && sumOf(ms, "runnel_isr_expands_total") > expands
	})

	t.Run("dashboard", func(t *testing.T) {
		checkDashboard(t, "../docs/grafana/runnel.json", scrapeAll(t, all...))
	})
}

// checkDashboard checks that every query of a Grafana dashboard names at
// least one metric, that each metric it names is exported by some broker,
// and that each label its selectors match on exists on that metric.
func checkDashboard(t *testing.T, path string, ms []testenv.Metrics) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if len(exprs) < 30 {
		t.Fatalf("only %d queries found in %s", len(exprs), path)
	}
	// labels of each exported family, over every broker.
	families := map[string]map[string]bool{}
	for _, m := range ms {
		for name, f := range m {
			names := []string{name}
			if f.GetType().String() == "HISTOGRAM" {
				names = append(names, name+"_bucket", name+"_sum", name+"_count")
			}
			for _, n := range names {
				if families[n] == nil {
					families[n] = map[string]bool{"instance": true, "job": true}
				}
				for _, s := range f.Metric {
					for _, lp := range s.Label {
						families[n][lp.GetName()] = true
					}
				}
				if strings.HasSuffix(n, "_bucket") {
					families[n]["le"] = true
				}
			}
		}
	}
	metricRE := regexp.MustCompile(`\b((?:runnel|go|process)_[a-zA-Z0-9_]+)(\{[^}]*\})?`)
	matcherRE := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	for _, e := range exprs {
		found := metricRE.FindAllStringSubmatch(e, -1)
		if len(found) == 0 {
			t.Errorf("query names no metric: %s", e)
		}
		for _, f := range found {
			labels, ok := families[f[1]]
			if !ok {
				t.Errorf("query %q names %s, which no broker exports", e, f[1])
				continue
			}
			for _, mm := range matcherRE.FindAllStringSubmatch(f[2], -1) {
				if !labels[mm[1]] {
					t.Errorf("query %q matches label %s, which %s does not have", e, mm[1], f[1])
				}
			}
		}
	}
}

// TestReadyzEtcdUnreachable: a broker cut off from etcd stays ready while
// its session (lease) lives, turns not ready with the reason once etcd has
// been unreachable beyond the session timeout (runnel_etcd_session_up 0,
// a lost session counted), and ready again when etcd is back.
func TestReadyzEtcdUnreachable(t *testing.T) {
	c := startCluster(t, 1)
	nd := c.node(1)
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + nd.adminAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz before the cut: %d %q", code, body)
	}
	nd.etcdPx.setCut(true)
	var body string
	testenv.EventuallyWithin(t, time.Minute, "/readyz not ready with etcd cut off", func() bool {
		var code int
		code, body = readyz()
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "etcd unreachable") {
		t.Errorf("/readyz body %q, want the etcd reason", body)
	}
	if v := nd.metric(t, "runnel_etcd_session_up"); v != 0 {
		t.Errorf("runnel_etcd_session_up %v with etcd cut off", v)
	}
	nd.etcdPx.setCut(false)
	testenv.EventuallyWithin(t, time.Minute, "/readyz ready once etcd is back", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
	if v := nd.metric(t, "runnel_etcd_sessions_lost_total"); v < 1 {
		t.Errorf("runnel_etcd_sessions_lost_total %v, want ≥ 1", v)
	}
}
