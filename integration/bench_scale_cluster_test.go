package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestBenchScaleCluster (make bench-scale-cluster) measures issue 14's
// cluster goals: three brokers on a three-member etcd (Debian's
// etcd-server, default limits) holding RUNNEL_BENCH_SCALE_CLUSTER_PARTITIONS
// partitions (default 30,000) with three replicas each, in topics of 1,000.
// Each of RUNNEL_BENCH_SCALE_CLUSTER_ROUNDS rounds (default 3):
//
//   - failover: the controller broker is killed (SIGKILL); the test's own
//     etcd watch sees its lease expire (its registration deleted) and the
//     partition states written after it: the new controller's first write,
//     and the write that leaves none of the dead broker's partitions led
//     by it; it also polls a survivor's Metadata until no partition names
//     the dead broker as leader. The broker is then started again and the
//     test waits until every partition is back with its preferred leader
//     and a full ISR.
//   - controlled shutdown: a broker that is not the controller, leading
//     about a third of the partitions, gets SIGTERM while a franz-go
//     producer (idempotent, acks=all) writes to one partition in ten of
//     every topic; the time to its exit is printed, then the errors the
//     producer's records ended with (none is expected: franz-go retries
//     the retriable ones), and every acknowledged record is read back.
//
// RUNNEL_BENCH_SCALE_CLUSTER_OVERRIDES (key=value,...) adds broker
// settings; RUNNEL_BENCH_SCALE_CLUSTER_OUT=dir receives the brokers' logs
// and CPU profiles (each controlled shutdown's own, signal to exit, as
// shutdown-r<round>-exit-<broker>.pprof).
// The broker session timeout (lease TTL) is
// RUNNEL_BENCH_SCALE_CLUSTER_SESSION_MS (default 9,000, Kafka's). Runnel is built
// without -race.
func TestBenchScaleCluster(t *testing.T) {
	if os.Getenv("RUNNEL_BENCH_SCALE_CLUSTER") != "1" {
		t.Skip("set RUNNEL_BENCH_SCALE_CLUSTER=1 (make bench-scale-cluster)")
	}
	total := envInt(t, "RUNNEL_BENCH_SCALE_CLUSTER_PARTITIONS", 30_000)
	rounds := envInt(t, "RUNNEL_BENCH_SCALE_CLUSTER_ROUNDS", 3)
	session := envInt(t, "RUNNEL_BENCH_SCALE_CLUSTER_SESSION_MS", 9000)
	const per = 1000
	useRunnelWithoutRace(t)
	sc := startScaleCluster(t, 3, session)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Minute)
	defer cancel()

	start := time.Now()
	var topics []string
	cl := sc.nodes[0].franz(t)
	for created := 0; created < total; {
		n := min(per, total-created)
		name := scaleTopic(len(topics))
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 300_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, int32(n), 3
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = "min.insync.replicas", kmsg.StringPtr("2")
		rt.Configs = append(rt.Configs, c)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Topics[0].ErrorCode; c != 0 {
			t.Fatalf("create %s: code %d %v", name, c, resp.Topics[0].ErrorMessage)
		}
		topics = append(topics, name)
		created += n
	}
	fmt.Printf("created  partitions=%d (RF 3) in %v: %.0f partitions/s\n", total, time.Since(start).Round(time.Millisecond), float64(total)/time.Since(start).Seconds())
	start = time.Now()
	sc.waitBalanced(ctx, total, 15*time.Minute)
	fmt.Printf("balanced every partition led by its preferred replica with a full ISR %v later; rss=%.0f/%.0f/%.0f MiB\n",
		time.Since(start).Round(time.Millisecond), rssMiB(t, sc.nodes[0].cmd.Process.Pid), rssMiB(t, sc.nodes[1].cmd.Process.Pid), rssMiB(t, sc.nodes[2].cmd.Process.Pid))

	var failFirst, failAll, failMeta, stopTook, restartTook []time.Duration
	for round := 1; round <= rounds; round++ {
		sc.round = round
		f := sc.failover(ctx, total)
		fmt.Printf("round %d failover: controller %d (leading %d) killed; lease expired %v after the kill; new controller %d's first write %v after the expiry, all its leaderships moved %v after it, Metadata without it %v after it\n",
			round, f.dead, f.led, f.expiry.Sub(f.kill).Round(time.Millisecond), f.newController,
			f.first.Sub(f.expiry).Round(time.Millisecond), f.all.Sub(f.expiry).Round(time.Millisecond), f.meta.Sub(f.expiry).Round(time.Millisecond))
		failFirst = append(failFirst, f.first.Sub(f.expiry))
		failAll = append(failAll, f.all.Sub(f.expiry))
		failMeta = append(failMeta, f.meta.Sub(f.expiry))
		restartTook = append(restartTook, sc.restart(ctx, f.dead, total))

		s := sc.controlledShutdown(ctx, topics, per)
		fmt.Printf("round %d controlled shutdown: broker %d leading %d stopped %v after SIGTERM (its log: %s); producer: %d acknowledged, %d records failed %v; all acknowledged records read back\n",
			round, s.id, s.led, s.took.Round(time.Millisecond), s.logged, s.acked, s.failed, s.errs)
		stopTook = append(stopTook, s.took)
		restartTook = append(restartTook, sc.restart(ctx, s.id, total))
	}
	fmt.Printf("median over %d rounds, %d partitions: failover first write %v, all moved %v, Metadata %v after lease expiry; controlled shutdown %v; restart to balanced %v\n",
		rounds, total, medianDuration(failFirst), medianDuration(failAll), medianDuration(failMeta), medianDuration(stopTook), medianDuration(restartTook))
}

