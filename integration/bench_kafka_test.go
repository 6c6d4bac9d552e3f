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

// TestBenchCompareKafka compares Runnel with Apache Kafka (the pinned
// release, run as kafka-server-start.sh runs it: 1 GiB heap, G1) side by
// side, alternating which goes first each round, and prints one table of
// medians and runnel/kafka ratios against issue 17's goals.
// `make bench-compare-kafka`. Three phases:
//
//   - single: one node each. Per round and broker, on topics of 6
//     partitions, 1 KiB records, acks=all, uncompressed:
//     franz-go (bench package: idempotent produce, group-less consume, raw
//     fetch, then e2e latency at each fixed rate, the producer paced and
//     the consumer reading the send time from the value);
//     librdkafka's rdkafka_performance (-P, then -C -G, the group
//     consumer; built from librdkafka-dev's example source);
//     Kafka's kafka-producer-perf-test and kafka-consumer-perf-test.
//     The broker's CPU seconds per GB moved come from /proc/PID/stat,
//     its RSS from /proc/PID/status after each round.
//   - life: start-up (process start → ApiVersions answered) and recovery
//     after kill -9 with data (bench_kafka_life_test.go), fresh nodes
//     each round.
//   - rf3: three brokers each, RF=3, min.insync.replicas=2, franz-go
//     produce (acks=all) and consume (bench_kafka_rf3_test.go).
//
// Environment:
//
//	RUNNEL_BENCH_KAFKA=1              run at all
//	RUNNEL_BENCH_OUT=path             also write the table there
//	RUNNEL_BENCH_ROUNDS=3             counted rounds (after one warm-up round)
//	RUNNEL_BENCH_RECORDS=500000       records per throughput workload
//	RUNNEL_BENCH_DURATION=10s         each e2e rate's measured duration
//	RUNNEL_BENCH_RATES=10000,50000    e2e rates (records/s)
//	RUNNEL_BENCH_LIFE_RECORDS=200000  records written before kill -9
//	RUNNEL_BENCH_PHASES=single,life,rf3
//	RUNNEL_BENCH_RATES=none           no e2e latency runs
//	RUNNEL_BENCH_PIN=1                brokers on CPU 0, clients on CPU 1
//	                                  (or BROKERS/CLIENTS CPU lists, 0-1/2-3):
//	                                  bench_pin_test.go; the single and rf3
//	                                  phases (life's fresh processes start
//	                                  and stay on the client CPUs)
//	RUNNEL_BENCH_KAFKA_PROPERTIES=socket.send.buffer.bytes=-1
//	                                  added to Kafka's server.properties
//	                                  (single and rf3 phases)
func TestBenchCompareKafka(t *testing.T) {
	if os.Getenv("RUNNEL_BENCH_KAFKA") != "1" {
		t.Skip("set RUNNEL_BENCH_KAFKA=1 (make bench-compare-kafka) to compare Runnel with Apache Kafka")
	}
	p := kafkaBenchParams{
		rounds:      envInt(t, "RUNNEL_BENCH_ROUNDS", 3),
		records:     envInt(t, "RUNNEL_BENCH_RECORDS", 500_000),
		duration:    envDuration(t, "RUNNEL_BENCH_DURATION", 10*time.Second),
		lifeRecords: envInt(t, "RUNNEL_BENCH_LIFE_RECORDS", 200_000),
		phases:      os.Getenv("RUNNEL_BENCH_PHASES"),
	}
	if os.Getenv("RUNNEL_BENCH_RATES") == "none" {
		p.rates = nil
	} else {
		p.rates = envInts(t, "RUNNEL_BENCH_RATES", []int{10_000, 50_000})
	}
	p.kafkaProps = map[string]string{}
	for _, kv := range strings.Split(os.Getenv("RUNNEL_BENCH_KAFKA_PROPERTIES"), ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("RUNNEL_BENCH_KAFKA_PROPERTIES: %q is not key=value", kv)
		}
		p.kafkaProps[k] = v
	}
	pin, err := parseBenchPin(os.Getenv("RUNNEL_BENCH_PIN"))
	if err != nil {
		t.Fatal(err)
	}
	p.pin = pin
	if p.phases == "" {
		p.phases = "single,life,rf3"
	}
	bin := buildNoRace(t, t.TempDir(), "runnel", "github.com/runnel/runnel/cmd/runnel")
	// From here on everything this process starts inherits the client
	// CPUs; brokers are moved to theirs once they answer.
	p.pin.pinClient(t)
	samples := map[string]map[string][]float64{targetRunnel: {}, targetKafka: {}}
	var raw strings.Builder
	logf := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...) + " [load " + loadAvg() + "]"
		t.Log(line)
		raw.WriteString(line + "\n")
	}
	logf("%s", p.pin)
	if len(p.kafkaProps) > 0 {
		logf("Kafka's server.properties add %v", p.kafkaProps)
	}
	if p.has("single") {
		t.Run("single", func(t *testing.T) { benchKafkaSingle(t, p, bin, samples, logf) })
	}
	if p.has("life") {
		t.Run("life", func(t *testing.T) {
			for round := range p.rounds {
				for k := range 2 {
					if (round+k)%2 == 0 {
						lifeRound(t, runnelLifeProc(t, bin), p.lifeRecords, samples[targetRunnel])
					} else {
						lifeRound(t, kafkaLifeProc(t, kafkaBenchHeapMB, kafkaBenchJVM), p.lifeRecords, samples[targetKafka])
					}
				}
			}
		})
	}
	if p.has("rf3") {
		t.Run("rf3", func(t *testing.T) {
			rn := startRunnelRF3(t, bin)
			k := testenv.StartKafka(t, testenv.KafkaConfig{Nodes: 3, HeapMB: kafkaBenchHeapMB, JVMOptions: kafkaBenchJVM, Properties: p.kafkaProps})
			kt := rf3Target{name: targetKafka, brokers: k.Addrs()}
			for _, n := range k.Nodes {
				kt.pids = append(kt.pids, n.PID())
			}
			// Runnel's etcd is part of its cluster: it goes with the brokers.
			etcd := childPIDs(t, "etcd")
			rnPinned := append(append([]int{}, rn.pids...), etcd...)
			if p.pin.enabled() {
				if len(etcd) != 1 {
					t.Fatalf("found %d etcd processes to pin, want 1", len(etcd))
				}
				p.pin.pinBroker(t, rnPinned...)
				p.pin.pinBroker(t, kt.pids...)
				logf("rf3: runnel %v and its etcd %v, kafka %v on CPU %s", rn.pids, etcd, kt.pids, p.pin.brokerList)
			}
			targets := []rf3Target{rn, kt}
			for round := range p.rounds + 1 {
				for k := range targets {
					tg := targets[(round+k)%len(targets)]
					rf3Round(t, tg, round, p.records, samples[tg.name], logf)
				}
				p.pin.checkPinned(t, append(rnPinned, kt.pids...)...)
			}
		})
	}
	table := kafkaCompareTable(samples, p)
	fmt.Println(table)
	if out := os.Getenv("RUNNEL_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table+"\nper-round results:\n"+raw.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", out, err)
		}
	}
}

