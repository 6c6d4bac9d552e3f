package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// The default run is short; RUNNEL_SOAK_EOS=5m (make soak-eos) runs each
// protocol that long.
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
}

func eosSoak(t *testing.T, b *broker, name string, duration time.Duration, protocol []kgo.Opt) {
	const partitions, members = 6, 4
	in, out, group := "eos-in-"+name, "eos-out-"+name, "eos-"+name
	b.createTopic(t, in, partitions)
	b.createTopic(t, out, partitions)

	// Keep the machine busy: the failure this test hunts showed up only
	// under CPU contention.
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
	defer func() { stopBusy(); spinners.Wait() }()

	// Input is produced for the whole run, so members always have work.
	ctx, cancel := context.WithTimeout(context.Background(), duration+3*time.Minute)
	defer cancel()
	producer := b.franz(t, kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var produced atomic.Int64
	produceCtx, stopProducing := context.WithTimeout(ctx, duration)
	defer stopProducing()
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
	stopProducing()
	<-producerDone
	total := produced.Load()
	t.Logf("%s: produced %d input records; churn %v", name, total, churn)

	// Let the members finish the input, then stop them.
	adm := kadm.NewClient(b.franz(t))
	testenv.EventuallyWithin(t, 2*time.Minute, "members to commit every input offset", func() bool {
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
	for _, m := range live {
		m.close()
	}
	wg.Wait()

	// Every input value exactly once in the committed output.
	reader := b.franz(t, kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := make(map[int64]int, total)
	var dups []string
	for int64(len(seen)) < total && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		fs := reader.PollFetches(pctx)
		pcancel()
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			v, _ := strconv.ParseInt(strings.TrimPrefix(string(r.Value), "out-"), 10, 64)
			seen[v]++
			if seen[v] == 2 && len(dups) < 20 {
				dups = append(dups, fmt.Sprintf("%d (p%d@%d)", v, r.Partition, r.Offset))
			}
		})
	}
	if len(dups) > 0 {
		t.Errorf("%s: input records committed twice, e.g. %s", name, strings.Join(dups, ", "))
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
