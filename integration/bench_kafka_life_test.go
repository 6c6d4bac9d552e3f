package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/bench"
	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Start-up and crash recovery for TestBenchCompareKafka: one node of each
// broker on a data directory of its own, started by the test so that the
// clock starts at the process's start.
//
//	start:    process start → ApiVersions answered, on an empty node
//	          (Kafka's already formatted, as kafka-storage format leaves it)
//	restart:  after kill -9 with `records` records of 1 KiB written:
//	          process start → ApiVersions answered
//	recover:  the same start → every partition's end offset listed, adding
//	          up to every record acknowledged before the kill

// lifeProc is a broker process the test starts, kills and starts again.
type lifeProc struct {
	name   string
	addr   string
	newCmd func() *exec.Cmd
	cmd    *exec.Cmd
	exited chan struct{}
	logMu  sync.Mutex
	log    bytes.Buffer
}

func (p *lifeProc) Write(b []byte) (int, error) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.Write(b)
}

func (p *lifeProc) logs() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

// start starts the process and returns how long until ApiVersions was
// answered.
func (p *lifeProc) start(t *testing.T) (time.Duration, time.Time) {
	t.Helper()
	p.cmd = p.newCmd()
	p.cmd.Stdout, p.cmd.Stderr = p, p
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	p.exited = exited
	cmd := p.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := began.Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("%s exited while starting\n%s", p.name, tail(p.logs(), 40))
		default:
		}
		if apiVersionsAnswered(p.addr) {
			return time.Since(began), began
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s did not answer ApiVersions at %s within 3 minutes\n%s", p.name, p.addr, tail(p.logs(), 40))
	return 0, began
}

// kill9 kills the process as a crash would.
func (p *lifeProc) kill9() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// stop sends SIGTERM and waits (killing it after 60 s).
func (p *lifeProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// apiVersionsAnswered sends one ApiVersions v0 request on a new
// connection and reports whether an answer without error came back.
func apiVersionsAnswered(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	// Request header v1: api key 18, version 0, correlation id 1, null
	// client id; ApiVersions v0 has an empty body.
	req := []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
	if _, err := conn.Write(req); err != nil {
		return false
	}
	var hdr [4 + 4 + 2]byte // size, correlation id, error code
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return false
	}
	return binary.BigEndian.Uint32(hdr[4:]) == 1 && binary.BigEndian.Uint16(hdr[8:]) == 0
}

// waitRecovered waits until topic's end offsets add up to want.
func waitRecovered(ctx context.Context, addr, topic string, want int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ends, err := adm.ListEndOffsets(rctx, topic)
		cancel()
		if err == nil && ends.Error() == nil {
			var sum int64
			ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
			if sum >= want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not recovered (want %d records): %w", topic, want, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lifeRound measures start, restart and recover on p, whose data
// directory is empty, then stops it, filing the figures under life.*.
func lifeRound(t *testing.T, p *lifeProc, records int, samples map[string][]float64) {
	t.Helper()
	startup, _ := p.start(t)
	t.Logf("%s start → ApiVersions %v", p.name, startup)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topic := "bench-life"
	if err := createBenchTopic(ctx, []string{p.addr}, topic, 6, 1); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	cfg := bench.DefaultConfig()
	cfg.Brokers = []string{p.addr}
	cfg.Topic = topic
	cfg.Records = records
	cfg.Timeout = 5 * time.Minute
	res, err := bench.Produce(ctx, cfg)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("%s: produce before kill -9: %v", p.name, err)
	}
	p.kill9()
	restart, began := p.start(t)
	if err := waitRecovered(ctx, p.addr, topic, res.Records); err != nil {
		t.Fatalf("%s: %v\n%s", p.name, err, tail(p.logs(), 40))
	}
	recovered := time.Since(began)
	t.Logf("%s after kill -9 with %d records: ApiVersions %v, recovered %v", p.name, res.Records, restart, recovered)
	p.stop()
	add := func(k string, d time.Duration) { samples[k] = append(samples[k], float64(d)) }
	add("life.start", startup)
	add("life.restart", restart)
	add("life.recover", recovered)
}

// runnelLifeProc is a single-node Runnel (embedded etcd) on a fresh data
// directory.
func runnelLifeProc(t *testing.T, bin string) *lifeProc {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := &lifeProc{name: targetRunnel, addr: addr}
	p.newCmd = func() *exec.Cmd {
		cmd := exec.Command(bin, "serve",
			"--override", "broker.id=1",
			"--override", "listeners=PLAINTEXT://"+addr,
			"--override", "log.dirs="+filepath.Join(dir, "logs"),
			"--override", "runnel.admin.listener=127.0.0.1:0")
		testenv.DieWithTest(cmd)
		cmd.Dir = dir
		return cmd
	}
	t.Cleanup(p.stop)
	return p
}

// kafkaLifeProc is a single Kafka node, formatted by testenv and stopped
// once (so the test owns its JVM from then on), run as StartKafka runs
// it: the same server.properties, heap and JVM flags.
func kafkaLifeProc(t *testing.T, heapMB int, jvm []string) *lifeProc {
	t.Helper()
	lib, err := testenv.KafkaLibDir()
	if err != nil {
		t.Skipf("skipping: Apache Kafka is not installed: %v", err)
	}
	k, err := testenv.StartKafkaProcess(testenv.KafkaConfig{HeapMB: heapMB, JVMOptions: jvm})
	if err != nil {
		t.Fatal(err)
	}
	node := k.Nodes[0]
	// A controlled shutdown of testenv's JVM leaves a formatted, empty
	// node; Stop removes the directory, so it runs after the test's own
	// JVM has stopped (cleanups run last-in first-out).
	t.Cleanup(func() { _ = k.Stop() })
	if err := syscall.Kill(node.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		if err := syscall.Kill(node.PID(), 0); errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Kafka did not stop within 60 s of SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}
	props := filepath.Join(node.Dir, "server.properties")
	if _, err := os.Stat(props); err != nil {
		t.Fatal(err)
	}
	p := &lifeProc{name: targetKafka, addr: node.Addr}
	p.newCmd = func() *exec.Cmd {
		args := append([]string{fmt.Sprintf("-Xmx%dm", heapMB)}, jvm...)
		args = append(args, "-Djava.awt.headless=true",
			"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
			"-Dorg.slf4j.simpleLogger.logFile=System.err",
			"-cp", filepath.Join(lib, "*"), "kafka.Kafka", props)
		cmd := exec.Command("java", args...)
		testenv.DieWithTest(cmd)
		cmd.Dir = node.Dir
		return cmd
	}
	t.Cleanup(p.stop)
	return p
}