// kafkaBenchHeapMB and kafkaBenchJVM are kafka-server-start.sh's heap and
// kafka-run-class.sh's JVM flags.
const kafkaBenchHeapMB = 1024

var kafkaBenchJVM = []string{"-Xms1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
	"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent"}

type kafkaBenchParams struct {
	rounds, records, lifeRecords int
	duration                     time.Duration
	rates                        []int
	phases                       string
	pin                          benchPin
	// kafkaProps are added to Kafka's server.properties in the single
	// and rf3 phases (RUNNEL_BENCH_KAFKA_PROPERTIES=k=v,k=v): to measure
	// Kafka with a setting Runnel defaults differently, such as
	// socket.send.buffer.bytes=-1.
	kafkaProps map[string]string
}

func (p kafkaBenchParams) has(phase string) bool {
	for _, ph := range strings.Split(p.phases, ",") {
		if strings.TrimSpace(ph) == phase {
			return true
		}
	}
	return false
}

// benchKafkaSingle is the single-node phase.
func benchKafkaSingle(t *testing.T, p kafkaBenchParams, bin string, samples map[string]map[string][]float64, logf func(string, ...any)) {
	rdk := buildRdkafkaPerformance(t)
	rn := startRunnelProc(t, bin)
	kafka := testenv.StartKafka(t, testenv.KafkaConfig{HeapMB: kafkaBenchHeapMB, JVMOptions: kafkaBenchJVM, Properties: p.kafkaProps})
	targets := []struct {
		name    string
		brokers []string
		pid     int
	}{
		{targetRunnel, []string{rn.addr}, rn.cmd.Process.Pid},
		{targetKafka, kafka.Addrs(), kafka.Nodes[0].PID()},
	}
	p.pin.pinBroker(t, rn.cmd.Process.Pid, kafka.Nodes[0].PID())
	for round := range p.rounds + 1 {
		warmUp := round == 0
		label := fmt.Sprintf("round %d", round)
		if warmUp {
			label = "warm-up"
		}
		for k := range targets {
			tg := targets[(round+k)%len(targets)]
			s := samples[tg.name]
			if warmUp {
				s = map[string][]float64{}
			}
			fail := func(what string, err error) {
				t.Errorf("%s %s %s: %v", label, tg.name, what, err)
				logf("%-8s %-7s %s ERROR %v", label, tg.name, what, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			topic := fmt.Sprintf("bench-kafka-%d", round)
			cfg := bench.DefaultConfig()
			cfg.Brokers = tg.brokers
			cfg.Topic = topic
			cfg.Records = p.records
			cfg.Duration = p.duration
			cfg.Timeout = 5 * time.Minute
			cfg.ServerCPU = bench.ProcCPU(tg.pid)
			modes := []bench.Mode{bench.ModeProduce, bench.ModeConsume, bench.ModeFetch}
			if warmUp {
				modes = modes[:1]
			}
			for _, mode := range modes {
				res, err := bench.Run(ctx, cfg, mode)
				for _, r := range res {
					logf("%-8s %-7s franz-go %s", label, tg.name, r)
					addSamples(s, r)
					addBusy(s, r)
				}
				if err != nil {
					fail("franz-go", err)
				}
			}
			for _, rate := range p.rates {
				if warmUp {
					break
				}
				cfg.Rate = rate
				r, err := bench.E2E(ctx, cfg)
				logf("%-8s %-7s franz-go %s", label, tg.name, r)
				if err == nil {
					err = r.Err
				}
				if err != nil {
					fail(fmt.Sprintf("e2e %d/s", rate), err)
					continue
				}
				key := e2eKey(rate)
				s[key+".p50"] = append(s[key+".p50"], float64(r.Latency.P50))
				s[key+".p99"] = append(s[key+".p99"], float64(r.Latency.P99))
				s[key+".p999"] = append(s[key+".p999"], float64(r.Latency.P999))
			}
			if !warmUp {
				rdkTopic, javaTopic := topic+"-rdk", topic+"-java"
				for _, tp := range []string{rdkTopic, javaTopic} {
					if err := createBenchTopic(ctx, tg.brokers, tp, 6, 1); err != nil {
						fail("create", err)
					}
				}
				type run struct {
					name string
					fn   func() (clientRun, error)
				}
				for _, c := range []run{
					{"rdk.produce", func() (clientRun, error) {
						return rdkafkaProduce(ctx, rdk, tg.brokers, rdkTopic, p.records, 1024, tg.pid)
					}},
					{"rdk.consume", func() (clientRun, error) {
						return rdkafkaConsume(ctx, rdk, tg.brokers, rdkTopic, "rdk-"+strconv.Itoa(round), p.records, tg.pid)
					}},
					{"java.produce", func() (clientRun, error) {
						return javaProduce(ctx, t, tg.brokers, javaTopic, p.records, 1024, tg.pid)
					}},
					{"java.consume", func() (clientRun, error) {
						return javaConsume(ctx, t, tg.brokers, javaTopic, "java-"+strconv.Itoa(round), p.records, tg.pid)
					}},
				} {
					r, err := c.fn()
					if err != nil {
						fail(c.name, err)
						continue
					}
					logf("%-8s %-7s %-12s %.0f rec/s %.1f MB/s server %.2f client %.2f CPU s/GB p99 %v join %v",
						label, tg.name, c.name, r.rps, r.mbps, r.serverPerGB(), r.clientPerGB(), r.p99, r.join)
					addClientSamples(s, c.name, r)
				}
				if rss, hwm, err := procMemory(tg.pid); err == nil {
					s["rss"] = append(s["rss"], rss)
					s["hwm"] = append(s["hwm"], hwm)
				}
				deleteTopic(t, tg.brokers, rdkTopic)
				deleteTopic(t, tg.brokers, javaTopic)
			}
			cancel()
			deleteTopic(t, tg.brokers, topic)
			runtime.GC()
		}
		p.pin.checkPinned(t, rn.cmd.Process.Pid, kafka.Nodes[0].PID())
	}
}

// addBusy files the share of a core (in %) the client (this process) and
// the broker used over a franz-go produce or consume window: with
// RUNNEL_BENCH_PIN, a side near 100% is the one that bounds the run.
func addBusy(s map[string][]float64, r bench.Result) {
	if r.Err != nil || r.Elapsed <= 0 || (r.Mode != bench.ModeProduce && r.Mode != bench.ModeConsume) {
		return
	}
	mode := string(r.Mode)
	s[mode+".clientbusy"] = append(s[mode+".clientbusy"], 100*r.ClientCPU.Seconds()/r.Elapsed.Seconds())
	if r.ServerCPU > 0 {
		s[mode+".serverbusy"] = append(s[mode+".serverbusy"], 100*r.ServerCPU.Seconds()/r.Elapsed.Seconds())
	}
}

func e2eKey(rate int) string {
	if rate%1000 == 0 {
		return fmt.Sprintf("e2e%dk", rate/1000)
	}
	return fmt.Sprintf("e2e%d", rate)
}

// envInts reads a comma-separated list of positive integers.
func envInts(t *testing.T, key string, def []int) []int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want positive integers separated by commas", key, v)
		}
		out = append(out, n)
	}
	return out
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

