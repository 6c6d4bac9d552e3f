package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/runnel/runnel/bench"
	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Three brokers of each for TestBenchCompareKafka: Runnel's three
// processes on one external etcd (no proxies in between), Kafka's three
// KRaft combined nodes; a topic of 6 partitions, RF=3,
// min.insync.replicas=2; franz-go produce (acks=all, idempotent) then
// consume, alternating rounds. CPU and RSS are the three processes'
// sums.

// rf3Target is one three-broker cluster.
type rf3Target struct {
	name    string
	brokers []string
	pids    []int
}

// serverCPU sums the brokers' CPU time.
func (tg rf3Target) serverCPU() func() (time.Duration, error) {
	return func() (time.Duration, error) {
		var sum time.Duration
		for _, pid := range tg.pids {
			d, err := bench.ProcCPU(pid)()
			if err != nil {
				return 0, err
			}
			sum += d
		}
		return sum, nil
	}
}

func (tg rf3Target) rss() (float64, error) {
	var sum float64
	for _, pid := range tg.pids {
		rss, _, err := procMemory(pid)
		if err != nil {
			return 0, err
		}
		sum += rss
	}
	return sum, nil
}

// startRunnelRF3 starts three Runnel brokers (the given binary) on one
// etcd and waits until each lists all three.
func startRunnelRF3(t *testing.T, bin string) rf3Target {
	t.Helper()
	saved := runnelBinary
	runnelBinary = bin
	defer func() { runnelBinary = saved }()
	etcdURL := testenv.StartEtcd(t)
	tg := rf3Target{name: targetRunnel}
	var bs []*broker
	for i := 1; i <= 3; i++ {
		b := &broker{t: t, dataDir: t.TempDir(), port: testenv.FreePort(t)}
		b.args = append(b.args,
			"--override", fmt.Sprintf("broker.id=%d", i),
			"--override", "etcd.endpoints="+etcdURL)
		bs = append(bs, b)
	}
	for _, b := range bs {
		b.start()
		t.Cleanup(b.stop)
		tg.brokers = append(tg.brokers, b.addr())
		tg.pids = append(tg.pids, b.cmd.Process.Pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, addr := range tg.brokers {
		if err := waitBrokers(ctx, addr, 3); err != nil {
			t.Fatal(err)
		}
	}
	return tg
}

// waitBrokers waits until addr's Metadata lists n brokers.
func waitBrokers(ctx context.Context, addr string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		md, err := adm.BrokerMetadata(ctx)
		if err == nil && len(md.Brokers) == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not list %d brokers: %v", addr, n, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rf3Round produces then consumes records on a new RF=3 topic of tg and
// files the figures under rf3.*.
func rf3Round(t *testing.T, tg rf3Target, round, records int, samples map[string][]float64, logf func(string, ...any)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	topic := fmt.Sprintf("bench-rf3-%d", round)
	if err := createBenchTopic(ctx, tg.brokers, topic, 6, 3); err != nil {
		t.Errorf("%s: %v", tg.name, err)
		return
	}
	defer deleteTopic(t, tg.brokers, topic)
	cfg := bench.DefaultConfig()
	cfg.Brokers = tg.brokers
	cfg.Topic = topic
	cfg.ReplicationFactor = 3
	cfg.Records = records
	cfg.Timeout = 5 * time.Minute
	cfg.ServerCPU = tg.serverCPU()
	for _, mode := range []bench.Mode{bench.ModeProduce, bench.ModeConsume} {
		res, err := bench.Run(ctx, cfg, mode)
		for _, r := range res {
			logf("rf3 round %d %-7s %s", round, tg.name, r)
			if round == 0 || r.Err != nil {
				continue
			}
			s := map[string][]float64{}
			addSamples(s, r)
			for k, v := range s {
				samples["rf3."+k] = append(samples["rf3."+k], v...)
			}
		}
		if err != nil {
			t.Errorf("rf3 %s %s: %v", tg.name, mode, err)
			return
		}
	}
	if round > 0 {
		if rss, err := tg.rss(); err == nil {
			samples["rf3.rss"] = append(samples["rf3.rss"], rss)
		}
	}
}
