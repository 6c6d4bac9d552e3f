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
)

// TestBenchBaseline runs the bench-compare workloads against two Runnel
// binaries in one run, alternating which goes first each round: the tree
// under test and a baseline binary (make bench-baseline BASE=<rev> builds
// it from that revision). It is how a change that must not be slower (a
// refactor, a safety check on the hot path) shows it: medians of the same
// rounds on the same machine, and their ratio. Page cache and rounds work
// as in TestBenchCompare.
//
//	RUNNEL_BENCH_BASELINE=path   the baseline runnel binary (required)
//	RUNNEL_BENCH_OUT, RUNNEL_BENCH_ROUNDS, RUNNEL_BENCH_RECORDS,
//	RUNNEL_BENCH_DURATION, RUNNEL_BENCH_FILL as for TestBenchCompare
func TestBenchBaseline(t *testing.T) {
	baseBin := os.Getenv("RUNNEL_BENCH_BASELINE")
	if baseBin == "" {
		t.Skip("set RUNNEL_BENCH_BASELINE=<runnel binary> (make bench-baseline BASE=<rev>) to compare with a baseline")
	}
	rounds := envInt(t, "RUNNEL_BENCH_ROUNDS", 3)
	records := envInt(t, "RUNNEL_BENCH_RECORDS", 500_000)
	duration := envDuration(t, "RUNNEL_BENCH_DURATION", 10*time.Second)
	fill := os.Getenv("RUNNEL_BENCH_FILL") != "0"
	if fill {
		fillPageCache(t, t.TempDir())
	}

	head := startRunnelProc(t, buildNoRace(t, t.TempDir(), "runnel", "github.com/runnel/runnel/cmd/runnel"))
	base := startRunnelProc(t, baseBin)
	targets := []struct {
		name string
		proc *benchProc
	}{{"head", head}, {"base", base}}
	samples := map[string]map[string][]float64{"head": {}, "base": {}}
	var raw strings.Builder
	for round := range rounds + 1 {
		warmUp := round == 0
		for k := range targets {
			tg := targets[(round+k)%len(targets)]
			cfg := bench.DefaultConfig()
			cfg.Brokers = []string{tg.proc.addr}
			cfg.Topic = fmt.Sprintf("bench-baseline-%d", round)
			cfg.Records = records
			cfg.Duration = duration
			cfg.Rate = 10_000
			cfg.Timeout = 5 * time.Minute
			cfg.ServerCPU = bench.ProcCPU(tg.proc.cmd.Process.Pid)
			mode, label := bench.ModeAll, fmt.Sprintf("round %d", round)
			if warmUp {
				mode, label = bench.ModeProduce, "warm-up"
			}
			res, err := bench.Run(context.Background(), cfg, mode)
			for _, r := range res {
				line := fmt.Sprintf("%-8s %-5s %s", label, tg.name, r)
				t.Log(line)
				raw.WriteString(line + "\n")
				if !warmUp {
					addSamples(samples[tg.name], r)
				}
			}
			if err != nil {
				t.Errorf("%s %s: %v", label, tg.name, err)
			}
			if !fill {
				deleteTopic(t, cfg.Brokers, cfg.Topic)
			}
			runtime.GC()
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Runnel (head) vs Runnel (baseline %s) — medians of %d rounds after a warm-up, alternating order; %d records of 1 KiB, 6 partitions, acks=all, idempotent; e2e 10 000 rec/s for %s; %d CPUs; page cache filled first: %v\n\n",
		baseBin, rounds, records, duration, runtime.NumCPU(), fill)
	fmt.Fprintf(&b, "| %-27s | %11s | %11s | %10s |\n|%s|%s|%s|%s|\n", "metric", "head", "base", "head/base",
		strings.Repeat("-", 29), strings.Repeat("-", 13), strings.Repeat("-", 13), strings.Repeat("-", 12))
	for _, m := range compareMetrics {
		hv, hok := median(samples["head"][m.key])
		bv, bok := median(samples["base"][m.key])
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
		if hok && bok && bv > 0 {
			ratio = fmt.Sprintf("%.2fx", hv/bv)
		}
		fmt.Fprintf(&b, "| %-27s | %11s | %11s | %10s |\n", m.label, cell(hv, hok), cell(bv, bok), ratio)
	}
	fmt.Println(b.String())
	if out := os.Getenv("RUNNEL_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()+"\nper-round results:\n"+raw.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", out, err)
		}
	}
}