func medianDuration(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

// scaleCluster is n runnel processes (ids 1..n) on a three-member etcd,
// without proxies: the benchmark measures the brokers, not the harness.
type scaleCluster struct {
	t     *testing.T
	etcd  *clientv3.Client
	nodes []*broker
	admin []string // admin listeners (pprof)
	// out, if set (RUNNEL_BENCH_SCALE_CLUSTER_OUT), is a directory that
	// receives the brokers' logs and CPU profiles of each phase.
	out   string
	round int
}

func startScaleCluster(t *testing.T, n, sessionMs int) *scaleCluster {
	t.Helper()
	urls := startEtcdCluster(t, 3)
	cli, err := clientv3.New(clientv3.Config{Endpoints: urls, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	sc := &scaleCluster{t: t, etcd: cli, out: os.Getenv("RUNNEL_BENCH_SCALE_CLUSTER_OUT")}
	for i := 1; i <= n; i++ {
		b := &broker{t: t, dataDir: t.TempDir(), port: testenv.FreePort(t)}
		admin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		sc.admin = append(sc.admin, admin)
		b.args = append(b.args,
			"--override", fmt.Sprintf("broker.id=%d", i),
			"--override", "etcd.endpoints="+strings.Join(urls, ","),
			"--override", fmt.Sprintf("broker.session.timeout.ms=%d", sessionMs),
			"--override", "runnel.admin.listener="+admin,
			"--override", "runnel.admin.pprof.enable=true",
		)
		// RUNNEL_BENCH_SCALE_CLUSTER_OVERRIDES=key=value,...: broker
		// settings to compare (num.recovery.threads.per.data.dir, say).
		for _, kv := range strings.Split(os.Getenv("RUNNEL_BENCH_SCALE_CLUSTER_OVERRIDES"), ",") {
			if kv = strings.TrimSpace(kv); kv != "" {
				b.args = append(b.args, "--override", kv)
			}
		}
		if sc.out != "" {
			// Each stop's CPU profile, signal to exit (the last start's
			// overwrites the one before).
			b.env = append(b.env, fmt.Sprintf("RUNNEL_SHUTDOWN_CPUPROFILE=%s", filepath.Join(sc.out, fmt.Sprintf("exit-%d.pprof", i))))
		}
		sc.nodes = append(sc.nodes, b)
	}
	for _, b := range sc.nodes {
		b.start()
		t.Cleanup(b.stop)
	}
	return sc
}

// startEtcdCluster starts a three-member (or n-member) etcd of Debian's
// etcd-server processes with their default limits on free loopback ports
// and returns the client URLs. The processes are killed when the test ends.
func startEtcdCluster(t *testing.T, n int) []string {
	t.Helper()
	if _, err := os.Stat(testenv.EtcdBinary); err != nil {
		t.Skipf("no %s (make test-deps installs etcd-server)", testenv.EtcdBinary)
	}
	dir := t.TempDir()
	var clients, peers, initial []string
	for i := range n {
		clients = append(clients, fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)))
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)))
		initial = append(initial, fmt.Sprintf("e%d=%s", i, peers[i]))
	}
	for i := range n {
		cmd := exec.Command(testenv.EtcdBinary,
			"--name", fmt.Sprintf("e%d", i), "--data-dir", filepath.Join(dir, fmt.Sprint(i)),
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bench", "--log-level", "error", "--logger", "zap")
		testenv.DieWithTest(cmd)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: clients, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	eventuallyNil(t, 30*time.Second, "etcd cluster ready", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := cli.Put(ctx, "/bench/ready", "1")
		return err
	})
	return clients
}

