package broker

import (
	"strconv"
	"sync"
	"testing"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// batchCounter is a franz-go hook that adds up the record batches the
// client knows it wrote: bytes as the broker stores them (the records plus
// the batch's 61-byte header) and records.
type batchCounter struct {
	mu             sync.Mutex
	bytes, records int64
}

func (c *batchCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	c.mu.Lock()
	c.bytes += int64(m.CompressedBytes) + 61
	c.records += int64(m.NumRecords)
	c.mu.Unlock()
}

// TestMetricsFollowTraffic: after franz-go produces, consumes in a group
// and commits, /metrics counts exactly the bytes and records produced,
// the bytes fetched, the partition's log, the group and its lag (0 once
// caught up), and each API's requests and latency phases.
func TestMetricsFollowTraffic(t *testing.T) {
	tb := startTestBroker(t, "runnel.admin.listener=127.0.0.1:0")
	url := "http://" + tb.Broker.admin.ln.Addr().String() + "/metrics"
	dataTopic(t, tb, "metered", 1, nil)
	ctx := testCtx(t)

	hook := &batchCounter{}
	pcl := tb.client(t, kgo.WithHooks(hook), kgo.ProducerLinger(0))
	const n = 200
	for i := 0; i < n; i++ {
		pcl.Produce(ctx, &kgo.Record{Topic: "metered", Value: []byte("value-" + strconv.Itoa(i))}, nil)
	}
	if err := pcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A request is recorded after its response is written: the client
	// can be back before the last Produce is.
	var m testenv.Metrics
	testenv.Eventually(t, "the Produce requests recorded", func() bool {
		m = testenv.ScrapeMetrics(t, url)
		v, _ := m.Value("runnel_request_duration_seconds", "api", "Produce", "phase", "total")
		return v >= 1
	})
	want := func(name string, v float64, labels ...string) {
		t.Helper()
		got, ok := m.Value(name, labels...)
		if !ok || got != v {
			t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, v)
		}
	}
	hook.mu.Lock()
	bytesIn, records := hook.bytes, hook.records
	hook.mu.Unlock()
	want("runnel_topic_bytes_in_total", float64(bytesIn), "topic", "metered")
	want("runnel_topic_messages_in_total", float64(records), "topic", "metered")
	want("runnel_topic_failed_produce_requests_total", 0, "topic", "metered")
	want("runnel_log_size_bytes", float64(bytesIn), "topic", "metered", "partition", "0")
	want("runnel_log_end_offset", n, "topic", "metered", "partition", "0")
	want("runnel_under_replicated_partitions", 0)
	want("runnel_controller_active", 1)
	want("runnel_etcd_session_up", 1)
	if v, _ := m.Value("runnel_request_duration_seconds", "api", "Produce", "phase", "total"); v < 1 {
		t.Errorf("no Produce request timed")
	}
	if v, _ := m.Value("runnel_request_errors_total", "api", "Produce", "error", "NONE"); v < 1 {
		t.Errorf("no Produce answer counted")
	}

	ccl := tb.client(t, kgo.ConsumeTopics("metered"), kgo.ConsumerGroup("metered-group"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < n {
		fs := ccl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := ccl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	m = testenv.ScrapeMetrics(t, url)
	want("runnel_topic_bytes_out_total", float64(bytesIn), "topic", "metered")
	want("runnel_consumer_group_committed_offset", n, "group", "metered-group", "topic", "metered", "partition", "0")
	want("runnel_consumer_group_lag", 0, "group", "metered-group", "topic", "metered", "partition", "0")
	want("runnel_groups", 1, "protocol", "classic", "state", "Stable")
	if v, _ := m.Value("runnel_group_rebalances_total", "protocol", "classic"); v < 1 {
		t.Errorf("no rebalance counted")
	}
	if v, _ := m.Value("runnel_request_duration_seconds", "api", "Fetch", "phase", "remote"); v < 1 {
		t.Errorf("no Fetch purgatory time recorded")
	}
	if v, _ := m.Value("runnel_connections", "listener", "PLAINTEXT"); v < 1 {
		t.Errorf("no open connection counted")
	}

	// Another n records make the group lag by n.
	for i := 0; i < n; i++ {
		pcl.Produce(ctx, &kgo.Record{Topic: "metered", Value: []byte("more")}, nil)
	}
	if err := pcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m = testenv.ScrapeMetrics(t, url)
	want("runnel_consumer_group_lag", n, "group", "metered-group", "topic", "metered", "partition", "0")
}

// TestMetricsTransactions: an open transaction shows as Ongoing with an
// age, a committed one as CompleteCommit.
func TestMetricsTransactions(t *testing.T) {
	tb := startTestBroker(t, "runnel.admin.listener=127.0.0.1:0", "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1")
	url := "http://" + tb.Broker.admin.ln.Addr().String() + "/metrics"
	dataTopic(t, tb, "txn-metered", 1, nil)
	ctx := testCtx(t)
	cl := tb.client(t, kgo.TransactionalID("metered-txn"), kgo.DefaultProduceTopic("txn-metered"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("in a transaction")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	m := testenv.ScrapeMetrics(t, url)
	if v, _ := m.Value("runnel_transactions", "state", "Ongoing"); v != 1 {
		t.Errorf("Ongoing transactions %v, want 1", v)
	}
	if v, _ := m.Value("runnel_transaction_oldest_open_seconds"); v <= 0 {
		t.Errorf("oldest open transaction %v s, want > 0", v)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the transaction complete", func() bool {
		m := testenv.ScrapeMetrics(t, url)
		v, _ := m.Value("runnel_transactions", "state", "CompleteCommit")
		o, _ := m.Value("runnel_transaction_oldest_open_seconds")
		return v == 1 && o == 0
	})
}
