package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

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
	const rounds = 7
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
	if !set {
		return addr
	}
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
	return addr
}
