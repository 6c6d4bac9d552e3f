package broker

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/internal/wiretest"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/storage"
	"go.uber.org/zap"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cost of client quotas on the data path: produce and fetch as in
// produce_fetch_bench_test.go through a broker with no quota ("none") and
// one whose quotas apply to the client but never bind ("set":
// producer_byte_rate, consumer_byte_rate and request_percentage on the
// default user and client id, far above what the machine does, beside
// 1,000 other client ids' quotas), so that every request is measured and
// charged. The two brokers run side by side and alternate, round after
// round, b.N records a round each, so that a shared machine's drift hits
// both alike; the medians and their ratio (set/none throughput) are
// reported.
//
//	make bench-quota
func BenchmarkQuotaCost(b *testing.B) {
	const rounds = 9
	addrs := [2]string{quotaBenchBroker(b, false), quotaBenchBroker(b, true)}
	var produce, fetch [2][]float64 // MB/s by case
	mbps := func(n int, d time.Duration) float64 { return float64(n*benchRecordSize) / d.Seconds() / 1e6 }
	b.ResetTimer()
	for r := range rounds {
		for i, addr := range addrs {
			if r%2 == 1 {
				addr, i = addrs[1-i], 1-i // alternate which goes first
			}
			topic := fmt.Sprintf("round-%d", r)
			createBenchTopic(b, addr, topic)
			start := time.Now()
			benchProduce(b, addr, topic, b.N)
			produce[i] = append(produce[i], mbps(b.N, time.Since(start)))
			start = time.Now()
			consumeN(b, addr, topic, b.N)
			fetch[i] = append(fetch[i], mbps(b.N, time.Since(start)))
		}
	}
	b.StopTimer()
	median := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	pn, ps, fn, fs := median(produce[0]), median(produce[1]), median(fetch[0]), median(fetch[1])
	b.ReportMetric(pn, "produce-none-MB/s")
	b.ReportMetric(ps, "produce-set-MB/s")
	b.ReportMetric(ps/pn, "produce-ratio")
	b.ReportMetric(fn, "fetch-none-MB/s")
	b.ReportMetric(fs, "fetch-set-MB/s")
	b.ReportMetric(fs/fn, "fetch-ratio")
}

func createBenchTopic(b *testing.B, addr, topic string) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
}

// consumeN reads n records of topic from its start.
func consumeN(b *testing.B, addr, topic string, n int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	for got := 0; got < n; {
		fs := cl.PollFetches(context.Background())
		if err := fs.Err(); err != nil {
			b.Fatal(err)
		}
		got += fs.NumRecords()
	}
}

func quotaCase(set bool) string {
	if set {
		return "set"
	}
	return "none"
}

func quotaBenchBroker(b *testing.B, set bool) string {
	b.Helper()
	addr := benchBroker(b, "bench")
	if set {
		setBenchQuotas(b, addr)
	}
	return addr
}

// setBenchQuotas sets quotas that apply to every client without binding,
// and 1,000 other client ids' quotas.
func setBenchQuotas(b *testing.B, addr string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	entry := func(pairs ...*string) kmsg.AlterClientQuotasRequestEntry {
		e := kmsg.NewAlterClientQuotasRequestEntry()
		for i := 0; i < len(pairs); i += 2 {
			d := kmsg.NewAlterClientQuotasRequestEntryEntity()
			d.Type, d.Name = *pairs[i], pairs[i+1]
			e.Entity = append(e.Entity, d)
		}
		for _, kv := range []struct {
			k string
			v float64
		}{{"producer_byte_rate", 1 << 40}, {"consumer_byte_rate", 1 << 40}, {"request_percentage", 1e6}} {
			op := kmsg.NewAlterClientQuotasRequestEntryOp()
			op.Key, op.Value = kv.k, kv.v
			e.Ops = append(e.Ops, op)
		}
		return e
	}
	user, client := kmsg.StringPtr("user"), kmsg.StringPtr("client-id")
	req.Entries = append(req.Entries, entry(user, nil, client, nil))
	for i := range 1000 {
		req.Entries = append(req.Entries, entry(client, kmsg.StringPtr(fmt.Sprintf("other-%d", i))))
	}
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range resp.Entries {
		if e.ErrorCode != 0 {
			b.Fatalf("setting quotas: %d %v", e.ErrorCode, e.ErrorMessage)
		}
	}
}

