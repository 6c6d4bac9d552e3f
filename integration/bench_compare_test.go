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

	"github.com/runnel/runnel/internal/testenv"

	"github.com/runnel/runnel/bench"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBenchCompare runs the same workloads against a real runnel process
// and against franz-go's in-memory kfake cluster, rotating through the
// targets over several rounds, and reports medians and ratios. It reports;
// it asserts no timings. Workload errors (lost or failed records) fail it.
//
// kfake runs twice: as a process of its own (bench/kfakeserver), which is
// the like-for-like comparison with the runnel process, and in this test's
// process, where it shares the clients' Go runtime and skips a process
// wake-up per request (it wins on latency there). Both binaries are built
// without -race (the harness's TestMain builds runnel with it). Goals are
// judged against the better of the two kfake figures.
//
// Beside throughput it reports CPU seconds per GB moved, for the client
// (this process) and for each server process, read from /proc. On a
// machine with few cores the client and the server share them, so the
// client's own cost bounds what any server can reach: the "client
// ceiling" rows divide the machine's cores by the client's CPU per GB,
// the throughput a server that cost nothing would allow.
//
// Memory is made warm and full first, as on a broker that has run a while.
// On this project's virtual machines the host backs guest memory lazily
// and takes back free pages a few seconds after they are freed (free page
// reporting), so the first touch of such a page costs several
// microseconds: a round writing into free memory ran at a quarter of the
// speed of one writing into recycled page cache. So the test first writes
// a file as large as free memory less 512 MiB, which fills the page cache,
// and keeps every round's topic: Runnel's new page-cache pages and kfake's
// heap then come from reclaiming that clean cache, for every target alike.
// A first, uncounted round warms each target's process. With
// RUNNEL_BENCH_FILL=0 there is no fill and each round's topic is deleted
// after the round (memory stays free, and cold).
//
//	RUNNEL_BENCH_COMPARE=1       run at all (make bench-compare)
//	RUNNEL_BENCH_OUT=path        also write the table there
//	RUNNEL_BENCH_ROUNDS=3        counted rounds (after one warm-up round)
//	RUNNEL_BENCH_RECORDS=500000  records for produce, consume and fetch
//	RUNNEL_BENCH_DURATION=10s    e2e measured duration (at 10 000 rec/s)
//	RUNNEL_BENCH_FILL=1          fill the page cache first (0: don't)
func TestBenchCompare(t *testing.T) {
	if os.Getenv("RUNNEL_BENCH_COMPARE") != "1" {
		t.Skip("set RUNNEL_BENCH_COMPARE=1 (make bench-compare) to compare Runnel with kfake")
	}
	rounds := envInt(t, "RUNNEL_BENCH_ROUNDS", 3)
	records := envInt(t, "RUNNEL_BENCH_RECORDS", 500_000)
	duration := envDuration(t, "RUNNEL_BENCH_DURATION", 10*time.Second)

	fill := os.Getenv("RUNNEL_BENCH_FILL") != "0"
	if fill {
		fillPageCache(t, t.TempDir())
	}

	binDir := t.TempDir()
	rn := startRunnelProc(t, buildNoRace(t, binDir, "runnel", "github.com/runnel/runnel/cmd/runnel"))
	kp := startKfakeProc(t, buildNoRace(t, binDir, "kfakeserver", "github.com/runnel/runnel/bench/kfakeserver"))
	kf, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()

	targets := []struct {
		name      string
		brokers   []string
		serverCPU func() (time.Duration, error)
	}{
		{targetRunnel, []string{rn.addr}, bench.ProcCPU(rn.cmd.Process.Pid)},
		{targetKfake, []string{kp.addr}, bench.ProcCPU(kp.cmd.Process.Pid)},
		{targetKfakeInProc, kf.ListenAddrs(), nil},
	}
	samples := map[string]map[string][]float64{}
	for _, tg := range targets {
		samples[tg.name] = map[string][]float64{}
	}
	var raw strings.Builder
	for round := range rounds + 1 {
		warmUp := round == 0
		for k := range targets {
			tg := targets[(round+k)%len(targets)]
			cfg := bench.DefaultConfig()
			cfg.Brokers = tg.brokers
			cfg.Topic = fmt.Sprintf("bench-compare-%d", round)
			cfg.Records = records
			cfg.Duration = duration
			cfg.Rate = 10_000
			cfg.Timeout = 5 * time.Minute
			cfg.ServerCPU = tg.serverCPU
			mode := bench.ModeAll
			label := fmt.Sprintf("round %d", round)
			if warmUp {
				mode, label = bench.ModeProduce, "warm-up"
			}
			res, err := bench.Run(context.Background(), cfg, mode)
			for _, r := range res {
				line := fmt.Sprintf("%-8s %-12s %s", label, tg.name, r)
				t.Log(line)
				raw.WriteString(line + "\n")
				if !warmUp {
					addSamples(samples[tg.name], r)
				}
			}
			if err != nil {
				t.Errorf("%s %s: %v", label, tg.name, err)
				raw.WriteString(fmt.Sprintf("%-8s %-12s ERROR %v\n", label, tg.name, err))
			}
			if !fill {
				// Keep kfake's memory and runnel's disk from growing
				// round after round.
				deleteTopic(t, tg.brokers, cfg.Topic)
			}
			runtime.GC()
		}
	}

	table := compareTable(samples, rounds, records, duration, fill)
	fmt.Println(table)
	if out := os.Getenv("RUNNEL_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table+"\nper-round results:\n"+raw.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", out, err)
		}
	}
}

