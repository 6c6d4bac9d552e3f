package integration

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/bench"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The other clients of TestBenchCompareKafka: librdkafka's
// rdkafka_performance and Kafka's own kafka-producer-perf-test /
// kafka-consumer-perf-test (ProducerPerformance, ConsumerPerformance),
// each run as a person runs it, against a topic of 6 partitions created
// beforehand, 1 KiB records, acks=all. Each reports its own throughput;
// the broker's CPU is read from /proc/PID/stat around the whole run (so
// it includes the client's connect and, for the consumers, the group
// join).

// clientRun is what one client tool reported.
type clientRun struct {
	records, bytes int64
	rps, mbps      float64
	serverCPU      time.Duration
	// clientCPU is the tool process's user and system time over its
	// whole life (start-up, connect and group join included).
	clientCPU time.Duration
	// p99 is the producer's latency p99 where the tool reports one.
	p99 time.Duration
	// join is the consumer's group join (Kafka's ConsumerPerformance's
	// rebalance.time.ms).
	join time.Duration
}

// serverPerGB is the broker's CPU seconds per GB (2^30 bytes) moved.
func (r clientRun) serverPerGB() float64 {
	if r.bytes <= 0 {
		return 0
	}
	return r.serverCPU.Seconds() / (float64(r.bytes) / (1 << 30))
}

// clientPerGB is the tool's CPU seconds per GB (2^30 bytes) moved.
func (r clientRun) clientPerGB() float64 {
	if r.bytes <= 0 {
		return 0
	}
	return r.clientCPU.Seconds() / (float64(r.bytes) / (1 << 30))
}

// addClientSamples files a client run under prefix.rps, .mbps, .server
// (and .p99, .join when reported).
func addClientSamples(s map[string][]float64, prefix string, r clientRun) {
	s[prefix+".rps"] = append(s[prefix+".rps"], r.rps)
	s[prefix+".mbps"] = append(s[prefix+".mbps"], r.mbps)
	if r.serverCPU > 0 {
		s[prefix+".server"] = append(s[prefix+".server"], r.serverPerGB())
	}
	if r.clientCPU > 0 {
		s[prefix+".client"] = append(s[prefix+".client"], r.clientPerGB())
	}
	if r.p99 > 0 {
		s[prefix+".p99"] = append(s[prefix+".p99"], float64(r.p99))
	}
	if r.join > 0 {
		s[prefix+".join"] = append(s[prefix+".join"], float64(r.join))
	}
}

