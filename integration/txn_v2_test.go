package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// txnV1Versions caps a franz-go client below KIP-890 part 2 (Produce v11,
// EndTxn v4, TxnOffsetCommit v4): franz-go then keeps the transactions
// version 1 protocol (AddPartitionsToTxn, no epoch bump at EndTxn) even
// where the cluster finalizes transaction.version 2.
func txnV1Versions() kgo.Opt {
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 11)
	v.SetMaxKeyVersion(26, 4)
	v.SetMaxKeyVersion(28, 4)
	return kgo.MaxVersions(v)
}

// franzTxnErr is franzTxn that returns its error (for goroutines).
func franzTxnErr(cl *kgo.Client, topic string, vals []string, commit bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	var mu sync.Mutex
	var first error
	for _, v := range vals {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if first != nil {
		return first
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// describeTxn returns the producer id and epoch of a transactional id.
func describeTxn(t *testing.T, b *broker, id string) (int64, int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ds, err := b.admin(t).DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := ds[id]
	if !ok || d.Err != nil {
		t.Fatalf("DescribeTransactions %s: %+v", id, ds)
	}
	return d.ProducerID, d.ProducerEpoch
}

// TestTxnV1AndV2SideBySide: on a cluster finalizing transaction.version 2
// (a new cluster's default, as in Kafka 4), three transactional producers
// write the same topic at the same time — franz-go under transactions v2
// (Produce v12 adding partitions, EndTxn v5 bumping the epoch), franz-go
// capped to the v1 protocol, and sarama (v1) — with commits and aborts.
// The v2 producer's epoch moves with every transaction, the v1 ones' stay;
// read_committed consumers from franz-go, kcat and confluent-kafka
// (librdkafka) see exactly the committed records.
func TestTxnV1AndV2SideBySide(t *testing.T) {
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "tv12", 3)
	v2 := b.franz(t, kgo.TransactionalID("tv-v2"))
	v1 := b.franz(t, kgo.TransactionalID("tv-v1"), txnV1Versions())
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "tv-sarama"
	cfg.Net.MaxOpenRequests = 1
	sp, err := sarama.NewSyncProducer([]string{b.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	saramaTxn := func(vals []string, commit bool) error {
		if err := sp.BeginTxn(); err != nil {
			return err
		}
		for _, v := range vals {
			if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "tv12", Value: sarama.StringEncoder(v)}); err != nil {
				return err
			}
		}
		if commit {
			return sp.CommitTxn()
		}
		return sp.AbortTxn()
	}

	const rounds = 6
	var want []string
	for i := range rounds {
		commit := i%3 != 1
		vals := map[string][]string{}
		for _, who := range []string{"v2", "v1", "sarama"} {
			vals[who] = values(fmt.Sprintf("%s-r%d", who, i), 40)
			if commit {
				want = append(want, vals[who]...)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		wg.Add(3)
		go func() { defer wg.Done(); errs <- franzTxnErr(v2, "tv12", vals["v2"], commit) }()
		go func() { defer wg.Done(); errs <- franzTxnErr(v1, "tv12", vals["v1"], commit) }()
		go func() { defer wg.Done(); errs <- saramaTxn(vals["sarama"], commit) }()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
	}

	// Transactions v2 bumps the epoch at every EndTxn; v1 never does.
	if _, e := describeTxn(t, b, "tv-v2"); e != rounds {
		t.Errorf("the v2 producer's epoch is %d after %d transactions, want %d", e, rounds, rounds)
	}
	for _, id := range []string{"tv-v1", "tv-sarama"} {
		if _, e := describeTxn(t, b, id); e != 0 {
			t.Errorf("the v1 producer %s has epoch %d, want 0", id, e)
		}
	}

	assertExactly(t, "franz-go read_committed", readCommitted(t, b, "tv12"), want)
	out := kcat(t, "", "-b", b.addr(), "-C", "-t", "tv12", "-o", "beginning", "-e", "-X", "isolation.level=read_committed", "-f", "%s\n")
	assertExactly(t, "kcat read_committed", strings.Fields(out), want)
	out = python(t, "confluent_read_committed.py", b.addr(), "tv12", fmt.Sprint(len(want)))
	assertExactly(t, "confluent-kafka read_committed", strings.Fields(out), want)
}

// TestTxnV2GroupTransactSession: franz-go's consume-transform-produce under
// transactions v2 — TxnOffsetCommit v5 adds the offsets partition without
// AddOffsetsToTxn — with one aborted transaction; every input record is
// transformed exactly once in the committed output, and the group's
// offsets are at the end.
func TestTxnV2GroupTransactSession(t *testing.T) {
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "v2-in", 2)
	b.createTopic(t, "v2-out", 2)
	in := values("in", 60)
	pc := b.franz(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, v := range in {
		if err := pc.ProduceSync(ctx, &kgo.Record{Topic: "v2-in", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b.addr()),
		kgo.TransactionalID("v2-gts"),
		kgo.ConsumerGroup("v2-g"),
		kgo.ConsumeTopics("v2-in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic("v2-out"),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done, aborted := 0, false
	for done < len(in) {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("transformed %d of %d", done, len(in))
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			sess.Produce(ctx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, nil)
		})
		commit := aborted || n == 0
		if _, err := sess.End(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		if n > 0 && !commit {
			aborted = true
			continue
		}
		if commit {
			done += n
		}
	}
	var want []string
	for _, v := range in {
		want = append(want, "out-"+v)
	}
	assertExactly(t, "GroupTransactSession v2 output", readCommitted(t, b, "v2-out"), want)
	offs, err := b.admin(t).FetchOffsets(ctx, "v2-g")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != int64(len(in)) {
		t.Fatalf("committed offsets sum to %d, want %d", sum, len(in))
	}
	if _, e := describeTxn(t, b, "v2-gts"); e < 2 {
		t.Fatalf("the session's epoch is %d: transactions v2 was not used", e)
	}
}

// TestFeatureFlagsClients: feature flags through Kafka's kafka-features
// tool, kadm and sarama against the binary. A new cluster finalizes
// transaction.version 2 and group.version 1; a downgrade typed UPGRADE is
// refused with INVALID_UPDATE_VERSION (sarama v0 without AllowDowngrade,
// kadm); kafka-features downgrades and upgrades; with
// transaction.version 1 finalized a new franz-go producer keeps the v1
// protocol (its epoch stays), and after the upgrade it moves to v2.
func TestFeatureFlagsClients(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t, txnBrokerOpts()...)
	b.createTopic(t, "ff", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const tool = "org.apache.kafka.tools.FeatureCommand" // kafka-features.sh
	levelRe := func(name string) *regexp.Regexp {
		return regexp.MustCompile(`Feature: ` + regexp.QuoteMeta(name) + `\s+SupportedMinVersion: (\S+)\s+SupportedMaxVersion: (\S+)\s+FinalizedVersionLevel: (\S+)`)
	}
	describe := func() map[string]string {
		t.Helper()
		out := kafkaTool(t, "", tool, "--bootstrap-server", b.addr(), "describe")
		got := map[string]string{}
		for _, f := range []string{"transaction.version", "group.version"} {
			m := levelRe(f).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("kafka-features describe lacks %s:\n%s", f, out)
			}
			got[f] = m[1] + "-" + m[2] + "@" + m[3]
		}
		return got
	}
	if got := describe(); got["transaction.version"] != "0-2@2" || got["group.version"] != "0-1@1" {
		t.Fatalf("kafka-features describe on a new cluster: %v", got)
	}
	// kadm: the raw ApiVersions answer, and a refused downgrade.
	adm := b.admin(t)
	avs, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range avs {
		var fin []string
		for _, f := range v.Raw().FinalizedFeatures {
			fin = append(fin, fmt.Sprintf("%s=%d", f.Name, f.MaxVersionLevel))
		}
		sort.Strings(fin)
		if strings.Join(fin, ",") != "group.version=1,transaction.version=2" || v.Raw().FinalizedFeaturesEpoch < 0 {
			t.Fatalf("kadm ApiVersions finalized %v epoch %d", fin, v.Raw().FinalizedFeaturesEpoch)
		}
	}
	res, err := adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 1, UpgradeType: 1})
	if err != nil || !errors.Is(res["transaction.version"].Err, kerr.InvalidUpdateVersion) {
		t.Fatalf("kadm downgrade typed UPGRADE: %v %+v", err, res)
	}
	// sarama: UpdateFeatures v0 without AllowDowngrade is refused.
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	sa, err := sarama.NewClusterAdmin([]string{b.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	if _, err := sa.UpdateFeatures([]sarama.FeatureUpdate{{Feature: "group.version", MaxVersionLevel: 0}}); !errors.Is(err, sarama.ErrInvalidUpdateVersion) {
		t.Fatalf("sarama downgrade without AllowDowngrade: %v", err)
	}
	// kafka-features refuses an upgrade past the supported range.
	if r := runJava(t, 90*time.Second, "", tool, "--bootstrap-server", b.addr(), "upgrade", "--feature", "transaction.version=3"); r.exitCode == 0 ||
		!strings.Contains(r.stdout+r.stderr, "only supports versions 0-2") {
		t.Fatalf("kafka-features upgrade to 3: exit %d\n%s\n%s", r.exitCode, r.stdout, tail(r.stderr, 20))
	}

	// Downgrade to transaction.version 1 with kafka-features: a new
	// franz-go producer keeps the v1 protocol.
	kafkaTool(t, "", tool, "--bootstrap-server", b.addr(), "downgrade", "--feature", "transaction.version=1")
	if got := describe(); got["transaction.version"] != "0-2@1" {
		t.Fatalf("after the downgrade: %v", got)
	}
	p1 := b.franz(t, kgo.TransactionalID("ff-1"))
	for i := range 3 {
		if err := franzTxnErr(p1, "ff", values(fmt.Sprintf("tv1-%d", i), 5), true); err != nil {
			t.Fatal(err)
		}
	}
	if _, e := describeTxn(t, b, "ff-1"); e != 0 {
		t.Fatalf("under transaction.version 1 the epoch moved to %d", e)
	}
	// sarama sees the level in ApiVersions v3.
	br := sarama.NewBroker(b.addr())
	if err := br.Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	av, err := br.ApiVersions(&sarama.ApiVersionsRequest{Version: 3, ClientSoftwareName: "sarama", ClientSoftwareVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]int16{}
	for _, f := range av.FinalizedFeatures {
		levels[f.Name] = f.MaxVersionLevel
	}
	if levels["transaction.version"] != 1 || levels["group.version"] != 1 {
		t.Fatalf("sarama ApiVersions finalized %v", levels)
	}

	// Upgrade back: a new producer uses v2 and bumps per transaction.
	kafkaTool(t, "", tool, "--bootstrap-server", b.addr(), "upgrade", "--feature", "transaction.version=2")
	if got := describe(); got["transaction.version"] != "0-2@2" {
		t.Fatalf("after the upgrade: %v", got)
	}
	p2 := b.franz(t, kgo.TransactionalID("ff-2"))
	for i := range 3 {
		if err := franzTxnErr(p2, "ff", values(fmt.Sprintf("tv2-%d", i), 5), true); err != nil {
			t.Fatal(err)
		}
	}
	if _, e := describeTxn(t, b, "ff-2"); e != 3 {
		t.Fatalf("under transaction.version 2 the epoch is %d after 3 transactions, want 3", e)
	}
	want := append(append(append([]string{}, values("tv1-0", 5)...), append(values("tv1-1", 5), values("tv1-2", 5)...)...), append(values("tv2-0", 5), append(values("tv2-1", 5), values("tv2-2", 5)...)...)...)
	assertExactly(t, "franz-go read_committed", readCommitted(t, b, "ff"), want)
}

// TestTxnV2Latency measures small transactions (10 records over 3
// partitions, commit) with franz-go under transactions v2 and capped to v1
// on one broker: the median and 99th percentile of a whole transaction
// (begin, produce, flush, commit). v2 saves the AddPartitionsToTxn round
// trip and the partition leaders' verification call. Behind
// RUNNEL_TXN_BENCH=1.
func TestTxnV2Latency(t *testing.T) {
	if os.Getenv("RUNNEL_TXN_BENCH") == "" {
		t.Skip("set RUNNEL_TXN_BENCH=1 to measure")
	}
	b := startBroker(t, txnBrokerOpts()...)
	const txns, perTxn = 300, 10
	measure := func(name string, opts ...kgo.Opt) (median, p99 time.Duration) {
		topic := "lat-" + name
		b.createTopic(t, topic, 3)
		cl := b.franz(t, append([]kgo.Opt{kgo.TransactionalID("lat-" + name), kgo.ProducerLinger(0)}, opts...)...)
		var ds []time.Duration
		for i := range txns + 20 {
			start := time.Now()
			vals := values(fmt.Sprintf("%s-%d", name, i), perTxn)
			if err := franzTxnErr(cl, topic, vals, true); err != nil {
				t.Fatal(err)
			}
			if i >= 20 { // warm-up: connections, coordinator load
				ds = append(ds, time.Since(start))
			}
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2], ds[len(ds)*99/100]
	}
	m2, p2 := measure("v2")
	m1, p1 := measure("v1", txnV1Versions())
	t.Logf("franz-go, %d transactions of %d records over 3 partitions: v2 median %v p99 %v; v1 median %v p99 %v; v2/v1 median %.2f",
		txns, perTxn, m2, p2, m1, p1, float64(m2)/float64(m1))
}

// TestApiVersionsV5Identity: ApiVersions v5 (KIP-1242) against the
// binary, sent through franz-go's connection to the broker: the cluster id
// and node id the broker reports in Metadata are accepted, another cluster
// or node is REBOOTSTRAP_REQUIRED, a half-set identity INVALID_REQUEST.
func TestApiVersionsV5Identity(t *testing.T) {
	b := startBroker(t)
	cl := b.franz(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil || md.ClusterID == nil || len(md.Brokers) != 1 {
		t.Fatalf("metadata: %v %+v", err, md)
	}
	node := md.Brokers[0].NodeID
	for _, tc := range []struct {
		name    string
		cluster *string
		node    int32
		want    int16
	}{
		{"this broker", md.ClusterID, node, 0},
		{"bootstrap", nil, -1, 0},
		{"another cluster", kmsg.StringPtr("not-" + *md.ClusterID), node, kerr.RebootstrapRequired.Code},
		{"another node", md.ClusterID, node + 1, kerr.RebootstrapRequired.Code},
		{"cluster without node", md.ClusterID, -1, kerr.InvalidRequest.Code},
	} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 5
		req.ClientSoftwareName, req.ClientSoftwareVersion = "it", "1"
		req.ClusterID, req.NodeID = tc.cluster, tc.node
		resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
		if err != nil || resp.Version != 5 || resp.ErrorCode != tc.want {
			t.Errorf("%s: %v %+v, want error %d", tc.name, err, resp, tc.want)
		}
	}
}