const (
	targetRunnel      = "runnel"
	targetKfake       = "kfake"
	targetKfakeInProc = "kfake-inproc"
)

// metric is one row of the comparison table.
type metric struct {
	key, label string
	latency    bool    // lower is better; printed in ms
	decimals   int     // for plain figures
	goalRatio  float64 // runnel/kfake at least this (throughput rows)
	goalAbs    time.Duration
}

var compareMetrics = []metric{
	{key: "produce.rps", label: "produce records/s", goalRatio: 2},
	{key: "produce.mbps", label: "produce MB/s", goalRatio: 2},
	{key: "produce.p50", label: "produce latency p50", latency: true},
	{key: "produce.p99", label: "produce latency p99", latency: true},
	{key: "produce.p999", label: "produce latency p999", latency: true},
	{key: "produce.server", label: "produce server CPU s/GB", decimals: 2},
	{key: "produce.client", label: "produce client CPU s/GB", decimals: 2},
	{key: "produce.ceiling", label: "produce client ceiling MB/s"},
	{key: "consume.rps", label: "consume records/s", goalRatio: 3},
	{key: "consume.mbps", label: "consume MB/s", goalRatio: 3},
	{key: "consume.server", label: "consume server CPU s/GB", decimals: 2},
	{key: "consume.client", label: "consume client CPU s/GB", decimals: 2},
	{key: "consume.ceiling", label: "consume client ceiling MB/s"},
	{key: "fetch.rps", label: "raw fetch records/s"},
	{key: "fetch.server", label: "raw fetch server CPU s/GB", decimals: 2},
	{key: "fetch.client", label: "raw fetch client CPU s/GB", decimals: 2},
	{key: "e2e.p50", label: "e2e latency p50 @10k/s", latency: true},
	{key: "e2e.p99", label: "e2e latency p99 @10k/s", latency: true, goalAbs: 5 * time.Millisecond},
	{key: "e2e.p999", label: "e2e latency p999 @10k/s", latency: true},
}

