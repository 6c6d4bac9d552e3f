package integration

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBenchScale (make bench-scale) measures metadata at scale on one
// broker: it creates RUNNEL_BENCH_SCALE_PARTITIONS partitions (default
// 20,000) in topics of RUNNEL_BENCH_SCALE_PER_TOPIC (default 1,000, at
// most 10,000), one CreateTopics each, and prints issue 14's table: the
// create rate (each answer waits until the broker's metadata shows the
// topic and its logs exist), RSS, idle CPU, the etcd data size, Metadata
// latency for all topics, then a clean shutdown (SIGTERM), a restart to a
// ready listener and the first acknowledged produce, and the same after
// kill -9 (RUNNEL_BENCH_SCALE_CREATE_ONLY=1 stops after the idle CPU and a clean shutdown;
// RUNNEL_BENCH_SCALE_KILL_ROUNDS and _BEFORE time kill -9 restarts only, in
// rounds, alternating with another build: killRounds;
// RUNNEL_BENCH_SCALE_PPROF=host:port serves the broker's pprof there). The metadata store is the embedded etcd, or with
// RUNNEL_BENCH_SCALE_EXTERNAL=1 an etcd process with its default limits.
// The broker is built without -race.
func TestBenchScale(t *testing.T) {
	if os.Getenv("RUNNEL_BENCH_SCALE") != "1" {
		t.Skip("set RUNNEL_BENCH_SCALE=1 (make bench-scale)")
	}
	total := envInt(t, "RUNNEL_BENCH_SCALE_PARTITIONS", 20_000)
	per := envInt(t, "RUNNEL_BENCH_SCALE_PER_TOPIC", 1000)
	useRunnelWithoutRace(t)
	var opts []brokerOption
	if os.Getenv("RUNNEL_BENCH_SCALE_EXTERNAL") == "1" {
		opts = append(opts, withOverride("etcd.endpoints", testenv.StartEtcd(t)))
	}
	// RUNNEL_BENCH_SCALE_PROFILE=<dir>: a CPU profile of each timed restart
	// (its first 30 s, from the admin listener's /debug/pprof) is saved
	// there as restart-clean.pprof and restart-kill9.pprof.
	// RUNNEL_BENCH_SCALE_PPROF=host:port: a fixed admin address, to
	// profile the broker from outside.
	profDir := os.Getenv("RUNNEL_BENCH_SCALE_PROFILE")
	adminAddr := os.Getenv("RUNNEL_BENCH_SCALE_PPROF")
	if profDir != "" && adminAddr == "" {
		adminAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	if adminAddr != "" {
		opts = append(opts, withOverride("runnel.admin.listener", adminAddr), withOverride("runnel.admin.pprof.enable", "true"))
	}
	profile := func(name string) (wait func()) {
		if profDir == "" {
			return func() {}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			url := "http://" + adminAddr + "/debug/pprof/profile?seconds=30"
			for range 600 {
				resp, err := http.Get(url)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				defer resp.Body.Close()
				f, err := os.Create(filepath.Join(profDir, name+".pprof"))
				if err == nil {
					_, _ = io.Copy(f, resp.Body)
					f.Close()
				}
				return
			}
		}()
		return func() { <-done }
	}
	b := startBroker(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	cl := b.franz(t)

	report := func(label string, created int, took time.Duration) {
		fmt.Printf("%-8s partitions=%-7d create=%7.0f partitions/s  rss=%6.1f MiB  etcd=%6.1f MiB  metadata_all_p50=%v\n",
			label, created, float64(created)/took.Seconds(), rssMiB(t, b.cmd.Process.Pid),
			float64(etcdBytes(t, b.dataDir))/(1<<20), metadataAllLatency(ctx, t, cl, created))
	}
	start := time.Now()
	created := 0
	topics := 0
	for ; created < total; topics++ {
		n := min(per, total-created)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 300_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = scaleTopic(topics), int32(n), 1
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
	fmt.Printf("idle     cpu=%.1f%% of a core (10 s)\n", 100*cpuShare(t, b.cmd.Process.Pid, 10*time.Second))
	if os.Getenv("RUNNEL_BENCH_SCALE_CREATE_ONLY") == "1" {
		fmt.Printf("shutdown clean (SIGTERM): %v\n", timedStop(t, b))
		return
	}

	if rounds := envInt(t, "RUNNEL_BENCH_SCALE_KILL_ROUNDS", 1); rounds > 1 || os.Getenv("RUNNEL_BENCH_SCALE_BEFORE") != "" {
		killRounds(t, b, rounds, os.Getenv("RUNNEL_BENCH_SCALE_BEFORE"), profile)
		fmt.Printf("shutdown after the unclean restarts: %v\n", timedStop(t, b))
		b.start()
		deleteScaleTopics(ctx, t, b, topics, total)
		return
	}

	fmt.Printf("shutdown clean (SIGTERM): %v\n", timedStop(t, b))
	prof := profile("restart-clean")
	up, produced := timedStart(t, b)
	fmt.Printf("restart  to ready: %v, then first acknowledged produce: %v\n", up, produced)
	prof()
	b.kill9()
	prof = profile("restart-kill9")
	up, produced = timedStart(t, b)
	fmt.Printf("kill -9  restart to ready: %v, then first acknowledged produce: %v\n", up, produced)
	prof()
	fmt.Printf("shutdown after the unclean restart: %v\n", timedStop(t, b))
	b.start()

	deleteScaleTopics(ctx, t, b, topics, total)
}

// deleteScaleTopics deletes everything (timed): it also keeps the
// harness's own stop short.
func deleteScaleTopics(ctx context.Context, t *testing.T, b *broker, topics, total int) {
	t.Helper()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 300_000
	for i := range topics {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(scaleTopic(i))
		req.Topics = append(req.Topics, rt)
	}
	start := time.Now()
	resp, err := req.RequestWith(ctx, b.franz(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			t.Fatalf("delete %v: code %d", rt.Topic, rt.ErrorCode)
		}
	}
	fmt.Printf("deleted  partitions=%-7d delete=%7.0f partitions/s  rss=%6.1f MiB\n",
		total, float64(total)/time.Since(start).Seconds(), rssMiB(t, b.cmd.Process.Pid))
}

// killRounds (RUNNEL_BENCH_SCALE_KILL_ROUNDS=n, RUNNEL_BENCH_SCALE_BEFORE=
// <a runnel binary>) kills the broker with SIGKILL n times and times each
// restart to ready and to the first acknowledged produce; with a "before"
// binary (built from another commit, on the same data) each round restarts
// it too, alternating with this tree's build, and the medians of both are
// printed with their ratio. Before each kill the broker is left to finish
// what the previous restart started (its CPU use falls below 10% of a
// core), so that every round starts from the same state.
func killRounds(t *testing.T, b *broker, rounds int, before string, profile func(string) func()) {
	t.Helper()
	type variant struct {
		name, bin      string
		ready, produce []time.Duration
	}
	vs := []*variant{{name: "after", bin: runnelBinary}}
	if before != "" {
		vs = []*variant{{name: "before", bin: before}, vs[0]}
	}
	saved := runnelBinary
	defer func() { runnelBinary = saved }()
	for r := range rounds {
		for _, v := range vs {
			settle(t, b)
			b.kill9()
			runnelBinary = v.bin
			wait := func() {}
			if r == 0 {
				wait = profile("restart-kill9-" + v.name)
			}
			up, produced := timedStart(t, b)
			wait()
			v.ready, v.produce = append(v.ready, up), append(v.produce, produced)
			fmt.Printf("round %d %-6s kill -9 restart to ready: %v, then first acknowledged produce: %v\n", r+1, v.name, up, produced)
		}
	}
	med := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	for _, v := range vs {
		fmt.Printf("median %-6s (%d rounds) kill -9 restart to ready: %v, then first acknowledged produce: %v, kill -9 to first produce: %v\n",
			v.name, rounds, med(v.ready).Round(time.Millisecond), med(v.produce).Round(time.Millisecond), med(v.produce).Round(time.Millisecond)+med(v.ready).Round(time.Millisecond))
	}
	if len(vs) == 2 {
		total := func(v *variant) float64 { return (med(v.ready) + med(v.produce)).Seconds() }
		fmt.Printf("ratio after/before: ready %.2f, first produce %.2f, kill -9 to first produce %.2f\n",
			med(vs[1].ready).Seconds()/med(vs[0].ready).Seconds(), med(vs[1].produce).Seconds()/med(vs[0].produce).Seconds(),
			total(vs[1])/total(vs[0]))
	}
}

// settle waits (at most two minutes) until the broker's CPU use over a
// second is below 10% of a core: the work a restart started is done.
func settle(t *testing.T, b *broker) {
	t.Helper()
	for range 120 {
		if cpuShare(t, b.cmd.Process.Pid, time.Second) < 0.1 {
			return
		}
	}
}

func scaleTopic(i int) string { return fmt.Sprintf("scale-%05d", i) }

// useRunnelWithoutRace points the harness at a runnel built without the
// race detector for the rest of the test: benchmarks measure the binary
// users run.
func useRunnelWithoutRace(t *testing.T) {
	t.Helper()
	bin := buildNoRace(t, t.TempDir(), "runnel", "github.com/runnel/runnel/cmd/runnel")
	saved := runnelBinary
	runnelBinary = bin
	t.Cleanup(func() { runnelBinary = saved })
}

// timedStop is how long the broker takes to exit after SIGTERM.
func timedStop(t *testing.T, b *broker) time.Duration {
	t.Helper()
	mark := len(b.logs())
	start := time.Now()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Minute):
		t.Fatal("no exit 10 minutes after SIGTERM")
	}
	if b.waitErr != nil {
		t.Fatalf("unclean exit after SIGTERM: %v\n%s", b.waitErr, tail(b.logs(), 40))
	}
	b.cmd = nil
	took := time.Since(start)
	// Where the time went, as the broker logged it (only a shutdown that
	// took over a second logs its steps).
	for _, l := range strings.Split(b.logs()[mark:], "\n") {
		if strings.Contains(l, `"shutdown steps"`) || strings.Contains(l, `"log dir closed"`) {
			if i := strings.Index(l, "{"); i >= 0 {
				fmt.Printf("         %s\n", l[i:])
			}
		}
	}
	return took
}

// timedStart starts the broker and returns how long until its listener
// answered Metadata, then how much longer until a record was acknowledged
// (acks=all) on the first partition of the first topic.
func timedStart(t *testing.T, b *broker) (ready, produced time.Duration) {
	t.Helper()
	mark := len(b.logs())
	start := time.Now()
	b.start()
	ready = time.Since(start)
	cl := b.franz(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(5*time.Minute))
	start = time.Now()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: scaleTopic(0), Partition: 0, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produced = time.Since(start)
	if w := etcdWarnings(b.logs()[mark:]); len(w) > 0 {
		fmt.Printf("         embedded etcd warnings during the start: %v\n", w)
	}
	return ready, produced
}

// etcdWarnings counts the embedded etcd's warnings in a broker's console
// log (time, level, logger, caller, message, fields; tab-separated) by
// message: a start that replays a long WAL shows there.
func etcdWarnings(log string) map[string]int {
	n := map[string]int{}
	for _, l := range strings.Split(log, "\n") {
		if f := strings.Split(l, "\t"); len(f) >= 5 && f[1] == "WARN" && (f[2] == "etcd" || strings.HasPrefix(f[2], "etcd.")) {
			n[f[4]]++
		}
	}
	return n
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

// cpuShare is the share of one core the process used over d (user and
// system time from /proc/<pid>/stat).
func cpuShare(t *testing.T, pid int, d time.Duration) float64 {
	t.Helper()
	ticks := func() float64 {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// Fields after the command name (which may hold spaces).
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		return u + s
	}
	before := ticks()
	time.Sleep(d)
	return (ticks() - before) / 100 / d.Seconds() // USER_HZ is 100 on Linux
}

// etcdBytes is the size of the files of the embedded etcd under dir (0
// with an external etcd).
func etcdBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(path, string(filepath.Separator)+"etcd"+string(filepath.Separator)) {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
