package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Apache Kafka itself, the reference for every behaviour and figure: the
// broker of the release pinned in integration/java/pom.xml, run from the
// jars `make java-deps` copies into integration/java/lib (nothing is
// downloaded at test time), in KRaft combined mode (every node both broker
// and controller) on free loopback ports under a temporary directory.

// KafkaLibEnv names an environment variable that, when set, is the
// directory holding Kafka's jars instead of integration/java/lib.
const KafkaLibEnv = "RUNNEL_KAFKA_LIB"

// KafkaConfig describes the Kafka cluster StartKafka starts.
type KafkaConfig struct {
	// Nodes is the number of combined broker+controller nodes; 0 means 1.
	Nodes int
	// Properties are added to (or replace) every node's generated
	// server.properties: an authorizer, a listener's SASL mechanisms, a
	// default that a test needs changed.
	Properties map[string]string
	// HeapMB is the JVM's -Xmx; 0 means 512, enough for tests.
	// Benchmarks pass 1024 with JVMOptions mirroring kafka-server-start.sh.
	HeapMB int
	// JVMOptions replace the JVM's default flags (heap aside).
	JVMOptions []string
	// Listeners are extra client listeners, each named for its security
	// protocol (SASL_PLAINTEXT, say), on their own free ports, beside
	// PLAINTEXT; their SASL settings go in Properties.
	Listeners []string
}

// Kafka is a running Apache Kafka cluster.
type Kafka struct {
	ClusterID string
	Nodes     []*KafkaNode

	dir      string
	stopOnce sync.Once
	stopErr  error
}

// KafkaNode is one JVM of a Kafka cluster.
type KafkaNode struct {
	ID             int32
	Addr           string // the PLAINTEXT listener clients use, 127.0.0.1:port
	ControllerAddr string
	Dir            string // holds server.properties and the log dir
	// ListenerAddrs are the extra listeners' addresses by name.
	ListenerAddrs map[string]string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logMu   sync.Mutex
	log     bytes.Buffer
}

// PID is the node's JVM process id, for /proc accounting.
func (n *KafkaNode) PID() int { return n.cmd.Process.Pid }

// Logs returns what the node's JVM printed so far.
func (n *KafkaNode) Logs() string {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.log.String()
}

func (n *KafkaNode) Write(p []byte) (int, error) {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.log.Write(p)
}

// Addrs returns every node's client listener.
func (k *Kafka) Addrs() []string {
	addrs := make([]string, len(k.Nodes))
	for i, n := range k.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// KafkaLibDir returns the directory of Kafka's jars: $RUNNEL_KAFKA_LIB, or
// integration/java/lib under the module root found above the working
// directory. It errors when the broker's jar is not there.
func KafkaLibDir() (string, error) {
	dir := os.Getenv(KafkaLibEnv)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "integration", "java", "lib")
	}
	jars, _ := filepath.Glob(filepath.Join(dir, "kafka_2.13-*.jar"))
	if len(jars) == 0 {
		return "", fmt.Errorf("no kafka_2.13 jar in %s (run `make java-deps`)", dir)
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", errors.New("no java on PATH")
	}
	return dir, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// StartKafka starts a Kafka cluster stopped when the test ends. The test
// is skipped where Kafka's jars or java are missing, except under CI
// (CI=true), where a missing install step must fail.
func StartKafka(t testing.TB, cfg KafkaConfig) *Kafka {
	t.Helper()
	if _, err := KafkaLibDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Apache Kafka is not installed: %v", err)
		}
		t.Skipf("skipping: Apache Kafka is not installed: %v", err)
	}
	k, err := StartKafkaProcess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Stop(); err != nil {
			t.Errorf("stopping Kafka: %v", err)
		}
	})
	return k
}

