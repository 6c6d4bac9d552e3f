package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestBenchScale (make bench-scale) measures metadata at scale: one broker
// against an external etcd with its default limits creates
// RUNNEL_BENCH_SCALE_PARTITIONS partitions (default 20,000) in topics of
// RUNNEL_BENCH_SCALE_PER_TOPIC (default 1,000, at most 10,000), one
// CreateTopics each, and prints the create rate (each answer waits until
// the broker's metadata shows the topic and its local logs exist), the
// broker's RSS, etcd's database size and the latency of a Metadata request
// for all topics. The broker binary is the race-enabled one TestMain
// builds, so absolute figures are pessimistic; compare runs of one build.
func TestBenchScale(t *testing.T) {
	if os.Getenv("RUNNEL_BENCH_SCALE") != "1" {
		t.Skip("set RUNNEL_BENCH_SCALE=1 (make bench-scale)")
	}
	total := envInt(t, "RUNNEL_BENCH_SCALE_PARTITIONS", 20_000)
	per := envInt(t, "RUNNEL_BENCH_SCALE_PER_TOPIC", 1000)
	url := testenv.StartEtcd(t)
	b := startBroker(t, withOverride("etcd.endpoints", url))
	cl := b.franz(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()

	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	report := func(label string, created int, took time.Duration) {
		st, err := etcd.Status(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		lat := metadataAllLatency(ctx, t, cl, created)
		fmt.Printf("%-10s partitions=%-7d create=%7.0f partitions/s  rss=%6.1f MiB  etcd_db=%6.1f MiB (in use %6.1f)  metadata_all_p50=%v\n",
			label, created, float64(created)/took.Seconds(), rssMiB(t, b.cmd.Process.Pid),
			float64(st.DbSize)/(1<<20), float64(st.DbSizeInUse)/(1<<20), lat)
	}
	report("empty", 0, time.Second)
	start := time.Now()
	created := 0
	for i := 0; created < total; i++ {
		n := min(per, total-created)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 300_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprintf("scale-%05d", i), int32(n), 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Topics[0].ErrorCode; c != 0 {
			t.Fatalf("create %s: code %d %v", rt.Topic, c, resp.Topics[0].ErrorMessage)
		}
		created += n
		if created == total || created%(max(total/4, per)) < per {
			report("created", created, time.Since(start))
		}
	}

	// Delete everything (timed), which also keeps the broker's shutdown
	// short: a broker stopping with tens of thousands of open logs takes
	// longer than the harness's 30 s.
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 300_000
	for i := 0; i*per < total; i++ {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(fmt.Sprintf("scale-%05d", i))
		req.Topics = append(req.Topics, rt)
	}
	start = time.Now()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != len(req.Topics) {
		t.Fatalf("%d topics deleted of %d", len(resp.Topics), len(req.Topics))
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			t.Fatalf("delete %v: code %d", rt.Topic, rt.ErrorCode)
		}
	}
	took := time.Since(start)
	st, err := etcd.Status(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("deleted    partitions=%-7d delete=%7.0f partitions/s  rss=%6.1f MiB  etcd_db=%6.1f MiB (in use %6.1f)\n",
		total, float64(total)/took.Seconds(), rssMiB(t, b.cmd.Process.Pid), float64(st.DbSize)/(1<<20), float64(st.DbSizeInUse)/(1<<20))
}

// metadataAllLatency is the median time of five Metadata requests for all
// topics; it checks the answer lists want partitions.
func metadataAllLatency(ctx context.Context, t *testing.T, cl interface {
	Request(context.Context, kmsg.Request) (kmsg.Response, error)
}, want int) time.Duration {
	t.Helper()
	var lat []time.Duration
	for range 5 {
		req := kmsg.NewPtrMetadataRequest()
		start := time.Now()
		r, err := cl.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		got := 0
		for _, tp := range r.(*kmsg.MetadataResponse).Topics {
			got += len(tp.Partitions)
		}
		if got != want {
			t.Fatalf("Metadata lists %d partitions, want %d", got, want)
		}
	}
	slices.Sort(lat)
	return lat[len(lat)/2].Round(100 * time.Microsecond)
}

func rssMiB(t *testing.T, pid int) float64 {
	t.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