// createBenchTopic creates topic with partitions and rf replicas (and
// min.insync.replicas=2 when rf is 3) and waits until it has leaders.
func createBenchTopic(ctx context.Context, brokers []string, topic string, partitions int32, rf int16) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var cfg map[string]*string
	if rf >= 3 {
		two := "2"
		cfg = map[string]*string{"min.insync.replicas": &two}
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	for ctx.Err() == nil {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			td := md.Topics[topic]
			led := td.Err == nil && len(td.Partitions) == int(partitions)
			for _, p := range td.Partitions {
				led = led && p.Err == nil && p.Leader >= 0 && len(p.ISR) == int(rf)
			}
			if led {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ctx.Err()
}

// timedServerCPU runs fn and returns the broker's CPU over it.
func timedServerCPU(pid int, fn func() error) (time.Duration, error) {
	cpu := bench.ProcCPU(pid)
	before, err := cpu()
	if err != nil {
		return 0, err
	}
	if err := fn(); err != nil {
		return 0, err
	}
	after, err := cpu()
	if err != nil {
		return 0, err
	}
	return after - before, nil
}

// runTool runs cmd and returns its output; *cpu (when not nil) gets the
// process's user and system time.
func runTool(ctx context.Context, cmd *exec.Cmd, cpu *time.Duration) (string, error) {
	out, err := cmd.CombinedOutput()
	if cpu != nil && cmd.ProcessState != nil {
		*cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", cmd.Args[0], ctx.Err(), tail(string(out), 20))
	}
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %w\n%s", cmd.Args[0], cmd.Args[1:], err, tail(string(out), 20))
	}
	return string(out), nil
}

var (
	// % 500000 messages produced (512000000 bytes), 500000 delivered
	// (offset 0, 0 failed) in 6543ms: 76417 msgs/s and 78.25 MB/s, ...
	rdkProducedRE = regexp.MustCompile(`% (\d+) messages produced \((\d+) bytes\), (\d+) delivered \(offset -?\d+, (\d+) failed\) in (\d+)ms: (\d+) msgs/s and ([\d.]+) MB/s`)
	// % 500000 messages (512000000 bytes) consumed in 1097ms: 273252 msgs/s (279.81 MB/s)
	rdkConsumedRE = regexp.MustCompile(`% (\d+) messages \((\d+) bytes\) consumed in (\d+)ms: (\d+) msgs/s \(([\d.]+) MB/s\)`)
)

// rdkafkaProduce runs `rdkafka_performance -P` for records of size bytes
// with acks=all (librdkafka's defaults otherwise: linger 5 ms, idempotence
// off) and reads its closing summary.
func rdkafkaProduce(ctx context.Context, bin string, brokers []string, topic string, records, size, pid int) (clientRun, error) {
	var (
		out  string
		ccpu time.Duration
	)
	cpu, err := timedServerCPU(pid, func() error {
		var err error
		out, err = runTool(ctx, exec.CommandContext(ctx, bin, "-P", "-t", topic, "-b", strings.Join(brokers, ","),
			"-s", strconv.Itoa(size), "-c", strconv.Itoa(records), "-a", "-1"), &ccpu)
		return err
	})
	if err != nil {
		return clientRun{}, err
	}
	m := rdkProducedRE.FindAllStringSubmatch(out, -1)
	if m == nil {
		return clientRun{}, fmt.Errorf("rdkafka_performance -P: no summary in\n%s", tail(out, 20))
	}
	last := m[len(m)-1]
	delivered, _ := strconv.ParseInt(last[3], 10, 64)
	failed, _ := strconv.ParseInt(last[4], 10, 64)
	ms, _ := strconv.ParseInt(last[5], 10, 64)
	if failed > 0 || delivered < int64(records) {
		return clientRun{}, fmt.Errorf("rdkafka_performance -P: %d delivered, %d failed of %d", delivered, failed, records)
	}
	r := throughput(delivered, delivered*int64(size), time.Duration(ms)*time.Millisecond, cpu)
	r.clientCPU = ccpu
	return r, nil
}

// rdkafkaConsume runs `rdkafka_performance -C -G group` (the high-level
// group consumer, from the earliest offset) until it has records.
func rdkafkaConsume(ctx context.Context, bin string, brokers []string, topic, group string, records, pid int) (clientRun, error) {
	var (
		out  string
		ccpu time.Duration
	)
	cpu, err := timedServerCPU(pid, func() error {
		var err error
		out, err = runTool(ctx, exec.CommandContext(ctx, bin, "-C", "-G", group, "-t", topic, "-b", strings.Join(brokers, ","),
			"-c", strconv.Itoa(records), "-X", "auto.offset.reset=earliest"), &ccpu)
		return err
	})
	if err != nil {
		return clientRun{}, err
	}
	m := rdkConsumedRE.FindAllStringSubmatch(out, -1)
	if m == nil {
		return clientRun{}, fmt.Errorf("rdkafka_performance -C: no summary in\n%s", tail(out, 20))
	}
	last := m[len(m)-1]
	n, _ := strconv.ParseInt(last[1], 10, 64)
	b, _ := strconv.ParseInt(last[2], 10, 64)
	ms, _ := strconv.ParseInt(last[3], 10, 64)
	if n < int64(records) {
		return clientRun{}, fmt.Errorf("rdkafka_performance -C: %d of %d records", n, records)
	}
	r := throughput(n, b, time.Duration(ms)*time.Millisecond, cpu)
	r.clientCPU = ccpu
	return r, nil
}

func throughput(records, bytes int64, elapsed, cpu time.Duration) clientRun {
	r := clientRun{records: records, bytes: bytes, serverCPU: cpu}
	if elapsed > 0 {
		r.rps = float64(records) / elapsed.Seconds()
		r.mbps = float64(bytes) / (1 << 20) / elapsed.Seconds()
	}
	return r
}

var (
	// 500000 records sent, 61012.8 records/sec (59.58 MB/sec), 412.05 ms avg latency,
	// 1201.00 ms max latency, 380 ms 50th, 900 ms 95th, 1100 ms 99th, 1190 ms 99.9th.
	javaProducedRE = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), [\d.]+ ms avg latency, [\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, (\d+) ms 99th`)
)

// javaProduce runs kafka-producer-perf-test (ProducerPerformance) with
// acks=all and the Java producer's defaults otherwise.
func javaProduce(ctx context.Context, t *testing.T, brokers []string, topic string, records, size, pid int) (clientRun, error) {
	var (
		out  string
		ccpu time.Duration
	)
	cpu, err := timedServerCPU(pid, func() error {
		var err error
		out, err = runTool(ctx, kafkaToolCommand(ctx, t, toolProducerPerf, "--topic", topic,
			"--num-records", strconv.Itoa(records), "--record-size", strconv.Itoa(size), "--throughput", "-1",
			"--producer-props", "bootstrap.servers="+strings.Join(brokers, ","), "acks=all"), &ccpu)
		return err
	})
	if err != nil {
		return clientRun{}, err
	}
	m := javaProducedRE.FindStringSubmatch(out)
	if m == nil {
		return clientRun{}, fmt.Errorf("kafka-producer-perf-test: no summary in\n%s", tail(out, 20))
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	rps, _ := strconv.ParseFloat(m[2], 64)
	mbps, _ := strconv.ParseFloat(m[3], 64)
	p99, _ := strconv.Atoi(m[4])
	if n < int64(records) {
		return clientRun{}, fmt.Errorf("kafka-producer-perf-test: %d of %d records", n, records)
	}
	return clientRun{records: n, bytes: n * int64(size), rps: rps, mbps: mbps, serverCPU: cpu, clientCPU: ccpu,
		p99: time.Duration(p99) * time.Millisecond}, nil
}

// javaConsume runs kafka-consumer-perf-test (ConsumerPerformance, a group
// consumer from the earliest offset) and takes its fetch.* figures, which
// leave out the group join (reported apart as join).
func javaConsume(ctx context.Context, t *testing.T, brokers []string, topic, group string, records, pid int) (clientRun, error) {
	var (
		out  string
		ccpu time.Duration
	)
	cpu, err := timedServerCPU(pid, func() error {
		var err error
		out, err = runTool(ctx, kafkaToolCommand(ctx, t, toolConsumerPerf, "--bootstrap-server", strings.Join(brokers, ","),
			"--topic", topic, "--group", group, "--messages", strconv.Itoa(records), "--timeout", "60000"), &ccpu)
		return err
	})
	if err != nil {
		return clientRun{}, err
	}
	// start.time, end.time, data.consumed.in.MB, MB.sec,
	// data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms,
	// fetch.MB.sec, fetch.nMsg.sec
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ", ")
		if len(f) != 10 || strings.HasPrefix(line, "start.time") {
			continue
		}
		mb, _ := strconv.ParseFloat(f[2], 64)
		n, _ := strconv.ParseInt(f[4], 10, 64)
		join, _ := strconv.ParseFloat(f[6], 64)
		fetchMBps, _ := strconv.ParseFloat(f[8], 64)
		fetchRps, _ := strconv.ParseFloat(f[9], 64)
		if n < int64(records) {
			return clientRun{}, fmt.Errorf("kafka-consumer-perf-test: %d of %d records", n, records)
		}
		return clientRun{records: n, bytes: int64(mb * (1 << 20)), rps: fetchRps, mbps: fetchMBps, serverCPU: cpu, clientCPU: ccpu,
			join: time.Duration(join * float64(time.Millisecond))}, nil
	}
	return clientRun{}, fmt.Errorf("kafka-consumer-perf-test: no summary in\n%s", tail(out, 20))
}

// kafkaToolCommand is one of Kafka's tools as kafka-run-class.sh runs it
// for a person (the tool's own JVM defaults, no start-up shortcuts: these
// JVMs carry the load).
func kafkaToolCommand(ctx context.Context, t *testing.T, mainClass string, args ...string) *exec.Cmd {
	t.Helper()
	cp := javaClasspath(t)
	jargs := []string{"-Xmx512m", "-XX:+UseG1GC",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dorg.slf4j.simpleLogger.logFile=System.err",
		"-cp", cp, mainClass}
	return exec.CommandContext(ctx, "java", append(jargs, args...)...)
}