// addSamples files a result's figures under compareMetrics keys; a workload
// that did not complete contributes nothing. The client ceiling is the
// machine's cores over the client's CPU seconds per MB.
func addSamples(s map[string][]float64, r bench.Result) {
	if r.Err != nil {
		return
	}
	lat := func(d time.Duration) float64 { return float64(d) }
	add := func(key string, v float64) { s[key] = append(s[key], v) }
	cpu := func(mode string) {
		if r.ServerCPU > 0 {
			add(mode+".server", r.ServerCPUPerGB())
		}
		if c := r.ClientCPUPerGB(); c > 0 {
			add(mode+".client", c)
			add(mode+".ceiling", float64(runtime.NumCPU())/c*1024)
		}
	}
	switch r.Mode {
	case bench.ModeProduce:
		add("produce.rps", r.RecordsPerSec())
		add("produce.mbps", r.MBPerSec())
		add("produce.p50", lat(r.Latency.P50))
		add("produce.p99", lat(r.Latency.P99))
		add("produce.p999", lat(r.Latency.P999))
		cpu("produce")
	case bench.ModeConsume:
		add("consume.rps", r.RecordsPerSec())
		add("consume.mbps", r.MBPerSec())
		cpu("consume")
	case bench.ModeFetch:
		add("fetch.rps", r.RecordsPerSec())
		cpu("fetch")
	case bench.ModeE2E:
		add("e2e.p50", lat(r.Latency.P50))
		add("e2e.p99", lat(r.Latency.P99))
		add("e2e.p999", lat(r.Latency.P999))
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

func compareTable(samples map[string]map[string][]float64, rounds, records int, duration time.Duration, fill bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Runnel vs kfake — medians of %d rounds after a warm-up; %d records of 1 KiB, 6 partitions, acks=all, idempotent, uncompressed; e2e 10 000 rec/s for %s; %d CPUs, %s; page cache filled first: %v\n",
		rounds, records, duration, runtime.NumCPU(), runtime.Version(), fill)
	b.WriteString("kfake = kfake in its own process, inproc = kfake inside the benchmark process (its CPU counts as the client's); goals judged against the better kfake figure\n")
	b.WriteString("client ceiling = CPUs / client CPU per MB: the throughput a server that cost nothing would allow this client on this machine\n\n")
	row := func(cells ...string) {
		fmt.Fprintf(&b, "| %-27s | %11s | %11s | %11s | %13s | %13s | %-20s |\n", cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6])
	}
	row("metric", "runnel", "kfake", "inproc", "runnel/kfake", "runnel/inproc", "goal")
	fmt.Fprintf(&b, "|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 29), strings.Repeat("-", 13), strings.Repeat("-", 13), strings.Repeat("-", 13), strings.Repeat("-", 15), strings.Repeat("-", 15), strings.Repeat("-", 22))
	for _, m := range compareMetrics {
		rv, rok := median(samples[targetRunnel][m.key])
		kv, kok := median(samples[targetKfake][m.key])
		iv, iok := median(samples[targetKfakeInProc][m.key])
		cell := func(v float64, ok bool) string {
			switch {
			case !ok:
				return "n/a"
			case m.latency:
				return bench.Millis(time.Duration(v))
			default:
				return strconv.FormatFloat(v, 'f', m.decimals, 64)
			}
		}
		ratio := func(a float64, aok bool, b float64, bok bool) string {
			if !aok || !bok || b <= 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.2fx", a/b)
		}
		goal := ""
		switch {
		case m.goalRatio > 0:
			best, bok := kv, kok
			if iok && (!kok || iv > kv) {
				best, bok = iv, true
			}
			goal = fmt.Sprintf(">= %gx kfake: %s", m.goalRatio, verdict(rok && bok && best > 0 && rv/best >= m.goalRatio))
		case m.goalAbs > 0:
			goal = fmt.Sprintf("<= %s: %s", m.goalAbs, verdict(rok && time.Duration(rv) <= m.goalAbs))
		}
		row(m.label, cell(rv, rok), cell(kv, kok), cell(iv, iok), ratio(rv, rok, kv, kok), ratio(rv, rok, iv, iok), goal)
	}
	return b.String()
}

// fillPageCache writes a file of the machine's free memory less 512 MiB
// into dir and syncs it, so that the page cache holds clean, recently
// touched pages that later allocations reclaim. It logs what it did; a
// machine with less than 1 GiB free is left as it is.
func fillPageCache(t *testing.T, dir string) {
	t.Helper()
	free, err := memFree()
	if err != nil {
		t.Logf("page-cache fill skipped: %v", err)
		return
	}
	size := free - 512<<20
	if size < 1<<30 {
		t.Logf("page-cache fill skipped: %d MiB free", free>>20)
		return
	}
	start := time.Now()
	f, err := os.Create(filepath.Join(dir, "page-cache-fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte("runnel page cache fill\n"), (4<<20)/23+1)[:4<<20]
	for written := int64(0); written < size; written += int64(len(chunk)) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatalf("page-cache fill: %v", err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("page-cache fill: %v", err)
	}
	t.Logf("page cache filled with %d MiB in %s", size>>20, time.Since(start).Round(time.Millisecond))
}

// memFree reads MemFree from /proc/meminfo, in bytes.
func memFree() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemFree:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no MemFree in /proc/meminfo")
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

// envDuration reads a duration from the environment (def when unset).
func envDuration(t *testing.T, key string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return d
}

// buildNoRace builds a command of this module without the race detector.
func buildNoRace(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// benchProc is a server process under benchmark, started the way the
// harness's startBroker starts the race-built runnel, and stopped with
// SIGTERM at test end.
type benchProc struct {
	name      string
	addr      string
	cmd       *exec.Cmd
	firstLine chan string
	exited    chan struct{}
	waitErr   error
	logMu     sync.Mutex
	log       bytes.Buffer
}

func (p *benchProc) logs() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

func startProc(t *testing.T, name, bin string, args ...string) *benchProc {
	t.Helper()
	dir := t.TempDir()
	p := &benchProc{name: name, firstLine: make(chan string, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	testenv.DieWithTest(p.cmd)
	p.cmd.Dir = dir
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		first := true
		for sc.Scan() {
			if first {
				p.firstLine <- sc.Text()
				first = false
			}
			p.logMu.Lock()
			p.log.Write(sc.Bytes())
			p.log.WriteByte('\n')
			p.logMu.Unlock()
		}
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if p.waitErr != nil {
				t.Logf("%s exited uncleanly after SIGTERM: %v\n%s", name, p.waitErr, tail(p.logs(), 40))
			}
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			t.Logf("%s did not stop within 30s of SIGTERM\n%s", name, tail(p.logs(), 40))
		}
	})
	return p
}

// startRunnelProc starts a single-node runnel with an embedded etcd on a
// free port and waits until it serves Metadata.
func startRunnelProc(t *testing.T, bin string) *benchProc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	logs := filepath.Join(t.TempDir(), "logs")
	p := startProc(t, targetRunnel, bin, "serve",
		"--override", "broker.id=1",
		"--override", "listeners=PLAINTEXT://"+addr,
		"--override", "log.dirs="+logs,
		"--override", "runnel.admin.listener=127.0.0.1:0",
	)
	p.addr = addr
	p.waitReady(t)
	return p
}

// startKfakeProc starts bench/kfakeserver, which prints its address first.
func startKfakeProc(t *testing.T, bin string) *benchProc {
	t.Helper()
	p := startProc(t, targetKfake, bin)
	select {
	case line := <-p.firstLine:
		p.addr = strings.TrimSpace(line)
	case <-p.exited:
		t.Fatalf("kfakeserver exited: %v\n%s", p.waitErr, p.logs())
	case <-time.After(30 * time.Second):
		t.Fatal("kfakeserver printed no address within 30s")
	}
	p.waitReady(t)
	return p
}

// waitReady polls the listener with a real client until Metadata answers.
func (p *benchProc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.waitErr, p.logs())
		default:
		}
		if conn, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond); err == nil {
			conn.Close()
			if cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr)); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
				cancel()
				cl.Close()
				if err == nil {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s after 60s\n%s", p.name, p.addr, p.logs())
}
