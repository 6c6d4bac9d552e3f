package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEOSSoak is exactly-once under churn: a consume-transform-produce
// group (franz-go's GroupTransactSession: read_committed input, output and
// offsets committed in one transaction) with several members while
// members leave cleanly, restart with a static instance id, or hang past
// their session timeout and come back as zombies with a transaction in
// flight — on a machine kept busy by spinning goroutines. Every input
// record must appear in the committed output exactly once.
//
// The same soak runs with confluent-kafka-python (librdkafka) members, on
// the classic and the KIP-848 protocol (eosSoakConfluent).
//
// The default run is short; RUNNEL_SOAK_EOS=5m (make soak-eos) runs each
// variant that long.
func TestEOSSoak(t *testing.T) {
	duration := 10 * time.Second
	if v := os.Getenv("RUNNEL_SOAK_EOS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("RUNNEL_SOAK_EOS: %v", err)
		}
		duration = d
	}
	b := startBroker(t,
		withOverride("group.initial.rebalance.delay.ms", "0"),
		withOverride("group.min.session.timeout.ms", "1000"),
		withOverride("group.consumer.min.session.timeout.ms", "1000"),
		withOverride("group.consumer.session.timeout.ms", "3000"),
		withOverride("group.consumer.min.heartbeat.interval.ms", "200"),
		withOverride("group.consumer.heartbeat.interval.ms", "500"),
		withOverride("transaction.state.log.num.partitions", "5"),
		withOverride("offsets.topic.num.partitions", "5"),
	)
	for _, p := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"cooperative-sticky", []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}},
		{"range", []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}},
		{"kip848", []kgo.Opt{kgo.ServerSideBalancer()}},
	} {
		t.Run(p.name, func(t *testing.T) { eosSoak(t, b, p.name, duration, p.opts) })
	}
	for _, protocol := range []string{"classic", "consumer"} {
		name := "confluent-" + protocol
		t.Run(name, func(t *testing.T) { eosSoakConfluent(t, b, name, protocol, duration) })
	}
}

func eosSoak(t *testing.T, b *broker, name string, duration time.Duration, protocol []kgo.Opt) {
	const partitions, members = 6, 4
	in, out, group := "eos-in-"+name, "eos-out-"+name, "eos-"+name
	b.createTopic(t, in, partitions)
	b.createTopic(t, out, partitions)
	defer keepCPUsBusy()()

	ctx, cancel := context.WithTimeout(context.Background(), duration+3*time.Minute)
	defer cancel()
	input := produceEOSInput(ctx, t, b, in, duration)

	// The members, and the churn among them.
	var wg sync.WaitGroup
	var seq atomic.Int64
	start := func(instance string) *eosMember {
		m := &eosMember{t: t, id: fmt.Sprintf("%s-%d", name, seq.Add(1)), stop: make(chan struct{}), hang: make(chan time.Duration, 1)}
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(b.addr()),
			kgo.TransactionalID("txn-" + m.id),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(in),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(3 * time.Second),
			kgo.HeartbeatInterval(300 * time.Millisecond),
			kgo.TransactionTimeout(20 * time.Second),
			kgo.FetchMaxWait(200 * time.Millisecond),
		}, protocol...)
		if instance != "" {
			opts = append(opts, kgo.InstanceID(instance))
		}
		s, err := kgo.NewGroupTransactSession(opts...)
		if err != nil {
			t.Fatal(err)
		}
		m.s = s
		wg.Add(1)
		go func() { defer wg.Done(); m.run(ctx, out) }()
		return m
	}
	live := make([]*eosMember, 0, members)
	instances := make([]string, 0, members)
	for i := range members {
		inst := ""
		if i%2 == 0 {
			inst = fmt.Sprintf("%s-static-%d", name, i)
		}
		instances = append(instances, inst)
		live = append(live, start(inst))
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	churn := map[string]int{}
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(1500+rng.IntN(1500)) * time.Millisecond)
		i := rng.IntN(len(live))
		switch rng.IntN(3) {
		case 0: // leave and be replaced (a static member restarts under its id)
			live[i].close()
			live[i] = start(instances[i])
			churn["restart"]++
		case 1: // hang past the session timeout mid-transaction: a zombie
			select {
			case live[i].hang <- 4 * time.Second:
			default:
			}
			churn["zombie"]++
		case 2: // a new member joins, the oldest dynamic one leaves
			if instances[i] == "" {
				live[i].close()
				live[i] = start("")
				churn["replace"]++
			}
		}
	}
	total := input()
	t.Logf("%s: produced %d input records; churn %v", name, total, churn)

	// Let the members finish the input, then stop them.
	awaitEOSCommitted(ctx, t, b, group, in, total, func() {})
	for _, m := range live {
		m.close()
	}
	wg.Wait()
	checkEOSOutput(ctx, t, b, name, out, total)
}

