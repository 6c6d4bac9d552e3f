package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/bench"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBenchCompare runs the same workloads against a real runnel process
// (built without -race) and against franz-go's in-memory kfake cluster,
// alternating over several rounds, and reports medians and ratios. It
// reports; it asserts no timings. Workload errors (lost or failed records)
// fail it.
//
//	RUNNEL_BENCH_COMPARE=1       run at all (make bench-compare)
//	RUNNEL_BENCH_OUT=path        also write the table there
//	RUNNEL_BENCH_ROUNDS=3        rounds
//	RUNNEL_BENCH_RECORDS=500000  records for produce and consume
//	RUNNEL_BENCH_DURATION=10s    e2e measured duration (at 10 000 rec/s)
func TestBenchCompare(t *testing.T) {
	if os.Getenv("RUNNEL_BENCH_COMPARE") != "1" {
		t.Skip("set RUNNEL_BENCH_COMPARE=1 (make bench-compare) to compare Runnel with kfake")
	}
	rounds := envInt(t, "RUNNEL_BENCH_ROUNDS", 3)
	records := envInt(t, "RUNNEL_BENCH_RECORDS", 500_000)
	duration := 10 * time.Second
	if v := os.Getenv("RUNNEL_BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("RUNNEL_BENCH_DURATION: %v", err)
		}
		duration = d
	}

	bin := buildNoRace(t)
	rn := startBenchBroker(t, bin)
	kf, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()

	targets := []struct {
		name    string
		brokers []string
	}{
		{"runnel", []string{rn.addr}},
		{"kfake", kf.ListenAddrs()},
	}
	samples := map[string]map[string][]float64{"runnel": {}, "kfake": {}}
	var raw strings.Builder
	for round := range rounds {
		order := []int{0, 1}
		if round%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			tg := targets[i]
			cfg := bench.DefaultConfig()
			cfg.Brokers = tg.brokers
			cfg.Topic = fmt.Sprintf("bench-compare-%d", round)
			cfg.Records = records
			cfg.Duration = duration
			cfg.Rate = 10_000
			cfg.Timeout = 5 * time.Minute
			res, err := bench.Run(context.Background(), cfg, bench.ModeAll)
			for _, r := range res {
				line := fmt.Sprintf("round %d %-6s %s", round+1, tg.name, r)
				t.Log(line)
				raw.WriteString(line + "\n")
				addSamples(samples[tg.name], r)
			}
			if err != nil {
				t.Errorf("round %d %s: %v", round+1, tg.name, err)
				raw.WriteString(fmt.Sprintf("round %d %-6s ERROR %v\n", round+1, tg.name, err))
			}
			// Keep kfake's memory and runnel's disk from growing round
			// after round, and start the next round with a quiet heap.
			deleteTopic(t, tg.brokers, cfg.Topic)
			runtime.GC()
		}
	}

	table := compareTable(samples, rounds, records, duration)
	fmt.Println(table)
	if out := os.Getenv("RUNNEL_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table+"\nper-round results:\n"+raw.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", out, err)
		}
	}
}

// metric is one row of the comparison table.
type metric struct {
	key, label string
	latency    bool    // lower is better; printed in ms
	goalRatio  float64 // runnel/kfake at least this (throughput rows)
	goalAbs    time.Duration
}

var compareMetrics = []metric{
	{key: "produce.rps", label: "produce records/s", goalRatio: 2},
	{key: "produce.mbps", label: "produce MB/s", goalRatio: 2},
	{key: "produce.p50", label: "produce latency p50", latency: true},
	{key: "produce.p99", label: "produce latency p99", latency: true},
	{key: "produce.p999", label: "produce latency p999", latency: true},
	{key: "consume.rps", label: "consume records/s", goalRatio: 3},
	{key: "consume.mbps", label: "consume MB/s", goalRatio: 3},
	{key: "e2e.p50", label: "e2e latency p50 @10k/s", latency: true},
	{key: "e2e.p99", label: "e2e latency p99 @10k/s", latency: true, goalAbs: 5 * time.Millisecond},
	{key: "e2e.p999", label: "e2e latency p999 @10k/s", latency: true},
}