// partitionView is one Metadata answer: each partition's leader, and
// whether it is balanced (preferred leader, full ISR).
type partitionView struct {
	controller int32
	leaders    map[string]int32 // "topic/partition" → leader
	balanced   int
	total      int
}

func (sc *scaleCluster) view(ctx context.Context, b *broker) (partitionView, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()))
	if err != nil {
		return partitionView{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	r, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return partitionView{}, err
	}
	v := partitionView{controller: r.ControllerID, leaders: map[string]int32{}}
	for _, tp := range r.Topics {
		for _, p := range tp.Partitions {
			v.total++
			v.leaders[fmt.Sprintf("%s/%d", *tp.Topic, p.Partition)] = p.Leader
			if len(p.Replicas) > 0 && p.Leader == p.Replicas[0] && len(p.ISR) == len(p.Replicas) && p.ErrorCode == 0 {
				v.balanced++
			}
		}
	}
	return v, nil
}

// waitBalanced waits until every broker's Metadata shows all total
// partitions led by their preferred replica with a full ISR.
func (sc *scaleCluster) waitBalanced(ctx context.Context, total int, within time.Duration) {
	sc.t.Helper()
	eventuallyNil(sc.t, within, "every partition balanced", func() error {
		for i, b := range sc.nodes {
			v, err := sc.view(ctx, b)
			if err != nil {
				return err
			}
			if v.total != total || v.balanced != total {
				return fmt.Errorf("broker %d: %d of %d partitions balanced (%d listed)", i+1, v.balanced, total, v.total)
			}
		}
		return nil
	})
}

func (sc *scaleCluster) restart(ctx context.Context, id int32, total int) time.Duration {
	start := time.Now()
	sc.nodes[id-1].start()
	sc.waitBalanced(ctx, total, 15*time.Minute)
	return time.Since(start)
}

type failoverResult struct {
	dead, newController int32
	led                 int
	kill, expiry        time.Time
	first, all, meta    time.Time
}

