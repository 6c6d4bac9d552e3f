package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The long scenarios with Kafka's own software: Kafka Streams
// (exactly_once_v2, a broker SIGKILLed mid-run), Kafka Connect (standalone
// worker, file source and sink) and MirrorMaker 2 between two runnel
// clusters. Each takes a minute or more of JVMs, so they run only with
// RUNNEL_JAVA_LONG=1 (`make java-long`), not in `make test`.

func skipUnlessJavaLong(t *testing.T) {
	t.Helper()
	if os.Getenv("RUNNEL_JAVA_LONG") != "1" {
		t.Skip("long Java scenario: runs with RUNNEL_JAVA_LONG=1 (make java-long)")
	}
	javaClasspath(t)
}

// TestJavaLongStreamsEOS: Kafka's word count under exactly_once_v2 on three
// brokers; a broker is SIGKILLed while it processes input. Read
// read_committed, every word's counts are 1, 2, … n in order: no count is
// skipped (lost input) or repeated (input counted twice).
func TestJavaLongStreamsEOS(t *testing.T) {
	skipUnlessJavaLong(t)
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	adm := c.replicatedTopic(ctx, "wc-in", 3)
	c.replicatedTopic(ctx, "wc-out", 3)
	bootstrap := strings.Join(c.seeds(), ",")

	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"}
	want := map[string]int{}
	prod := c.client(kgo.DefaultProduceTopic("wc-in"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	batch := func(from, to int) {
		t.Helper()
		var rs []*kgo.Record
		for i := from; i < to; i++ {
			a, b := words[i%len(words)], words[(i*3+1)%len(words)]
			want[a]++
			want[b]++
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(a + " " + b)})
		}
		if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce input: %v", err)
		}
	}

	app := startJavaDriver(t, "streams-wordcount", "--bootstrap", bootstrap, "--input", "wc-in", "--output", "wc-out",
		"--app-id", "wc-app", "--state-dir", t.TempDir(), "--prop", "replication.factor=3")
	app.waitFor("state RUNNING", 3*time.Minute, func(evs []javaEvent) bool {
		for _, e := range evs {
			if e.str("event") == "state" && e.str("state") == "RUNNING" {
				return true
			}
		}
		return false
	})

	out := c.client(kgo.ConsumeTopics("wc-out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	last := map[string]int{}
	readUntil := func(what string) {
		t.Helper()
		deadline := time.Now().Add(4 * time.Minute)
		for {
			done := true
			for w, n := range want {
				if last[w] != n {
					done = false
				}
			}
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: counts %v, want %v\nstreams events:\n%s", what, last, want, tail(fmtEvents(app.snapshot()), 30))
			}
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			fs := out.PollFetches(pctx)
			pcancel()
			fs.EachRecord(func(r *kgo.Record) {
				var n int
				fmt.Sscan(string(r.Value), &n)
				w := string(r.Key)
				if n != last[w]+1 {
					t.Errorf("word %q: count %d follows %d (exactly-once broken)", w, n, last[w])
				}
				last[w] = n
			})
		}
	}
	batch(0, 300)
	readUntil("first batch")

	td, _, err := c.metadata(ctx, adm, "wc-in")
	if err != nil {
		t.Fatal(err)
	}
	victim := td.Partitions[0].Leader
	// The broker dies while Streams is in the middle of the second batch
	// (its transactions open), and more input follows on two brokers.
	batch(300, 1000)
	c.node(victim).b.kill9()
	batch(1000, 1600)
	readUntil("second batch, a broker killed")
	c.node(victim).b.start()
	for _, e := range app.stop() {
		if e.str("event") == "uncaught" {
			t.Logf("streams thread replaced after: %s", e.str("error"))
		}
	}
}

// TestJavaLongConnectFile: a standalone Connect worker with Kafka's file
// source and sink connectors copies a file through a runnel topic.
func TestJavaLongConnectFile(t *testing.T) {
	skipUnlessJavaLong(t)
	b := startBroker(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	var lines []string
	for i := 0; i < 100; i++ {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("in.txt", strings.Join(lines, "\n")+"\n")
	worker := write("worker.properties", fmt.Sprintf(`bootstrap.servers=%s
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
offset.storage.file.filename=%s
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:%d
`, b.addr(), filepath.Join(dir, "offsets"), testenv.FreePort(t)))
	source := write("source.properties", fmt.Sprintf(`name=file-source
connector.class=org.apache.kafka.connect.file.FileStreamSourceConnector
tasks.max=1
file=%s
topic=connect-lines
`, in))
	sink := write("sink.properties", fmt.Sprintf(`name=file-sink
connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector
tasks.max=1
file=%s
topics=connect-lines
`, out))
	stop := startJavaProcess(t, "org.apache.kafka.connect.cli.ConnectStandalone", worker, source, sink)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got, _ := os.ReadFile(out)
		if string(got) == strings.Join(lines, "\n")+"\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink file after 3 min:\n%s\nworker stderr:\n%s", tail(string(got), 10), tail(stop(), 60))
		}
		time.Sleep(500 * time.Millisecond)
	}
	stop()
}

// TestJavaLongMirrorMaker2: MirrorMaker 2 (dedicated mode) replicates a
// topic of one runnel cluster into another as "A.<topic>".
func TestJavaLongMirrorMaker2(t *testing.T) {
	skipUnlessJavaLong(t)
	a, b := startBroker(t, txnBrokerOpts()...), startBroker(t, txnBrokerOpts()...)
	a.createTopic(t, "mm-src", 2)
	franzProduce(t, a, "mm-src", "mm", 50)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mm2.properties")
	rf := ""
	for _, k := range []string{"replication.factor", "checkpoints.topic.replication.factor", "heartbeats.topic.replication.factor",
		"offset-syncs.topic.replication.factor", "offset.storage.replication.factor", "status.storage.replication.factor",
		"config.storage.replication.factor"} {
		rf += k + "=1\n"
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`clusters=A,B
A.bootstrap.servers=%s
B.bootstrap.servers=%s
A->B.enabled=true
A->B.topics=mm-.*
B->A.enabled=false
sync.topic.acls.enabled=false
refresh.topics.interval.seconds=2
emit.heartbeats.interval.seconds=1
%s`, a.addr(), b.addr(), rf)), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := startJavaProcess(t, "org.apache.kafka.connect.mirror.MirrorMaker", cfg, "--clusters", "B")
	// No auto-creation from this consumer's Metadata: MirrorMaker creates
	// A.mm-src with the source's partition count.
	cl := b.franz(t, kgo.ConsumeTopics("A.mm-src"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	keys := map[string]bool{}
	deadline := time.Now().Add(4 * time.Minute)
	for len(keys) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("B has %d of 50 mirrored records after 4 min\nMirrorMaker stderr:\n%s", len(keys), tail(stop(), 60))
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) { keys[string(r.Key)] = true })
	}
	t.Logf("MirrorMaker stderr:\n%s", stop())
}

// startJavaProcess starts a long-running main class (a Connect worker,
// MirrorMaker) and returns a function that stops it with SIGTERM, waits
// for it, and returns its stderr. It is also stopped at cleanup.
func startJavaProcess(t *testing.T, mainClass string, args ...string) func() string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := javaCommand(ctx, t, mainClass, args...)
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				cancel()
				<-done
			}
			cancel()
		}
		return stderr.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}