// kafkaGoal is one of issue 17's goals as a runnel/kafka ratio: at least
// ratio (throughput), at most ratio (costs), or below it (latency).
type kafkaGoal struct {
	op    string // ">=", "<=" or "<"
	ratio float64
}

func (g kafkaGoal) String() string { return fmt.Sprintf("%s %gx", g.op, g.ratio) }

func (g kafkaGoal) met(r float64) bool {
	switch g.op {
	case ">=":
		return r >= g.ratio
	case "<=":
		return r <= g.ratio
	default:
		return r < g.ratio
	}
}

// kafkaMetrics are the table's rows, with their goals.
func kafkaMetrics(rates []int) ([]metric, map[string]kafkaGoal) {
	prod, cons := kafkaGoal{">=", 1.5}, kafkaGoal{">=", 2}
	cpu, mem, lat := kafkaGoal{"<=", 0.5}, kafkaGoal{"<=", 0.25}, kafkaGoal{"<", 1}
	goals := map[string]kafkaGoal{}
	var ms []metric
	add := func(m metric, g *kafkaGoal) {
		ms = append(ms, m)
		if g != nil {
			goals[m.key] = *g
		}
	}
	add(metric{key: "produce.rps", label: "franz-go produce rec/s"}, &prod)
	add(metric{key: "produce.mbps", label: "franz-go produce MB/s", decimals: 1}, &prod)
	add(metric{key: "produce.p99", label: "franz-go produce p99", latency: true}, nil)
	add(metric{key: "produce.server", label: "franz-go produce CPU s/GB", decimals: 2}, &cpu)
	add(metric{key: "produce.client", label: "  client CPU s/GB", decimals: 2}, nil)
	add(metric{key: "produce.serverbusy", label: "  broker busy % of a core"}, nil)
	add(metric{key: "produce.clientbusy", label: "  client busy % of a core"}, nil)
	add(metric{key: "consume.rps", label: "franz-go consume rec/s"}, &cons)
	add(metric{key: "consume.mbps", label: "franz-go consume MB/s", decimals: 1}, &cons)
	add(metric{key: "consume.server", label: "franz-go consume CPU s/GB", decimals: 2}, &cpu)
	add(metric{key: "consume.client", label: "  client CPU s/GB", decimals: 2}, nil)
	add(metric{key: "consume.serverbusy", label: "  broker busy % of a core"}, nil)
	add(metric{key: "consume.clientbusy", label: "  client busy % of a core"}, nil)
	add(metric{key: "fetch.rps", label: "raw fetch rec/s"}, nil)
	add(metric{key: "fetch.server", label: "raw fetch CPU s/GB", decimals: 2}, &cpu)
	for _, rate := range rates {
		k := e2eKey(rate)
		add(metric{key: k + ".p50", label: fmt.Sprintf("e2e p50 @%d/s", rate), latency: true}, nil)
		add(metric{key: k + ".p99", label: fmt.Sprintf("e2e p99 @%d/s", rate), latency: true}, &lat)
		add(metric{key: k + ".p999", label: fmt.Sprintf("e2e p999 @%d/s", rate), latency: true}, &lat)
	}
	add(metric{key: "rdk.produce.rps", label: "rdkafka produce rec/s"}, &prod)
	add(metric{key: "rdk.produce.mbps", label: "rdkafka produce MB/s", decimals: 1}, &prod)
	add(metric{key: "rdk.produce.server", label: "rdkafka produce CPU s/GB", decimals: 2}, &cpu)
	add(metric{key: "rdk.produce.client", label: "  client CPU s/GB (whole run)", decimals: 2}, nil)
	add(metric{key: "rdk.consume.rps", label: "rdkafka consume rec/s"}, &cons)
	add(metric{key: "rdk.consume.mbps", label: "rdkafka consume MB/s", decimals: 1}, &cons)
	add(metric{key: "rdk.consume.server", label: "rdkafka consume CPU s/GB", decimals: 2}, &cpu)
	add(metric{key: "rdk.consume.client", label: "  client CPU s/GB (whole run)", decimals: 2}, nil)
	add(metric{key: "java.produce.rps", label: "kafka-perf produce rec/s"}, &prod)
	add(metric{key: "java.produce.mbps", label: "kafka-perf produce MB/s", decimals: 1}, &prod)
	add(metric{key: "java.produce.p99", label: "kafka-perf produce p99", latency: true}, nil)
	add(metric{key: "java.produce.server", label: "kafka-perf produce CPU s/GB", decimals: 2}, &cpu)
	add(metric{key: "java.produce.client", label: "  client CPU s/GB (whole JVM)", decimals: 2}, nil)
	add(metric{key: "java.consume.rps", label: "kafka-perf consume rec/s"}, &cons)
	add(metric{key: "java.consume.mbps", label: "kafka-perf consume MB/s", decimals: 1}, &cons)
	add(metric{key: "java.consume.server", label: "kafka-perf consume CPU s/GB", decimals: 2}, &cpu)
	add(metric{key: "java.consume.client", label: "  client CPU s/GB (whole JVM)", decimals: 2}, nil)
	add(metric{key: "java.consume.join", label: "kafka-perf consume group join", latency: true}, nil)
	add(metric{key: "rss", label: "broker RSS after round MiB"}, &mem)
	add(metric{key: "hwm", label: "broker peak RSS MiB"}, &mem)
	add(metric{key: "life.start", label: "start → ApiVersions", latency: true}, nil)
	add(metric{key: "life.restart", label: "kill -9 restart → ApiVersions", latency: true}, nil)
	add(metric{key: "life.recover", label: "kill -9 restart → all data", latency: true}, nil)
	add(metric{key: "rf3.produce.rps", label: "RF=3 produce rec/s"}, &prod)
	add(metric{key: "rf3.produce.mbps", label: "RF=3 produce MB/s", decimals: 1}, &prod)
	add(metric{key: "rf3.produce.p99", label: "RF=3 produce p99", latency: true}, nil)
	add(metric{key: "rf3.produce.server", label: "RF=3 produce CPU s/GB (3)", decimals: 2}, &cpu)
	add(metric{key: "rf3.consume.rps", label: "RF=3 consume rec/s"}, &cons)
	add(metric{key: "rf3.consume.mbps", label: "RF=3 consume MB/s", decimals: 1}, &cons)
	add(metric{key: "rf3.consume.server", label: "RF=3 consume CPU s/GB (3)", decimals: 2}, &cpu)
	add(metric{key: "rf3.rss", label: "RF=3 RSS MiB (3 brokers)"}, &mem)
	return ms, goals
}

