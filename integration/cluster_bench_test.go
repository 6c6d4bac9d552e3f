package integration

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/runnel/runnel/bench"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestClusterReplicationBench measures acks=all produce throughput on one
// three-broker cluster (one machine, one run) for an RF=1 topic and an
// RF=3 min.insync.replicas=2 topic, with bench.Produce. The brokers are a
// build without the race detector. It runs only with RUNNEL_CLUSTER_BENCH=1
// (make bench-cluster); RUNNEL_CLUSTER_BENCH_RECORDS sets the record count
// (default 200000 of 1 KiB).
func TestClusterReplicationBench(t *testing.T) {
	if os.Getenv("RUNNEL_CLUSTER_BENCH") != "1" {
		t.Skip("set RUNNEL_CLUSTER_BENCH=1")
	}
	records := 200_000
	if v, err := strconv.Atoi(os.Getenv("RUNNEL_CLUSTER_BENCH_RECORDS")); err == nil && v > 0 {
		records = v
	}
	useRunnelWithoutRace(t)

	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.client())
	two := "2"
	for _, tc := range []struct {
		topic string
		rf    int16
		cfg   map[string]*string
	}{
		{"bench-rf1", 1, nil},
		{"bench-rf3", 3, map[string]*string{"min.insync.replicas": &two}},
	} {
		if _, err := adm.CreateTopic(ctx, 6, tc.rf, tc.cfg, tc.topic); err != nil {
			t.Fatal(err)
		}
	}
	c.waitFullISR(ctx, adm, "bench-rf3")
	var results []string
	for _, topic := range []string{"bench-rf1", "bench-rf3", "bench-rf1", "bench-rf3"} {
		cfg := bench.DefaultConfig()
		cfg.Brokers = c.seeds()
		cfg.Topic = topic
		cfg.Records = records
		cfg.Linger = 5 * time.Millisecond
		cfg.Concurrency = 4
		res, err := bench.Produce(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Err != nil {
			t.Fatalf("%s: %v", topic, res.Err)
		}
		line := topic + ": " + strconv.FormatFloat(res.RecordsPerSec(), 'f', 0, 64) + " records/s, " +
			strconv.FormatFloat(res.MBPerSec(), 'f', 1, 64) + " MB/s, p50 " + res.Latency.P50.String() + ", p99 " + res.Latency.P99.String()
		t.Log(line)
		results = append(results, line)
	}
}