// eosSoakConfluent is the same soak with confluent-kafka-python
// (librdkafka): member processes of testdata/confluent_eos_member.py, each
// a read_committed consumer plus a transactional producer, closed cleanly
// (SIGTERM), killed (SIGKILL), stopped past their session timeout
// (SIGSTOP, then SIGCONT: a zombie with a transaction in flight) and
// restarted under the same transactional id (and static instance id for
// half of them) while the input grows. protocol is librdkafka's
// group.protocol: "classic" (cooperative-sticky) or "consumer" (KIP-848).
func eosSoakConfluent(t *testing.T, b *broker, name, protocol string, duration time.Duration) {
	py := venvPython(t)
	const partitions, members = 6, 4
	in, out, group := "eos-in-"+name, "eos-out-"+name, "eos-"+name
	b.createTopic(t, in, partitions)
	b.createTopic(t, out, partitions)
	defer keepCPUsBusy()()

	ctx, cancel := context.WithTimeout(context.Background(), duration+3*time.Minute)
	defer cancel()
	input := produceEOSInput(ctx, t, b, in, duration)

	slots := make([]*eosProcess, members)
	var all []*eosProcess
	start := func(i int) {
		instance := ""
		if i%2 == 0 {
			instance = fmt.Sprintf("%s-static-%d", name, i)
		}
		slots[i] = startEOSProcess(t, py, b.addr(), in, out, group, fmt.Sprintf("txn-%s-%d", name, i), instance, protocol)
		all = append(all, slots[i])
	}
	for i := range slots {
		start(i)
	}
	defer func() {
		for _, p := range slots {
			p.kill()
		}
	}()
	// A member that died on its own (a fatal producer error) is logged
	// and restarted, as an operator's supervisor would.
	churn := map[string]int{}
	restartDead := func() {
		for i, p := range slots {
			if p.exited() {
				t.Logf("%s exited on its own (%v):\n%s", p.txnID, p.err, tail(p.stderr.String(), 20))
				churn["died"]++
				start(i)
			}
		}
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(1500+rng.IntN(1500)) * time.Millisecond)
		restartDead()
		i := rng.IntN(len(slots))
		switch rng.IntN(3) {
		case 0: // a clean close (leaves the group), then a restart
			slots[i].terminate(t)
			start(i)
			churn["close"]++
		case 1: // SIGKILL: a transaction may be left open, the restart under the same transactional id fences it
			slots[i].kill()
			start(i)
			churn["kill"]++
		case 2: // a zombie: frozen mid-transaction past the session timeout
			slots[i].freeze(4 * time.Second)
			churn["zombie"]++
		}
	}
	total := input()
	t.Logf("%s: produced %d input records; churn %v", name, total, churn)

	awaitEOSCommitted(ctx, t, b, group, in, total, restartDead)
	for _, p := range slots {
		p.terminate(t)
	}
	aborted := 0
	for _, p := range all {
		aborted += strings.Count(p.stderr.String(), ": aborting ")
	}
	t.Logf("%s: %d member processes, %d transactions aborted by members", name, len(all), aborted)
	if t.Failed() {
		for _, p := range slots {
			t.Logf("%s:\n%s", p.txnID, tail(p.stderr.String(), 30))
		}
	}
	checkEOSOutput(ctx, t, b, name, out, total)
}

// eosProcess is one confluent_eos_member.py process.
type eosProcess struct {
	txnID  string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error // Wait's answer, once done is closed
	ended  bool  // the test ended it on purpose
}

func startEOSProcess(t *testing.T, py, bootstrap, in, out, group, txnID, instance, protocol string) *eosProcess {
	t.Helper()
	p := &eosProcess{txnID: txnID, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(py, filepath.Join("testdata", "confluent_eos_member.py"), bootstrap, in, out, group, txnID, instance, protocol)
	testenv.DieWithTest(p.cmd)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p
}

// exited reports whether the process ended without the test ending it.
func (p *eosProcess) exited() bool {
	select {
	case <-p.done:
		return !p.ended
	default:
		return false
	}
}

// terminate closes the member cleanly, killing it if it does not finish
// within a minute.
func (p *eosProcess) terminate(t *testing.T) {
	p.ended = true
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Logf("%s ended with %v:\n%s", p.txnID, p.err, tail(p.stderr.String(), 20))
		}
	case <-time.After(time.Minute):
		t.Logf("%s did not close within a minute; killing it", p.txnID)
		p.kill()
	}
}

func (p *eosProcess) kill() {
	p.ended = true
	_ = p.cmd.Process.Kill()
	<-p.done
}

// freeze stops the process for d inside a transaction (SIGUSR1 makes the
// member stop itself between producing and committing; SIGSTOP if it has
// not within two seconds): its heartbeats stop, and its open transaction
// resumes after the group has moved on.
func (p *eosProcess) freeze(d time.Duration) {
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return
	}
	for i := 0; i < 20 && !p.stopped(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	_ = p.cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(d)
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
}

