package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runnelBinary is the path of the binary built once by TestMain.
var runnelBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runnel-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runnelBinary = filepath.Join(dir, "runnel")
	build := exec.Command("go", "build", "-race", "-o", runnelBinary, "github.com/runnel/runnel/cmd/runnel")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building runnel:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// broker is one runnel process under test.
type broker struct {
	t        *testing.T
	dataDir  string
	port     int
	args     []string
	env      []string
	cmd      *exec.Cmd
	exited   chan struct{}
	logMu    sync.Mutex
	log      bytes.Buffer
	waitErr  error
	logLines int
	// minimal passes only listeners and log.dirs: every other setting is
	// the default, as for a person who just runs the binary.
	minimal bool
}

// brokerOption adjusts a broker before it starts.
type brokerOption func(*broker)

// withOverride passes --override key=value.
func withOverride(key, value string) brokerOption {
	return func(b *broker) { b.args = append(b.args, "--override", key+"="+value) }
}

// withOnlyListenerAndLogDir starts the broker with nothing configured but
// its listener and log dir.
func withOnlyListenerAndLogDir() brokerOption {
	return func(b *broker) { b.minimal = true }
}

// withEnv sets an environment variable (KAFKA_* configuration, say).
func withEnv(key, value string) brokerOption {
	return func(b *broker) { b.env = append(b.env, key+"="+value) }
}

// startBroker starts a single-node runnel with an embedded etcd on a free
// port under a temporary data directory and waits until it serves Metadata.
func startBroker(t *testing.T, opts ...brokerOption) *broker {
	t.Helper()
	b := &broker{t: t, dataDir: t.TempDir(), port: testenv.FreePort(t)}
	for _, o := range opts {
		o(b)
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

func (b *broker) start() {
	t := b.t
	t.Helper()
	args := []string{"serve",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", b.port),
		"--override", "log.dirs=" + filepath.Join(b.dataDir, "logs"),
	}
	if !b.minimal {
		args = append(args, "--override", "broker.id=1", "--override", "runnel.admin.listener=127.0.0.1:0")
	}
	args = append(args, b.args...)
	cmd := exec.Command(runnelBinary, args...)
	testenv.DieWithTest(cmd)
	cmd.Env = append(os.Environ(), b.env...)
	cmd.Dir = b.dataDir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.cmd = cmd
	b.exited = make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			b.logMu.Lock()
			b.log.Write(sc.Bytes())
			b.log.WriteByte('\n')
			b.logLines++
			b.logMu.Unlock()
		}
		b.waitErr = cmd.Wait()
		close(b.exited)
	}()
	b.waitReady()
}

// waitReady polls the listener with a real client until Metadata answers.
func (b *broker) waitReady() {
	t := b.t
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-b.exited:
			t.Fatalf("runnel exited before it was ready: %v\n%s", b.waitErr, b.logs())
		default:
		}
		conn, err := net.DialTimeout("tcp", b.addr(), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()))
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
				cancel()
				cl.Close()
				if err == nil {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("runnel not ready at %s after 60s\n%s", b.addr(), b.logs())
}

// logs returns everything the process printed so far.
func (b *broker) logs() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

// stop sends SIGTERM and waits for a clean exit (the test fails otherwise).
func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	select {
	case <-b.exited:
		b.cmd = nil
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		if b.waitErr != nil {
			b.t.Errorf("runnel exited uncleanly after SIGTERM: %v\n%s", b.waitErr, tail(b.logs(), 40))
		}
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		b.t.Errorf("runnel did not stop within 30s of SIGTERM\n%s", tail(b.logs(), 40))
	}
	b.cmd = nil
}

// kill9 kills the process with SIGKILL, as a crash would.
func (b *broker) kill9() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.exited
	b.cmd = nil
}

// restart starts the process again on the same port and data directory.
func (b *broker) restart() {
	b.t.Helper()
	b.stop()
	b.start()
}

// franz returns a franz-go client for this broker, closed at test end.
func (b *broker) franz(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client for this broker.
func (b *broker) admin(t *testing.T) *kadm.Client {
	return kadm.NewClient(b.franz(t))
}

// createTopic creates a topic through kadm and fails the test on error.
func (b *broker) createTopic(t *testing.T, name string, partitions int32, configs ...string) {
	t.Helper()
	cfg := map[string]*string{}
	for i := 0; i+1 < len(configs); i += 2 {
		v := configs[i+1]
		cfg[configs[i]] = &v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := b.admin(t).CreateTopic(ctx, partitions, 1, cfg, name)
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s: %v", name, resp.Err)
	}
}

// python runs a script from testdata under Debian's /usr/bin/python3 (the
// only interpreter that loads python3-kafka and python3-confluent-kafka)
// and returns its standard output.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{filepath.Join("testdata", script)}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python %s %v: %v\nstdout:\n%s\nstderr:\n%s", script, args, err, out, tail(stderr.String(), 60))
	}
	return string(out)
}

// kcat runs kcat with the given arguments and standard input.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, tail(stderr.String(), 60))
	}
	return string(out)
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
