package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnBrokerOpts make transactions quick to test on one broker: few
// __transaction_state partitions and a timed-out transaction aborted
// within a second or two.
func txnBrokerOpts() []brokerOption {
	return []brokerOption{
		withOverride("transaction.state.log.num.partitions", "5"),
		withOverride("offsets.topic.num.partitions", "5"),
		withOverride("transaction.abort.timed.out.transaction.cleanup.interval.ms", "500"),
		withOverride("group.initial.rebalance.delay.ms", "0"),
	}
}

// franzTxn runs one transaction of values on topic with a franz-go
// transactional client and commits or aborts it.
func franzTxn(t *testing.T, cl *kgo.Client, topic string, values []string, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// readCommitted reads topic from the start with franz-go under
// read_committed until every partition's LSO is reached; it first waits
// until the LSO equals the high watermark (no transaction left open).
func readCommitted(t *testing.T, b *broker, topic string) []string {
	t.Helper()
	return readCommittedWith(t, func(opts ...kgo.Opt) *kgo.Client { return b.franz(t, opts...) }, topic)
}

// readCommittedWith is readCommitted with clients made by mk.
func readCommittedWith(t *testing.T, mk func(...kgo.Opt) *kgo.Client, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(mk())
	var ends map[int32]int64
	for {
		lso, err1 := adm.ListCommittedOffsets(ctx, topic)
		hw, err2 := adm.ListEndOffsets(ctx, topic)
		if err1 == nil && err2 == nil {
			ends = map[int32]int64{}
			stable := true
			hw.Each(func(o kadm.ListedOffset) {
				l, _ := lso.Lookup(topic, o.Partition)
				if l.Offset != o.Offset {
					stable = false
				}
				ends[o.Partition] = o.Offset
			})
			if stable {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("LSO never reached the high watermark of %s", topic)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cl := mk(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []string
	seen := map[int32]int64{}
	for {
		done := true
		for p, e := range ends {
			if seen[p] < e {
				done = false
			}
		}
		if done {
			return out
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("reading %s: seen %v of %v", topic, seen, ends)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			seen[p.Partition] = max(seen[p.Partition], p.LastStableOffset)
		})
	}
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// assertExactly checks got holds every value of want exactly once and
// nothing else.
func assertExactly(t *testing.T, who string, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, v := range got {
		count[v]++
	}
	for _, v := range want {
		if count[v] != 1 {
			t.Fatalf("%s: %q seen %d times", who, v, count[v])
		}
		delete(count, v)
	}
	for v := range count {
		t.Fatalf("%s: unexpected record %q (aborted or duplicate)", who, v)
	}
}

// TestTxnFranzCommitAbortReadCommitted: franz-go transactions, committed
// and aborted, read back by franz-go and kcat under read_committed.
func TestTxnFranzCommitAbortReadCommitted(t *testing.T) {
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "txf", 3)
	cl := b.franz(t, kgo.TransactionalID("franz-it"))
	var want []string
	for i := 0; i < 6; i++ {
		vs := values(fmt.Sprintf("t%d", i), 50)
		commit := i%3 != 1
		franzTxn(t, cl, "txf", vs, commit)
		if commit {
			want = append(want, vs...)
		}
	}
	assertExactly(t, "franz-go read_committed", readCommitted(t, b, "txf"), want)

	out := kcat(t, "", "-b", b.addr(), "-C", "-t", "txf", "-o", "beginning", "-e", "-X", "isolation.level=read_committed", "-f", "%s\n")
	assertExactly(t, "kcat read_committed", strings.Fields(out), want)
	// read_uncommitted sees the aborted records too (control batches are
	// never returned as records).
	out = kcat(t, "", "-b", b.addr(), "-C", "-t", "txf", "-o", "beginning", "-e", "-X", "isolation.level=read_uncommitted", "-f", "%s\n")
	if n := len(strings.Fields(out)); n != 300 {
		t.Fatalf("kcat read_uncommitted saw %d records, want 300", n)
	}
}

// TestTxnConfluentPython: librdkafka transactions through
// confluent-kafka-python: commit, abort, send_offsets_to_transaction, and a
// second producer with the same transactional.id fencing the first.
func TestTxnConfluentPython(t *testing.T) {
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "cf-in", 1)
	b.createTopic(t, "cf-out", 2)
	cl := b.franz(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, v := range values("in", 20) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "cf-in", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	out := python(t, "confluent_txn.py", b.addr(), "cf-in", "cf-out", "cf-group")
	var res struct {
		Committed    []string         `json:"committed"`
		GroupOffsets map[string]int64 `json:"group_offsets"`
		InPositions  map[string]int64 `json:"in_positions"`
		Fenced       struct {
			Fatal bool   `json:"fatal"`
			Code  string `json:"code"`
		} `json:"fenced"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !res.Fenced.Fatal {
		t.Fatalf("the fenced producer's error is not fatal: %+v", res.Fenced)
	}
	t.Logf("fenced producer got %s (fatal)", res.Fenced.Code)
	var want []string
	want = append(want, values("commit", 10)...)
	for _, v := range res.Committed {
		if strings.HasPrefix(v, "xform-") {
			want = append(want, v)
		}
	}
	want = append(want, "after-fence")
	assertExactly(t, "confluent read_committed", res.Committed, want)
	if n := len(want) - 11; n < 5 {
		t.Fatalf("only %d transformed records", n)
	}
	if len(res.GroupOffsets) == 0 || fmt.Sprint(res.GroupOffsets) != fmt.Sprint(res.InPositions) {
		t.Fatalf("offsets committed in the transaction %v, positions %v", res.GroupOffsets, res.InPositions)
	}
	// The same from Go, and franz-go's read_committed agrees.
	assertExactly(t, "franz-go read_committed", readCommitted(t, b, "cf-out"), want)
}

// TestTxnSarama: sarama's transactional producer, one committed and one
// aborted transaction.
func TestTxnSarama(t *testing.T) {
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "txs", 2)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "sarama-it"
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{b.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	run := func(prefix string, commit bool) {
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for _, v := range values(prefix, 20) {
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "txs", Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			err = p.CommitTxn()
		} else {
			err = p.AbortTxn()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	run("s-commit", true)
	run("s-abort", false)
	run("s-commit2", true)
	assertExactly(t, "sarama txns, franz-go read_committed", readCommitted(t, b, "txs"), append(values("s-commit", 20), values("s-commit2", 20)...))
}

// TestTxnGroupTransactSession: franz-go's consume-transform-produce with
// the consumed offsets committed in the transaction; a first session
// aborts one transaction and quits, a second finishes the work: every
// input record is transformed exactly once in the committed output.
func TestTxnGroupTransactSession(t *testing.T) {
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "ctp-in", 3)
	b.createTopic(t, "ctp-out", 3)
	const n = 300
	cl := b.franz(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, v := range values("in", n) {
		cl.Produce(ctx, &kgo.Record{Topic: "ctp-in", Value: []byte(v)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// session transforms up to want records, 50 per transaction; with
	// abortAfter > 0 it aborts its transaction number abortAfter+1 and
	// quits.
	session := func(abortAfter, want int) int {
		s, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(b.addr()),
			kgo.TransactionalID("ctp-it"),
			kgo.ConsumerGroup("ctp-it-group"),
			kgo.ConsumeTopics("ctp-in"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		done, txns := 0, 0
		for done < want {
			pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
			fs := s.PollRecords(pctx, 50)
			pcancel()
			if ctx.Err() != nil {
				t.Fatalf("session: %v after %d\n%s", ctx.Err(), done, tail(b.logs(), 60))
			}
			fs.EachError(func(topic string, p int32, err error) {
				if err != context.DeadlineExceeded {
					t.Logf("fetch error %s-%d: %v", topic, p, err)
				}
			})
			recs := fs.Records()
			if len(recs) == 0 {
				continue
			}
			if err := s.Begin(); err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				s.Produce(ctx, &kgo.Record{Topic: "ctp-out", Value: []byte("x-" + string(r.Value))}, nil)
			}
			txns++
			commit := abortAfter == 0 || txns <= abortAfter
			committed, err := s.End(ctx, kgo.TransactionEndTry(commit))
			if err != nil {
				t.Fatal(err)
			}
			if committed {
				done += len(recs)
			}
			if !commit {
				return done
			}
		}
		return done
	}
	first := session(1, n)
	second := session(0, n-first)
	if first+second != n {
		t.Fatalf("sessions committed %d + %d records, want %d", first, second, n)
	}
	var want []string
	for _, v := range values("in", n) {
		want = append(want, "x-"+v)
	}
	assertExactly(t, "ctp output", readCommitted(t, b, "ctp-out"), want)
}

// TestTxnKill9MidTransaction: several franz-go producers run transactions
// while the broker is killed with SIGKILL; after a restart every
// transaction is either fully visible or fully invisible to read_committed
// readers, and every transaction whose commit was acknowledged is visible.
func TestTxnKill9MidTransaction(t *testing.T) {
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "txk", 3)
	const producers, perTxn = 4, 30
	var mu sync.Mutex
	acked := map[string]bool{} // committed and acknowledged transactions
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < producers; i++ {
		i := i
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()), kgo.TransactionalID(fmt.Sprintf("k9-%d", i)),
			kgo.TransactionTimeout(5*time.Second), kgo.RetryTimeout(3*time.Second), kgo.RequestRetries(3))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				name := fmt.Sprintf("p%d-t%d", i, j)
				if err := cl.BeginTransaction(); err != nil {
					cancel()
					return
				}
				var failed atomic.Bool // a record that failed was not in the transaction
				for k := 0; k < perTxn; k++ {
					cl.Produce(ctx, &kgo.Record{Topic: "txk", Value: []byte(fmt.Sprintf("%s-r%d", name, k))}, func(_ *kgo.Record, err error) {
						if err != nil {
							failed.Store(true)
						}
					})
				}
				ferr := cl.Flush(ctx)
				if failed.Load() && ferr == nil {
					ferr = errors.New("a record failed")
				}
				err := cl.EndTransaction(ctx, kgo.TransactionEndTry(ferr == nil && j%4 != 3))
				cancel()
				if err != nil || ferr != nil {
					return // the broker went away: this producer is done
				}
				if j%4 != 3 {
					mu.Lock()
					acked[name] = true
					mu.Unlock()
				}
			}
		}()
	}
	// Let transactions run, then crash in the middle of them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.kill9()
	close(stop)
	wg.Wait()
	b.start()

	got := readCommitted(t, b, "txk")
	perName := map[string]map[string]int{}
	for _, v := range got {
		name := v[:strings.LastIndex(v, "-r")]
		if perName[name] == nil {
			perName[name] = map[string]int{}
		}
		perName[name][v]++
	}
	for name, recs := range perName {
		if len(recs) != perTxn {
			t.Errorf("transaction %s partly visible: %d of %d records", name, len(recs), perTxn)
		}
		for v, c := range recs {
			if c != 1 {
				t.Errorf("%s seen %d times", v, c)
			}
		}
	}
	for name := range acked {
		if perName[name] == nil {
			t.Errorf("acknowledged transaction %s is not visible", name)
		}
	}
	t.Logf("%d transactions acknowledged before the crash, %d visible after it", len(acked), len(perName))
}

// TestTxnThroughput compares franz-go produce throughput with and without
// transactions in one run (RUNNEL_TXN_BENCH=1; it only reports figures).
func TestTxnThroughput(t *testing.T) {
	if os.Getenv("RUNNEL_TXN_BENCH") == "" {
		t.Skip("set RUNNEL_TXN_BENCH=1 to measure")
	}
	b := startBroker(t, txnBrokerOpts()...)
	const n, perTxn = 200000, 1000
	value := []byte(strings.Repeat("x", 100))
	measure := func(topic string, txn bool) float64 {
		b.createTopic(t, topic, 3)
		opts := []kgo.Opt{kgo.ProducerLinger(5 * time.Millisecond)}
		if txn {
			opts = append(opts, kgo.TransactionalID("bench-"+topic))
		}
		cl := b.franz(t, opts...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		for i := 0; i < n; i += perTxn {
			if txn {
				if err := cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
			}
			for k := 0; k < perTxn; k++ {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, nil)
			}
			if txn {
				if err := cl.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return float64(n) / time.Since(start).Seconds()
	}
	plain := measure("bench-plain", false)
	txn := measure("bench-txn", true)
	t.Logf("franz-go, %d records of 100 bytes, 3 partitions: idempotent %.0f records/s; transactional (%d per transaction) %.0f records/s (%.0f%%)", n, plain, perTxn, txn, 100*txn/plain)
}

// TestTxnCluster: three brokers, __transaction_state and the data topic
// replicated three ways, so the coordinator writes markers to partitions
// other brokers lead (WriteTxnMarkers) and leaders verify transactional
// writes with a remote coordinator. Then the coordinator of the
// transactional ids is killed with SIGKILL while transactions run: a new
// leader of its __transaction_state partition takes over, and every
// transaction ends up fully visible or fully invisible.
func TestTxnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	c := startCluster(t, 3,
		"transaction.state.log.num.partitions=5", "offsets.topic.num.partitions=5",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
		"default.replication.factor=3", "min.insync.replicas=2")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	mk := func(opts ...kgo.Opt) *kgo.Client {
		return c.client(append([]kgo.Opt{kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)...)
	}
	adm := kadm.NewClient(mk())
	resp, err := adm.CreateTopic(ctx, 3, 3, nil, "ctx")
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	c.waitFullISR(ctx, adm, "ctx")

	cl := mk(kgo.TransactionalID("cluster-txn"))
	var want []string
	for i := 0; i < 6; i++ {
		vs := values(fmt.Sprintf("c%d", i), 30)
		commit := i%3 != 1
		franzTxn(t, cl, "ctx", vs, commit)
		if commit {
			want = append(want, vs...)
		}
	}
	assertExactly(t, "cluster read_committed", readCommittedWith(t, mk, "ctx"), want)
	c.waitFullISR(ctx, adm, "__transaction_state")

	// The coordinator of "k9c-0" is the leader of its partition.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"k9c-0"}
	fresp, err := fc.RequestWith(ctx, mk())
	if err != nil || fresp.Coordinators[0].ErrorCode != 0 {
		t.Fatal(err, fresp)
	}
	coordID := fresp.Coordinators[0].NodeID

	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		i := i
		p := mk(kgo.TransactionalID(fmt.Sprintf("k9c-%d", i)), kgo.TransactionTimeout(5*time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
				name := fmt.Sprintf("p%d-t%d", i, j)
				if err := p.BeginTransaction(); err != nil {
					tcancel()
					return
				}
				var failed atomic.Bool // a record that failed was not in the transaction
				for k := 0; k < 20; k++ {
					p.Produce(tctx, &kgo.Record{Topic: "ctx", Value: []byte(fmt.Sprintf("%s-r%d", name, k))}, func(_ *kgo.Record, err error) {
						if err != nil {
							failed.Store(true)
						}
					})
				}
				ferr := p.Flush(tctx)
				if failed.Load() && ferr == nil {
					ferr = errors.New("a record failed")
				}
				err := p.EndTransaction(tctx, kgo.TransactionEndTry(ferr == nil))
				tcancel()
				if err != nil || ferr != nil {
					return
				}
				mu.Lock()
				acked[name] = true
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.node(coordID).b.kill9()
	close(stop)
	wg.Wait()
	c.node(coordID).b.start()
	c.waitFullISR(ctx, adm, "ctx")

	got := readCommittedWith(t, mk, "ctx")
	perName := map[string]int{}
	for _, v := range got {
		if strings.HasPrefix(v, "p") {
			perName[v[:strings.LastIndex(v, "-r")]]++
		}
	}
	for name, n := range perName {
		if n != 20 {
			t.Errorf("transaction %s partly visible: %d of 20 records", name, n)
		}
	}
	for name := range acked {
		if perName[name] == 0 {
			t.Errorf("acknowledged transaction %s is not visible", name)
		}
	}
	if t.Failed() {
		dcl := mk(kgo.ConsumeTopics("ctx"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		for dctx.Err() == nil {
			fs := dcl.PollFetches(dctx)
			fs.EachRecord(func(r *kgo.Record) {
				for name := range acked {
					if perName[name] == 0 && strings.HasPrefix(string(r.Value), name+"-") {
						t.Logf("uncommitted read: %s at %d-%d pid %d epoch %d", r.Value, r.Partition, r.Offset, r.ProducerID, r.ProducerEpoch)
					}
				}
			})
		}
		dcancel()
		dt := kmsg.NewPtrDescribeTransactionsRequest()
		dt.TransactionalIDs = []string{"k9c-0"}
		if dr, err := dt.RequestWith(ctx, mk()); err == nil {
			t.Logf("describe k9c-0: %+v", dr.TransactionStates)
		}
		for _, nd := range c.nodes {
			var lines []string
			for _, l := range strings.Split(nd.b.logs(), "\n") {
				if strings.Contains(l, "txn") || strings.Contains(l, "leader") || strings.Contains(l, "trunc") {
					lines = append(lines, l)
				}
			}
			t.Logf("broker %d:\n%s", nd.id, tail(strings.Join(lines, "\n"), 80))
		}
	}
	t.Logf("coordinator %d killed: %d transactions acknowledged, %d visible", coordID, len(acked), len(perName))
}

// TestTxnGroupTransactSessionKill9: consume-transform-produce with offsets
// in the transactions, the broker killed with SIGKILL in the middle; after
// a restart (which replays the transactional offset commits and markers
// of __consumer_offsets) a new session finishes the input. Every input
// record is in the committed output exactly once.
func TestTxnGroupTransactSessionKill9(t *testing.T) {
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "k9-in", 3)
	b.createTopic(t, "k9-out", 3)
	const n = 600
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := b.franz(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for _, v := range values("in", n) {
		cl.Produce(ctx, &kgo.Record{Topic: "k9-in", Value: []byte(v)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var done atomic.Int64
	// session transforms 20 records per transaction until stop is closed,
	// an error happens, or (with drain) the group's committed offsets
	// cover the whole input.
	session := func(stop <-chan struct{}, drain bool) {
		s, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(b.addr()),
			kgo.TransactionalID("k9-ctp"),
			kgo.ConsumerGroup("k9-group"),
			kgo.ConsumeTopics("k9-in"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.TransactionTimeout(5*time.Second),
			kgo.RetryTimeout(5*time.Second),
			kgo.SessionTimeout(6*time.Second), // the crashed session's member leaves sooner
		)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		adm := kadm.NewClient(s.Client())
		for ctx.Err() == nil {
			select {
			case <-stop:
				return
			default:
			}
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			fs := s.PollRecords(pctx, 20)
			pcancel()
			recs := fs.Records()
			if len(recs) == 0 {
				if !drain {
					continue
				}
				offs, err := adm.FetchOffsets(ctx, "k9-group")
				var total int64
				if err == nil {
					offs.Each(func(o kadm.OffsetResponse) { total += o.At })
				}
				if total == n {
					return
				}
				continue
			}
			if err := s.Begin(); err != nil {
				return
			}
			for _, r := range recs {
				s.Produce(ctx, &kgo.Record{Topic: "k9-out", Value: []byte("x-" + string(r.Value))}, nil)
			}
			ectx, ecancel := context.WithTimeout(ctx, 10*time.Second)
			committed, err := s.End(ectx, kgo.TryCommit)
			ecancel()
			if err != nil {
				return
			}
			if committed {
				done.Add(int64(len(recs)))
			}
		}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() { defer close(finished); session(stop, false) }()
	for done.Load() < 200 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	b.kill9()
	close(stop)
	<-finished
	before := done.Load()
	b.start()
	session(nil, true)
	t.Logf("%d records transformed before the crash, %d in all", before, done.Load())
	var want []string
	for _, v := range values("in", n) {
		want = append(want, "x-"+v)
	}
	assertExactly(t, "output after kill -9", readCommitted(t, b, "k9-out"), want)
}