// failover kills the controller and times, from the test's own etcd
// watch, its lease expiry and the new controller's partition-state
// writes.
func (sc *scaleCluster) failover(ctx context.Context, total int) failoverResult {
	t := sc.t
	t.Helper()
	v, err := sc.view(ctx, sc.nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	res := failoverResult{dead: v.controller}
	pending := map[string]bool{}
	for k, l := range v.leaders {
		if l == res.dead {
			pending["/runnel/partitions/"+k] = true
		}
	}
	res.led = len(pending)
	g, err := sc.etcd.Get(ctx, "/runnel/cluster_id")
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wch := sc.etcd.Watch(wctx, "/runnel/", clientv3.WithPrefix(), clientv3.WithRev(g.Header.Revision+1))
	survivor := sc.nodes[res.dead%3] // the next id
	res.kill = time.Now()
	sc.nodes[res.dead-1].kill9()
	waitProfile := sc.profile(fmt.Sprintf("failover-r%d", sc.round), 20*time.Second, res.dead)
	defer waitProfile()
	deadKey := fmt.Sprintf("/runnel/brokers/%d", res.dead)
	timeout := time.After(3 * time.Minute)
	for len(pending) > 0 {
		select {
		case wr := <-wch:
			if err := wr.Err(); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, ev := range wr.Events {
				key := string(ev.Kv.Key)
				if ev.Type == clientv3.EventTypeDelete && key == deadKey && res.expiry.IsZero() {
					res.expiry = now
				}
				if ev.Type != clientv3.EventTypePut || !strings.HasPrefix(key, "/runnel/partitions/") || res.expiry.IsZero() {
					continue
				}
				if res.first.IsZero() {
					res.first = now
				}
				var rec struct {
					Leader int32 `json:"leader"`
				}
				if json.Unmarshal(ev.Kv.Value, &rec) == nil && rec.Leader != res.dead && pending[key] {
					delete(pending, key)
					if len(pending) == 0 {
						res.all = now
					}
				}
			}
		case <-timeout:
			t.Fatalf("failover: %d of broker %d's partitions still not moved 3 min after its kill (lease expired: %v)", len(pending), res.dead, !res.expiry.IsZero())
		}
	}
	eventuallyNil(t, 3*time.Minute, "Metadata without the dead leader", func() error {
		v, err := sc.view(ctx, survivor)
		if err != nil {
			return err
		}
		for k, l := range v.leaders {
			if l == res.dead {
				return fmt.Errorf("%s still led by %d", k, l)
			}
		}
		res.newController = v.controller
		return nil
	})
	res.meta = time.Now()
	sc.saveLogs(fmt.Sprintf("failover-r%d", sc.round))
	return res
}

type shutdownResult struct {
	id            int32
	led           int
	took          time.Duration
	logged        string
	acked, failed int
	errs          map[string]int
}

var shutdownDoneRE = regexp.MustCompile(`controlled shutdown (done|incomplete)[^\n]*`)

// controlledShutdown stops a broker that is not the controller with
// SIGTERM while a producer writes to one partition in ten of every topic,
// then reads every acknowledged record back.
func (sc *scaleCluster) controlledShutdown(ctx context.Context, topics []string, per int) shutdownResult {
	t := sc.t
	t.Helper()
	v, err := sc.view(ctx, sc.nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	res := shutdownResult{id: v.controller%3 + 1, errs: map[string]int{}}
	for _, l := range v.leaders {
		if l == res.id {
			res.led++
		}
	}
	var seeds []string
	for _, b := range sc.nodes {
		seeds = append(seeds, b.addr())
	}
	var targets []topicPartition
	for _, topic := range topics {
		for p := int32(0); p < int32(per); p += 10 {
			targets = append(targets, topicPartition{topic, p})
		}
	}
	// About 3,000 records a second: the machine has two cores for the
	// brokers, etcd and the producer.
	pr := startAckedProducer(ctx, t, seeds, targets, 30)
	time.Sleep(3 * time.Second)
	b := sc.nodes[res.id-1]
	waitProfile := sc.profile(fmt.Sprintf("shutdown-r%d", sc.round), 15*time.Second, res.id)
	res.took = timedStop(t, b)
	waitProfile()
	sc.saveLogs(fmt.Sprintf("shutdown-r%d", sc.round))
	if sc.out != "" {
		// The stopped broker's own profile, signal to exit.
		_ = os.Rename(filepath.Join(sc.out, fmt.Sprintf("exit-%d.pprof", res.id)),
			filepath.Join(sc.out, fmt.Sprintf("shutdown-r%d-exit-%d.pprof", sc.round, res.id)))
	}
	if all := shutdownDoneRE.FindAllString(b.logs(), -1); len(all) > 0 {
		res.logged = all[len(all)-1]
	}
	time.Sleep(5 * time.Second)
	pr.stop(ctx)
	res.acked, res.failed, res.errs = pr.ackedN, pr.failed, pr.errs
	pr.verify(ctx, seeds)
	return res
}

type topicPartition struct {
	topic string
	p     int32
}

// ackedProducer is a franz-go producer (idempotent, acks=all, quick
// retries through leader changes) writing round-robin to its targets,
// perTick records every 10 ms, and recording what was acknowledged and
// which records failed (franz-go retries retriable errors itself: a
// record fails only with a non-retriable error or after 60 s).
type ackedProducer struct {
	t      *testing.T
	cl     *kgo.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	acked  map[topicPartition]map[int64]string
	ackedN int
	failed int
	errs   map[string]int
}

func startAckedProducer(ctx context.Context, t *testing.T, seeds []string, targets []topicPartition, perTick int) *ackedProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.RecordDeliveryTimeout(60*time.Second),
		kgo.MaxBufferedRecords(20_000),
	)
	if err != nil {
		t.Fatal(err)
	}
	p := &ackedProducer{t: t, cl: cl, acked: map[topicPartition]map[int64]string{}, errs: map[string]int{}}
	pctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; pctx.Err() == nil; i++ {
			if i%perTick == 0 {
				select {
				case <-pctx.Done():
					return
				case <-tick.C:
				}
			}
			dst := targets[i%len(targets)]
			val := fmt.Sprintf("r%d", i)
			cl.Produce(pctx, &kgo.Record{Topic: dst.topic, Partition: dst.p, Value: []byte(val)}, func(r *kgo.Record, err error) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					if errors.Is(err, context.Canceled) {
						return
					}
					p.failed++
					p.errs[fmt.Sprintf("%v (retriable %v)", err, kerr.IsRetriable(err))]++
					return
				}
				m := p.acked[dst]
				if m == nil {
					m = map[int64]string{}
					p.acked[dst] = m
				}
				m[r.Offset] = val
				p.ackedN++
			})
		}
	}()
	return p
}