func kafkaCompareTable(samples map[string]map[string][]float64, p kafkaBenchParams) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Runnel vs Apache Kafka 4.1.1 (KRaft combined, 1 GiB G1 heap) — medians of %d rounds after a warm-up, alternating which goes first; %d records of 1 KiB per throughput workload, 6 partitions, acks=all, uncompressed; e2e for %s at each rate; %d records before kill -9; %d CPUs, %s; %s; %s; load average %s at the end\n\n",
		p.rounds, p.records, p.duration, p.lifeRecords, runtime.NumCPU(), runtime.Version(), p.pin, time.Now().UTC().Format("2006-01-02 15:04"), loadAvg())
	row := func(cells ...string) {
		fmt.Fprintf(&b, "| %-30s | %11s | %11s | %12s | %-16s |\n", cells[0], cells[1], cells[2], cells[3], cells[4])
	}
	row("metric", "runnel", "kafka", "runnel/kafka", "goal")
	fmt.Fprintf(&b, "|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 32), strings.Repeat("-", 13), strings.Repeat("-", 13), strings.Repeat("-", 14), strings.Repeat("-", 18))
	metrics, goals := kafkaMetrics(p.rates)
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
		ratio, goal := "n/a", ""
		if rok && kok && kv > 0 {
			ratio = fmt.Sprintf("%.2fx", rv/kv)
		}
		if g, ok := goals[m.key]; ok {
			goal = g.String()
			if rok && kok && kv > 0 {
				goal += ": " + verdict(g.met(rv/kv))
			}
		}
		row(m.label, cell(rv, rok), cell(kv, kok), ratio, goal)
	}
	return b.String()
}