// addSamples files a result's figures under compareMetrics keys; a workload
// that did not complete contributes nothing.
func addSamples(s map[string][]float64, r bench.Result) {
	if r.Err != nil {
		return
	}
	lat := func(d time.Duration) float64 { return float64(d) }
	switch r.Mode {
	case bench.ModeProduce:
		s["produce.rps"] = append(s["produce.rps"], r.RecordsPerSec())
		s["produce.mbps"] = append(s["produce.mbps"], r.MBPerSec())
		s["produce.p50"] = append(s["produce.p50"], lat(r.Latency.P50))
		s["produce.p99"] = append(s["produce.p99"], lat(r.Latency.P99))
		s["produce.p999"] = append(s["produce.p999"], lat(r.Latency.P999))
	case bench.ModeConsume:
		s["consume.rps"] = append(s["consume.rps"], r.RecordsPerSec())
		s["consume.mbps"] = append(s["consume.mbps"], r.MBPerSec())
	case bench.ModeE2E:
		s["e2e.p50"] = append(s["e2e.p50"], lat(r.Latency.P50))
		s["e2e.p99"] = append(s["e2e.p99"], lat(r.Latency.P99))
		s["e2e.p999"] = append(s["e2e.p999"], lat(r.Latency.P999))
	}
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func compareTable(samples map[string]map[string][]float64, rounds, records int, duration time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Runnel vs kfake — medians of %d rounds; %d records of 1 KiB, 6 partitions, acks=all, idempotent, uncompressed; e2e 10 000 rec/s for %s; %d CPUs, %s\n\n",
		rounds, records, duration, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&b, "| %-24s | %12s | %12s | %12s | %-22s |\n", "metric", "runnel", "kfake", "runnel/kfake", "goal")
	fmt.Fprintf(&b, "|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 26), strings.Repeat("-", 14), strings.Repeat("-", 14), strings.Repeat("-", 14), strings.Repeat("-", 24))
	for _, m := range compareMetrics {
		rv, rok := median(samples["runnel"][m.key])
		kv, kok := median(samples["kfake"][m.key])
		cell := func(v float64, ok bool) string {
			switch {
			case !ok:
				return "n/a"
			case m.latency:
				return bench.Millis(time.Duration(v))
			default:
				return strconv.FormatFloat(v, 'f', 0, 64)
			}
		}
		ratio := "n/a"
		if rok && kok && kv > 0 {
			ratio = fmt.Sprintf("%.2fx", rv/kv)
		}
		goal := ""
		switch {
		case m.goalRatio > 0:
			goal = fmt.Sprintf(">= %gx kfake: %s", m.goalRatio, verdict(rok && kok && kv > 0 && rv/kv >= m.goalRatio))
		case m.goalAbs > 0:
			goal = fmt.Sprintf("<= %s: %s", m.goalAbs, verdict(rok && time.Duration(rv) <= m.goalAbs))
		}
		fmt.Fprintf(&b, "| %-24s | %12s | %12s | %12s | %-22s |\n", m.label, cell(rv, rok), cell(kv, kok), ratio, goal)
	}
	return b.String()
}

// deleteTopic deletes a round's topic; a failure is only logged, the
// comparison goes on.
func deleteTopic(t *testing.T, brokers []string, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Logf("delete %s: %v", topic, err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Logf("delete %s on %v: %v", topic, brokers, err)
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func envInt(t *testing.T, key string, def int) int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", key, v)
	}
	return n
}

// buildNoRace builds the runnel binary without the race detector (the
// harness's TestMain builds with -race, which would measure the detector).
func buildNoRace(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "runnel-bench")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/runnel/runnel/cmd/runnel")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// benchBroker is a single-node runnel process started from a given binary,
// the way the harness's startBroker starts the race-built one.
type benchBroker struct {
	addr    string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logMu   sync.Mutex
	log     bytes.Buffer
}

func (b *benchBroker) logs() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

func startBenchBroker(t *testing.T, bin string) *benchBroker {
	t.Helper()
	dir := t.TempDir()
	b := &benchBroker{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), exited: make(chan struct{})}
	b.cmd = exec.Command(bin, "serve",
		"--override", "broker.id=1",
		"--override", "listeners=PLAINTEXT://"+b.addr,
		"--override", "log.dirs="+filepath.Join(dir, "logs"),
		"--override", "runnel.admin.listener=127.0.0.1:0",
	)
	b.cmd.Dir = dir
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.cmd.Stderr = b.cmd.Stdout
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			b.logMu.Lock()
			b.log.Write(sc.Bytes())
			b.log.WriteByte('\n')
			b.logMu.Unlock()
		}
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
			if b.waitErr != nil {
				t.Logf("runnel exited uncleanly after SIGTERM: %v\n%s", b.waitErr, tail(b.logs(), 40))
			}
		case <-time.After(30 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.exited
			t.Logf("runnel did not stop within 30s of SIGTERM\n%s", tail(b.logs(), 40))
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-b.exited:
			t.Fatalf("runnel exited before it was ready: %v\n%s", b.waitErr, b.logs())
		default:
		}
		if conn, err := net.DialTimeout("tcp", b.addr, 200*time.Millisecond); err == nil {
			conn.Close()
			if cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr)); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
				cancel()
				cl.Close()
				if err == nil {
					return b
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("runnel not ready at %s after 60s\n%s", b.addr, b.logs())
	return nil
}