// stop ends producing and waits for every record sent to be answered.
func (p *ackedProducer) stop(ctx context.Context) {
	p.t.Helper()
	p.cancel()
	p.wg.Wait()
	fctx, fcancel := context.WithTimeout(ctx, 90*time.Second)
	err := p.cl.Flush(fctx)
	fcancel()
	p.cl.Close()
	if err != nil {
		p.t.Fatalf("flush: %v", err)
	}
}

// verify reads every acknowledged record back, at its offset.
func (p *ackedProducer) verify(ctx context.Context, seeds []string) {
	t := p.t
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	offsets := map[string]map[int32]kgo.Offset{}
	want := 0
	for dst, m := range p.acked {
		if offsets[dst.topic] == nil {
			offsets[dst.topic] = map[int32]kgo.Offset{}
		}
		offsets[dst.topic][dst.p] = kgo.NewOffset().AtStart()
		want += len(m)
	}
	ccl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(offsets), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	seen := 0
	deadline := time.Now().Add(3 * time.Minute)
	for seen < want {
		if time.Now().After(deadline) {
			t.Fatalf("read back %d of %d acknowledged records", seen, want)
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		fs := ccl.PollFetches(cctx)
		ccancel()
		fs.EachRecord(func(r *kgo.Record) {
			m := p.acked[topicPartition{r.Topic, r.Partition}]
			if v, ok := m[r.Offset]; ok {
				if v != string(r.Value) {
					t.Fatalf("%s/%d@%d holds %q, acknowledged %q", r.Topic, r.Partition, r.Offset, r.Value, v)
				}
				delete(m, r.Offset)
				seen++
			}
		})
	}
}

// eventuallyNil polls f until it returns nil (testenv.EventuallyWithin),
// logging its error every 30 s of waiting.
func eventuallyNil(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	logged := time.Now()
	testenv.EventuallyWithin(t, d, what, func() bool {
		err := f()
		if err != nil && time.Since(logged) > 30*time.Second {
			t.Logf("still waiting for %s: %v", what, err)
			logged = time.Now()
		}
		return err == nil
	})
}

// profile starts CPU profiles of every running broker but skip for d,
// written to sc.out as <label>-<id>.pprof; wait waits for them. Without
// sc.out it does nothing. (A broker stopping meanwhile must be skipped:
// its admin listener waits 5 s for the profile, then reports an unclean
// shutdown.)
func (sc *scaleCluster) profile(label string, d time.Duration, skip int32) (wait func()) {
	if sc.out == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	for i, b := range sc.nodes {
		if b.cmd == nil || int32(i+1) == skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", sc.admin[i], int(d.Seconds())))
			if err != nil {
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(sc.out, fmt.Sprintf("%s-%d.pprof", label, i+1)))
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		}()
	}
	return wg.Wait
}

// saveLogs writes every broker's log so far to sc.out as <label>-<id>.log.
func (sc *scaleCluster) saveLogs(label string) {
	if sc.out == "" {
		return
	}
	for i, b := range sc.nodes {
		_ = os.WriteFile(filepath.Join(sc.out, fmt.Sprintf("%s-%d.log", label, i+1)), []byte(b.logs()), 0o644)
	}
}