// stopped reports whether the process is in the stopped state.
func (p *eosProcess) stopped() bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'T'
}

// keepCPUsBusy spins one goroutine per CPU until the returned function is
// called: the failure the soak hunts showed up only under CPU contention.
func keepCPUsBusy() (stop func()) {
	busy, stopBusy := context.WithCancel(context.Background())
	var spinners sync.WaitGroup
	for range runtime.NumCPU() {
		spinners.Add(1)
		go func() {
			defer spinners.Done()
			for busy.Err() == nil {
				for i := 0; i < 1e6; i++ {
				}
			}
		}()
	}
	return func() { stopBusy(); spinners.Wait() }
}

// produceEOSInput writes numbered input records to every partition of in
// for duration, so that members always have work. The returned function
// waits for the producer to stop and answers how many records it wrote.
func produceEOSInput(ctx context.Context, t *testing.T, b *broker, in string, duration time.Duration) (wait func() int64) {
	producer := b.franz(t, kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var produced atomic.Int64
	produceCtx, stopProducing := context.WithTimeout(ctx, duration)
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for produceCtx.Err() == nil {
			batch := make([]*kgo.Record, 50)
			for i := range batch {
				batch[i] = &kgo.Record{Value: []byte(strconv.FormatInt(produced.Add(1), 10))}
			}
			if err := producer.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				t.Errorf("producing input: %v", err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() int64 {
		<-producerDone
		stopProducing()
		return produced.Load()
	}
}

// awaitEOSCommitted waits until the group has committed every input
// offset, calling tick between checks (to keep members alive).
func awaitEOSCommitted(ctx context.Context, t *testing.T, b *broker, group, in string, total int64, tick func()) {
	t.Helper()
	adm := kadm.NewClient(b.franz(t))
	testenv.EventuallyWithin(t, 2*time.Minute, "members to commit every input offset", func() bool {
		tick()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		ends, err := adm.ListEndOffsets(ctx, in)
		if err != nil {
			return false
		}
		var committed, end int64
		offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
		ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
		return end == total && committed == end
	})
}

// checkEOSOutput reads out with read_committed and fails unless every
// input value 1..total appears in it exactly once.
func checkEOSOutput(ctx context.Context, t *testing.T, b *broker, name, out string, total int64) {
	t.Helper()
	reader := b.franz(t, kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := make(map[int64]int, total)
	var dups []string
	duplicates := 0
	// Read until every value was seen, then a little longer so that
	// duplicates written after the last new value show too.
	for ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		fs := reader.PollFetches(pctx)
		pcancel()
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			if int64(len(seen)) >= total {
				break
			}
			pctx, pcancel = context.WithTimeout(ctx, 5*time.Second)
			fs = reader.PollFetches(pctx)
			pcancel()
			if pctx.Err() != nil && fs.NumRecords() == 0 {
				break
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			v, _ := strconv.ParseInt(strings.TrimPrefix(string(r.Value), "out-"), 10, 64)
			seen[v]++
			if seen[v] > 1 {
				duplicates++
				if len(dups) < 20 {
					dups = append(dups, fmt.Sprintf("%d (p%d@%d)", v, r.Partition, r.Offset))
				}
			}
		})
	}
	t.Logf("%s: committed output holds %d distinct of %d input records, %d duplicates", name, len(seen), total, duplicates)
	if len(dups) > 0 {
		t.Errorf("%s: %d input records committed twice or more, e.g. %s", name, duplicates, strings.Join(dups, ", "))
	}
	if int64(len(seen)) != total {
		t.Errorf("%s: %d of %d input records in the committed output", name, len(seen), total)
	}
}

// eosMember is one consume-transform-produce member.
type eosMember struct {
	t    *testing.T
	id   string
	s    *kgo.GroupTransactSession
	stop chan struct{}
	once sync.Once
	// hang makes the member stall for that long between producing its
	// outputs and ending the transaction.
	hang chan time.Duration
}

func (m *eosMember) close() {
	m.once.Do(func() { close(m.stop) })
}

func (m *eosMember) run(ctx context.Context, out string) {
	defer m.s.Close()
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := m.s.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := m.s.Begin(); err != nil {
			m.t.Errorf("%s: begin: %v", m.id, err)
			return
		}
		outs := make([]*kgo.Record, len(recs))
		for i, r := range recs {
			outs[i] = &kgo.Record{Topic: out, Partition: r.Partition, Value: append([]byte("out-"), r.Value...)}
		}
		produceErr := m.s.ProduceSync(ctx, outs...).FirstErr()
		select {
		case d := <-m.hang:
			time.Sleep(d)
		default:
		}
		// Commit when the produce worked; End aborts on its own when the
		// group moved on meanwhile (KIP-447 fencing).
		if _, err := m.s.End(ctx, kgo.TransactionEndTry(produceErr == nil)); err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return
			}
			m.t.Logf("%s: end: %v", m.id, err)
		}
	}
}