// BenchmarkQuotaHandlers is the same comparison without the client, the
// sockets and the machine's drift: the Produce (one 64 KiB batch,
// acks=1) and Fetch (up to 1 MiB from the start) handlers, as the Server
// calls them (wrapped by withQuotas), of a broker with no quota and of
// one with quotas that apply without binding, called alternately, one
// request each in turn; the median call time per broker is reported, as
// single calls on a shared machine have long outliers (GC, writeback).
// The ratios are set/none median times (1.03 is a 3% cost).
func BenchmarkQuotaHandlers(b *testing.B) {
	brokers := [2]*Broker{quotaBenchInProcess(b, false), quotaBenchInProcess(b, true)}
	cc := &network.ConnContext{ID: 1, Listener: "PLAINTEXT", RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
	ctx := context.Background()
	clientID := "bench-client"
	value := make([]byte, 64<<10)
	rand.Read(value)
	produceFrame := wiretest.EncodeRequest(producePayloadB("bench", value), 1, &clientID)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.MaxBytes, fetch.ReplicaID, fetch.SessionEpoch = 12, 1<<20, -1, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "bench"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LastFetchedEpoch = 1<<20, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fetchFrame := wiretest.EncodeRequest(fetch, 2, &clientID)

	var produceNs, fetchNs [2][]time.Duration
	call := func(br *Broker, key int16, frame []byte) time.Duration {
		req, err := protocol.ParseRequest(slices.Clone(frame))
		if err != nil {
			b.Fatal(err)
		}
		h := br.withQuotas(key, br.handlerTable()[key].Handle)
		start := time.Now()
		resp, err := h(ctx, cc, req)
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Throttle > 0 {
			b.Fatal("throttled: the quotas must not bind")
		}
		if resp.Done != nil {
			resp.Done()
		}
		return d
	}
	// Fill the partitions past what one fetch reads.
	for range 32 {
		for _, br := range brokers {
			call(br, 0, produceFrame)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		for j := range 2 {
			k := (i + j) % 2 // alternate which goes first
			produceNs[k] = append(produceNs[k], call(brokers[k], 0, produceFrame))
			fetchNs[k] = append(fetchNs[k], call(brokers[k], 1, fetchFrame))
		}
	}
	b.StopTimer()
	median := func(ds []time.Duration) float64 { slices.Sort(ds); return float64(ds[len(ds)/2]) }
	pn, ps, fn, fs := median(produceNs[0]), median(produceNs[1]), median(fetchNs[0]), median(fetchNs[1])
	b.ReportMetric(pn, "produce-none-ns")
	b.ReportMetric(ps, "produce-set-ns")
	b.ReportMetric(ps/pn, "produce-ratio")
	b.ReportMetric(fn, "fetch-none-ns")
	b.ReportMetric(fs, "fetch-set-ns")
	b.ReportMetric(fs/fn, "fetch-ratio")
}

// quotaBenchInProcess is a broker with topic "bench" (and the "set"
// quotas), for calling its handlers directly.
func quotaBenchInProcess(b *testing.B, set bool) *Broker {
	b.Helper()
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	cfg, _, err := config.Load("", nil, []string{"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0",
		"log.dirs=" + filepath.Join(dir, "logs"), "runnel.admin.listener="})
	if err != nil {
		b.Fatal(err)
	}
	br, err := New(context.Background(), Options{Config: cfg, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	addr := br.Addrs()[0].String()
	createBenchTopic(b, addr, "bench")
	if set {
		setBenchQuotas(b, addr)
	}
	return br
}

// producePayloadB is a v9 acks=1 Produce of one record of value.
func producePayloadB(topic string, value []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	var bb storage.BatchBuilder
	bb.Add(time.Now().UnixMilli(), nil, value)
	rp.Records = bb.Build()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}