// TestClusterControlledShutdownMany: a broker leading hundreds of
// partitions (several etcd transactions' worth, written concurrently)
// hands every leadership over on SIGTERM, while an idempotent acks=all
// producer writes to all of them: no record fails (franz-go retries the
// retriable errors), and every acknowledged record is read back.
func TestClusterControlledShutdownMany(t *testing.T) {
	const partitions = 900
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := c.replicatedTopic(ctx, "many", partitions)
	td, ctrl, err := c.metadata(ctx, adm, "many")
	if err != nil {
		t.Fatal(err)
	}
	victim := ctrl%3 + 1 // not the controller: no failover meanwhile
	led := 0
	var targets []topicPartition
	for _, p := range td.Partitions {
		if p.Leader == victim {
			led++
		}
		targets = append(targets, topicPartition{"many", p.Partition})
	}
	if led < 200 {
		t.Fatalf("broker %d leads %d of %d partitions", victim, led, partitions)
	}
	pr := startAckedProducer(ctx, t, c.seeds(), targets, 10)
	time.Sleep(time.Second)
	nd := c.node(victim)
	nd.b.stop() // SIGTERM; fails the test unless it exits cleanly
	logs := nd.b.logs()
	if !strings.Contains(logs, "controlled shutdown done") || !strings.Contains(logs, fmt.Sprintf(`"moved": %d`, led)) {
		t.Fatalf("broker %d led %d partitions; its log:\n%s", victim, led, tail(logs, 30))
	}
	eventuallyNil(t, time.Minute, "no partition led by the stopped broker", func() error {
		td, _, err := c.metadata(ctx, adm, "many")
		if err != nil {
			return err
		}
		for _, p := range td.Partitions {
			if p.Leader == victim || p.Leader < 0 {
				return fmt.Errorf("partition %d led by %d", p.Partition, p.Leader)
			}
		}
		return nil
	})
	time.Sleep(time.Second)
	pr.stop(ctx)
	if pr.failed > 0 || pr.ackedN == 0 {
		t.Fatalf("%d records acknowledged, %d failed: %v", pr.ackedN, pr.failed, pr.errs)
	}
	pr.verify(ctx, c.seeds())
}

// TestClusterControlledShutdownRestart: a broker restarted with SIGTERM
// (its leaderships handed over) gets its preferred leaderships back in new
// leader epochs, in which it writes nothing; it is stopped with SIGTERM
// again, records are written to every partition while it is down, and it
// is started again: every partition's ISR becomes full again (its
// follower truncation drops the epochs it led without writing, which the
// new leaders never had), and every acknowledged record is read back.
func TestClusterControlledShutdownRestart(t *testing.T) {
	partitions := int32(envInt(t, "RUNNEL_TEST_CS_RESTART_PARTITIONS", 120))
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := c.replicatedTopic(ctx, "bounce", partitions)
	td, ctrl, err := c.metadata(ctx, adm, "bounce")
	if err != nil {
		t.Fatal(err)
	}
	victim := ctrl%3 + 1 // not the controller: no failover meanwhile
	var targets []topicPartition
	for _, p := range td.Partitions {
		targets = append(targets, topicPartition{"bounce", p.Partition})
	}
	produce := func() {
		pr := startAckedProducer(ctx, t, c.seeds(), targets, 10)
		time.Sleep(2 * time.Second)
		pr.stop(ctx)
		if pr.failed > 0 || pr.ackedN == 0 {
			t.Fatalf("%d records acknowledged, %d failed: %v", pr.ackedN, pr.failed, pr.errs)
		}
		pr.verify(ctx, c.seeds())
	}
	// balanced: every partition has a full ISR and, if preferred, is led
	// by its preferred replica.
	balanced := func(what string, preferred bool) {
		t.Helper()
		var short []string
		eventuallyNil(t, time.Minute, what, func() error {
			td, _, err := c.metadata(ctx, adm, "bounce")
			if err != nil {
				return err
			}
			short = short[:0]
			for _, p := range td.Partitions {
				if p.Leader < 0 || len(p.ISR) != len(p.Replicas) || (preferred && p.Leader != p.Replicas[0]) {
					short = append(short, fmt.Sprintf("p%d leader %d isr %v", p.Partition, p.Leader, p.ISR))
				}
			}
			if len(short) > 0 {
				return fmt.Errorf("%d partitions: %v", len(short), short[:min(len(short), 10)])
			}
			return nil
		})
	}
	nd := c.node(victim)
	produce()
	nd.b.stop()
	nd.b.start()
	// The victim leads its preferred partitions again, each in a new
	// leader epoch with nothing written in it.
	balanced("every partition balanced after the first restart", true)
	nd.b.stop()
	produce() // to the new leaders, which never had those epochs
	nd.b.start()
	balanced("every ISR full after the second restart", false)
	produce()
}