// StartKafkaProcess starts a Kafka cluster the caller stops with Stop:
// for a TestMain that shares one cluster among a package's tests.
func StartKafkaProcess(cfg KafkaConfig) (*Kafka, error) {
	var lastErr error
	// A free port can be taken between FreePort and the JVM's bind: retry.
	for attempt := 0; attempt < 3; attempt++ {
		k, err := startKafkaOnce(cfg)
		if err == nil {
			return k, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startKafkaOnce(cfg KafkaConfig) (*Kafka, error) {
	lib, err := KafkaLibDir()
	if err != nil {
		return nil, err
	}
	nodes := cfg.Nodes
	if nodes <= 0 {
		nodes = 1
	}
	dir, err := os.MkdirTemp("", "runnel-kafka-")
	if err != nil {
		return nil, err
	}
	k := &Kafka{ClusterID: newKafkaUUID(), dir: dir}
	var voters []string
	for i := 0; i < nodes; i++ {
		n := &KafkaNode{
			ID:             int32(i + 1),
			Addr:           fmt.Sprintf("127.0.0.1:%d", freePort()),
			ControllerAddr: fmt.Sprintf("127.0.0.1:%d", freePort()),
			Dir:            filepath.Join(dir, fmt.Sprint("node", i+1)),
			ListenerAddrs:  map[string]string{},
		}
		for _, name := range cfg.Listeners {
			n.ListenerAddrs[name] = fmt.Sprintf("127.0.0.1:%d", freePort())
		}
		if err := os.MkdirAll(filepath.Join(n.Dir, "data"), 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.ControllerAddr))
		k.Nodes = append(k.Nodes, n)
	}
	for _, n := range k.Nodes {
		props := kafkaProperties(n, nodes, voters, cfg.Properties)
		if err := os.WriteFile(filepath.Join(n.Dir, "server.properties"), []byte(props), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// Format every node's storage, as `kafka-storage format` does: one
	// node forms a dynamic quorum by itself (--standalone, Kafka 4's
	// quickstart); several share a static voter set.
	formatErrs := make([]error, nodes)
	var wg sync.WaitGroup
	for i, n := range k.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"format", "-t", k.ClusterID, "-c", filepath.Join(n.Dir, "server.properties")}
			if nodes == 1 {
				args = append(args, "--standalone")
			}
			cmd := kafkaJava(lib, []string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}, "kafka.tools.StorageTool", args...)
			if out, err := cmd.CombinedOutput(); err != nil {
				formatErrs[i] = fmt.Errorf("formatting node %d: %v\n%s", n.ID, err, tailLines(string(out), 30))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(formatErrs...); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	heap := cfg.HeapMB
	if heap <= 0 {
		heap = 512
	}
	jvm := cfg.JVMOptions
	if jvm == nil {
		jvm = []string{"-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent"}
	}
	jvm = append([]string{fmt.Sprintf("-Xmx%dm", heap)}, jvm...)
	for _, n := range k.Nodes {
		n.cmd = kafkaJava(lib, jvm, "kafka.Kafka", filepath.Join(n.Dir, "server.properties"))
		n.cmd.Dir = n.Dir
		n.cmd.Stdout, n.cmd.Stderr = n, n
		if err := n.cmd.Start(); err != nil {
			k.Stop()
			return nil, err
		}
		n.exited = make(chan struct{})
		go func() { n.waitErr = n.cmd.Wait(); close(n.exited) }()
	}
	if err := k.waitReady(nodes); err != nil {
		k.Stop()
		return nil, err
	}
	return k, nil
}

// kafkaProperties is a node's server.properties: Kafka's defaults except
// what a loopback cluster of this size needs (listeners, the quorum, the
// internal topics' replication factor when there are fewer than three
// nodes), then the caller's properties.
func kafkaProperties(n *KafkaNode, nodes int, voters []string, extra map[string]string) string {
	listeners := "PLAINTEXT://" + n.Addr + ",CONTROLLER://" + n.ControllerAddr
	advertised := "PLAINTEXT://" + n.Addr
	protocols := "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	names := make([]string, 0, len(n.ListenerAddrs))
	for name := range n.ListenerAddrs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		listeners += "," + name + "://" + n.ListenerAddrs[name]
		advertised += "," + name + "://" + n.ListenerAddrs[name]
		protocols += "," + name + ":" + name
	}
	props := map[string]string{
		"process.roles":                  "broker,controller",
		"node.id":                        fmt.Sprint(n.ID),
		"listeners":                      listeners,
		"advertised.listeners":           advertised,
		"controller.listener.names":      "CONTROLLER",
		"inter.broker.listener.name":     "PLAINTEXT",
		"listener.security.protocol.map": protocols,
		"log.dirs":                       filepath.Join(n.Dir, "data"),
	}
	if nodes == 1 {
		props["controller.quorum.bootstrap.servers"] = n.ControllerAddr
	} else {
		props["controller.quorum.voters"] = strings.Join(voters, ",")
	}
	if nodes < 3 {
		props["offsets.topic.replication.factor"] = fmt.Sprint(nodes)
		props["transaction.state.log.replication.factor"] = fmt.Sprint(nodes)
		props["transaction.state.log.min.isr"] = fmt.Sprint(nodes)
		props["share.coordinator.state.topic.replication.factor"] = fmt.Sprint(nodes)
		props["share.coordinator.state.topic.min.isr"] = fmt.Sprint(nodes)
	}
	for key, value := range extra {
		props[key] = value
	}
	keys := make([]string, 0, len(props))
	for key := range props {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, key := range keys {
		fmt.Fprintf(&b, "%s=%s\n", key, props[key])
	}
	return b.String()
}

// kafkaJava is `java -cp lib/* mainClass args`, as kafka-run-class.sh runs
// it, logging at WARN through the slf4j binding on the classpath.
func kafkaJava(lib string, jvm []string, mainClass string, args ...string) *exec.Cmd {
	jargs := append([]string{}, jvm...)
	jargs = append(jargs,
		"-Djava.awt.headless=true",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dorg.slf4j.simpleLogger.logFile=System.err",
		"-cp", filepath.Join(lib, "*"), mainClass)
	cmd := exec.Command("java", append(jargs, args...)...)
	DieWithTest(cmd)
	return cmd
}

// waitReady returns once every node answers Metadata listing all nodes,
// or an error when a JVM exits or the cluster is not up within 120 s (a
// JVM's start on a loaded 2-core machine takes 10–20 s).
func (k *Kafka) waitReady(nodes int) error {
	deadline := time.Now().Add(120 * time.Second)
	for _, n := range k.Nodes {
		for {
			select {
			case <-n.exited:
				return fmt.Errorf("kafka node %d exited before it was ready: %v\n%s", n.ID, n.waitErr, tailLines(n.Logs(), 40))
			default:
			}
			if brokers, err := metadataBrokers(n.Addr); err == nil && brokers == nodes {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("kafka node %d not ready at %s after 120s\n%s", n.ID, n.Addr, tailLines(n.Logs(), 40))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// metadataBrokers asks addr alone for Metadata and returns how many
// brokers it lists.
func metadataBrokers(addr string) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	return len(resp.Brokers), nil
}

// Stop stops every node as kafka-server-stop.sh does (SIGTERM: a
// controlled shutdown), all at once so that no node waits for a quorum its
// peers already left, kills a node still running after 60 s, and removes
// the cluster's directory. It returns an error naming the nodes that had
// to be killed or exited with a failure.
func (k *Kafka) Stop() error {
	k.stopOnce.Do(func() {
		var errs []error
		for _, n := range k.Nodes {
			if n.exited != nil {
				n.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		deadline := time.After(60 * time.Second)
		for _, n := range k.Nodes {
			if n.exited == nil {
				continue
			}
			select {
			case <-n.exited:
				// The JVM exits 143 (128+SIGTERM) once its shutdown hook
				// has run; Kafka's LogManager writes .kafka_cleanshutdown
				// into the log dir only when its shutdown completed.
				var exit *exec.ExitError
				if n.waitErr != nil && !(errors.As(n.waitErr, &exit) && exit.ExitCode() == 128+int(syscall.SIGTERM)) {
					errs = append(errs, fmt.Errorf("kafka node %d: %v\n%s", n.ID, n.waitErr, tailLines(n.Logs(), 20)))
				} else if _, err := os.Stat(filepath.Join(n.Dir, "data", ".kafka_cleanshutdown")); err != nil {
					errs = append(errs, fmt.Errorf("kafka node %d did not shut down cleanly (no .kafka_cleanshutdown)\n%s", n.ID, tailLines(n.Logs(), 20)))
				}
			case <-deadline:
				n.cmd.Process.Kill()
				<-n.exited
				errs = append(errs, fmt.Errorf("kafka node %d still running 60 s after SIGTERM: killed", n.ID))
			}
		}
		os.RemoveAll(k.dir)
		k.stopErr = errors.Join(errs...)
	})
	return k.stopErr
}

// newKafkaUUID returns a random id in Kafka's Uuid text form (16 bytes,
// URL-safe base64 without padding), never starting with '-' as Kafka's
// Uuid.randomUuid guarantees: the storage tool's -t parses it as a flag.
func newKafkaUUID() string {
	for {
		var b [16]byte
		rand.Read(b[:])
		id := base64.RawURLEncoding.EncodeToString(b[:])
		if id[0] != '-' {
			return id
		}
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
