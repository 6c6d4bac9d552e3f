package integration

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/bench"
	"github.com/runnel/runnel/internal/testenv"
)

// TestBenchCompareKafka runs the workloads of `make bench-compare`
// (franz-go; 1 KiB records, 6 partitions, acks=all, idempotent,
// uncompressed; then consume, raw fetch and e2e at a fixed rate) against
// Runnel and Apache Kafka (the pinned release, one node, run as
// kafka-server-start.sh runs it: 1 GiB heap, G1), alternating which goes
// first each round, and prints a table of medians with each broker's CPU
// seconds per GB (from /proc/PID/stat) and resident memory (VmRSS after
// each round, and VmHWM, the peak). `make bench-compare-kafka`.
//
//	RUNNEL_BENCH_KAFKA=1         run at all
//	RUNNEL_BENCH_OUT=path        also write the table there
//	RUNNEL_BENCH_ROUNDS=3        counted rounds (after one warm-up round)
//	RUNNEL_BENCH_RECORDS=500000  records for produce, consume and fetch
//	RUNNEL_BENCH_DURATION=10s    e2e measured duration
//	RUNNEL_BENCH_RATE=10000      e2e rate (records/s)
func TestBenchCompareKafka(t *testing.T) {
	if os.Getenv("RUNNEL_BENCH_KAFKA") != "1" {
		t.Skip("set RUNNEL_BENCH_KAFKA=1 (make bench-compare-kafka) to compare Runnel with Apache Kafka")
	}
	rounds := envInt(t, "RUNNEL_BENCH_ROUNDS", 3)
	records := envInt(t, "RUNNEL_BENCH_RECORDS", 500_000)
	rate := envInt(t, "RUNNEL_BENCH_RATE", 10_000)
	duration := envDuration(t, "RUNNEL_BENCH_DURATION", 10*time.Second)

	rn := startRunnelProc(t, buildNoRace(t, t.TempDir(), "runnel", "github.com/runnel/runnel/cmd/runnel"))
	kafka := testenv.StartKafka(t, testenv.KafkaConfig{HeapMB: 1024,
		JVMOptions: []string{"-Xms1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
			"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent"}})
	kafkaPID := kafka.Nodes[0].PID()

	targets := []struct {
		name    string
		brokers []string
		pid     int
	}{
		{targetRunnel, []string{rn.addr}, rn.cmd.Process.Pid},
		{targetKafka, kafka.Addrs(), kafkaPID},
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
			cfg.Topic = fmt.Sprintf("bench-kafka-%d", round)
			cfg.Records = records
			cfg.Duration = duration
			cfg.Rate = rate
			cfg.Timeout = 5 * time.Minute
			cfg.ServerCPU = bench.ProcCPU(tg.pid)
			mode := bench.ModeAll
			label := fmt.Sprintf("round %d", round)
			if warmUp {
				mode, label = bench.ModeProduce, "warm-up"
			}
			res, err := bench.Run(context.Background(), cfg, mode)
			for _, r := range res {
				line := fmt.Sprintf("%-8s %-7s %s", label, tg.name, r)
				t.Log(line)
				raw.WriteString(line + "\n")
				if !warmUp {
					addSamples(samples[tg.name], r)
				}
			}
			if err != nil {
				t.Errorf("%s %s: %v", label, tg.name, err)
				fmt.Fprintf(&raw, "%-8s %-7s ERROR %v\n", label, tg.name, err)
			}
			if !warmUp {
				if rss, hwm, err := procMemory(tg.pid); err == nil {
					samples[tg.name]["rss"] = append(samples[tg.name]["rss"], rss)
					samples[tg.name]["hwm"] = append(samples[tg.name]["hwm"], hwm)
				}
			}
			deleteTopic(t, tg.brokers, cfg.Topic)
			runtime.GC()
		}
	}
	table := kafkaCompareTable(samples, rounds, records, rate, duration)
	fmt.Println(table)
	if out := os.Getenv("RUNNEL_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table+"\nper-round results:\n"+raw.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", out, err)
		}
	}
}

const targetKafka = "kafka"

// procMemory returns a process's resident set now and its peak (VmRSS,
// VmHWM from /proc/PID/status) in MiB.
func procMemory(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}

// kafkaGoals are issue 17's goals, as Runnel/Kafka ratios: at least
// this for throughput, at most this for costs.
var kafkaGoals = map[string]string{
	"produce.rps": ">= 1.5x", "produce.mbps": ">= 1.5x",
	"consume.rps": ">= 2x", "consume.mbps": ">= 2x",
	"produce.server": "<= 0.5x", "consume.server": "<= 0.5x",
	"rss": "<= 0.25x", "hwm": "<= 0.25x",
	"e2e.p99": "< 1x", "e2e.p999": "< 1x",
}

func kafkaCompareTable(samples map[string]map[string][]float64, rounds, records, rate int, duration time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Runnel vs Apache Kafka 4.1.1 (one node each, KRaft combined for Kafka, 1 GiB G1 heap) — medians of %d rounds after a warm-up; franz-go, %d records of 1 KiB, 6 partitions, acks=all, idempotent, uncompressed; e2e %d rec/s for %s; %d CPUs, %s\n\n",
		rounds, records, rate, duration, runtime.NumCPU(), runtime.Version())
	row := func(cells ...string) {
		fmt.Fprintf(&b, "| %-27s | %11s | %11s | %12s | %-16s |\n", cells[0], cells[1], cells[2], cells[3], cells[4])
	}
	row("metric", "runnel", "kafka", "runnel/kafka", "goal")
	fmt.Fprintf(&b, "|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 29), strings.Repeat("-", 13), strings.Repeat("-", 13), strings.Repeat("-", 14), strings.Repeat("-", 18))
	metrics := append(append([]metric{}, compareMetrics...),
		metric{key: "rss", label: "broker RSS after round MiB"},
		metric{key: "hwm", label: "broker peak RSS MiB"})
	for _, m := range metrics {
		rv, rok := median(samples[targetRunnel][m.key])
		kv, kok := median(samples[targetKafka][m.key])
		if !rok && !kok {
			continue
		}
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
		ratio := "n/a"
		if rok && kok && kv > 0 {
			ratio = fmt.Sprintf("%.2fx", rv/kv)
		}
		label := strings.Replace(m.label, "@10k/s", fmt.Sprintf("@%d/s", rate), 1)
		row(label, cell(rv, rok), cell(kv, kok), ratio, kafkaGoals[m.key])
	}
	return b.String()
}
