package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBenchShareGroup measures records/s through a share group (KIP-932)
// on one partition with 1, 4 and 16 franz-go share consumers (each record
// acquired, delivered and accepted, its state written to
// __share_group_state), against one classic-group consumer reading the
// same partition. Every run reads the same records from the start with a
// new group; the figure is records over the time from the consumers'
// start to the last record's arrival (joining included: the broker runs
// with group.initial.rebalance.delay.ms=0); medians of the rounds.
//
//	RUNNEL_BENCH_SHARE=1          run at all
//	RUNNEL_BENCH_RECORDS=200000   records (100 bytes each)
//	RUNNEL_BENCH_ROUNDS=3         rounds
func TestBenchShareGroup(t *testing.T) {
	if os.Getenv("RUNNEL_BENCH_SHARE") != "1" {
		t.Skip("set RUNNEL_BENCH_SHARE=1 to measure share-group throughput")
	}
	records := envInt(t, "RUNNEL_BENCH_RECORDS", 200_000)
	rounds := envInt(t, "RUNNEL_BENCH_ROUNDS", 3)
	bin := buildNoRace(t, t.TempDir(), "runnel", "github.com/runnel/runnel/cmd/runnel")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := startProc(t, targetRunnel, bin, "serve",
		"--override", "broker.id=1",
		"--override", "listeners=PLAINTEXT://"+addr,
		"--override", "log.dirs="+filepath.Join(t.TempDir(), "logs"),
		"--override", "runnel.admin.listener=127.0.0.1:0",
		"--override", "group.share.enable=true",
		"--override", "group.initial.rebalance.delay.ms=0",
	)
	p.addr = addr
	p.waitReady(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	const topic = "bench-share"
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	value := []byte(strings.Repeat("x", 100))
	var wg sync.WaitGroup
	var perr atomic.Value
	for i := 0; i < records; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				perr.Store(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if err, _ := perr.Load().(error); err != nil {
		t.Fatal(err)
	}

	run := 0
	shareRun := func(consumers int) float64 {
		run++
		group := fmt.Sprintf("bench-share-%d", run)
		setShareReset(ctx, t, cl, group)
		var got atomic.Int64
		done := make(chan struct{})
		var once sync.Once
		start := time.Now()
		var cwg sync.WaitGroup
		rctx, rcancel := context.WithCancel(ctx)
		for c := 0; c < consumers; c++ {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				cc, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic))
				if err != nil {
					t.Error(err)
					return
				}
				defer cc.Close()
				for rctx.Err() == nil {
					fs := cc.PollRecords(rctx, 1000)
					if n := got.Add(int64(fs.NumRecords())); n >= int64(records) {
						once.Do(func() { close(done) })
					}
				}
			}()
		}
		<-done
		elapsed := time.Since(start)
		rcancel()
		cwg.Wait()
		return float64(records) / elapsed.Seconds()
	}
	classicRun := func() float64 {
		run++
		cc, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(fmt.Sprintf("bench-classic-%d", run)), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		start := time.Now()
		n := 0
		for n < records {
			fs := cc.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			n += fs.NumRecords()
		}
		return float64(records) / time.Since(start).Seconds()
	}
	samples := map[string][]float64{}
	order := []string{"classic, 1 consumer", "share, 1 consumer", "share, 4 consumers", "share, 16 consumers"}
	for r := 0; r < rounds; r++ {
		samples[order[0]] = append(samples[order[0]], classicRun())
		samples[order[1]] = append(samples[order[1]], shareRun(1))
		samples[order[2]] = append(samples[order[2]], shareRun(4))
		samples[order[3]] = append(samples[order[3]], shareRun(16))
	}
	classic := medianOf(samples[order[0]])
	var out strings.Builder
	fmt.Fprintf(&out, "%d records of 100 bytes, one partition, medians of %d rounds\n", records, rounds)
	for _, k := range order {
		m := medianOf(samples[k])
		fmt.Fprintf(&out, "%-22s %10.0f records/s  (%.2f× classic)\n", k, m, m/classic)
	}
	t.Log("\n" + out.String())
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// setShareReset makes group start at the earliest record.
func setShareReset(ctx context.Context, t *testing.T, cl *kgo.Client, group string) {
	t.Helper()
	v := "earliest"
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name, c.Value = kmsg.IncrementalAlterConfigOpSet, "share.auto.offset.reset", &v
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("share.auto.offset.reset on %s: %v %+v", group, err, resp)
	}
}
