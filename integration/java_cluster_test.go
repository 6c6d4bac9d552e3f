package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestJavaCluster: Kafka's Java client and tools against three runnel
// brokers on a real etcd. The Java producer (acks=all, idempotent) keeps
// every acknowledged record across a SIGKILL of a partition leader; a
// KIP-848 Java consumer group reads them all; after the broker returns,
// kafka-leader-election moves leadership back to the preferred replicas
// and kafka-reassign-partitions moves a replica between brokers.
func TestJavaCluster(t *testing.T) {
	javaClasspath(t)
	c := startCluster(t, 3)
	bootstrap := strings.Join(c.seeds(), ",")
	bs := []string{"--bootstrap-server", bootstrap}
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	const topic = "java-cluster"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	out := kafkaTool(t, "", toolTopics, args("--create", "--topic", topic, "--partitions", "3",
		"--replication-factor", "3", "--config", "min.insync.replicas=2")...)
	mustContain(t, "kafka-topics --create", out, `Created topic java-cluster\.`)
	adm := kadm.NewClient(c.client(kgo.MetadataMinAge(100 * time.Millisecond)))
	c.waitFullISR(ctx, adm, topic)

	type at struct {
		p   int64
		off int64
	}
	sent := map[at]string{}
	produce := func(codecs string) {
		t.Helper()
		for _, e := range javaDriver(t, 4*time.Minute, "produce", "--bootstrap", bootstrap, "--topic", topic,
			"--codecs", codecs, "--count", "50", "--prop", "delivery.timeout.ms=120000") {
			switch e.str("event") {
			case "send-error":
				t.Fatalf("java send %s/%s: %s", e.str("codec"), e.str("key"), e.str("error"))
			case "sent":
				sent[at{e.num("partition"), e.num("offset")}] = e.str("codec") + "/" + e.str("key")
			}
		}
	}
	consume := func(n int) {
		t.Helper()
		evs := javaDriver(t, 3*time.Minute, "consume", "--bootstrap", bootstrap, "--topics", topic, "--group", "java-cluster-g",
			"--prop", "group.protocol=consumer", "--expect", fmt.Sprint(n))
		got := 0
		for _, e := range evs {
			if e.str("event") != "record" {
				continue
			}
			got++
			hs, _ := e["headers"].(map[string]any)
			pos := at{e.num("partition"), e.num("offset")}
			want, ok := sent[pos]
			if have := fmt.Sprint(hs["codec"]) + "/" + e.str("key"); !ok || have != want {
				t.Errorf("record at %v is %s, acknowledged there: %q", pos, have, want)
			}
			delete(sent, pos) // read once: a second read means offsets went back
		}
		if got != n {
			t.Errorf("java consumer read %d records, want %d", got, n)
		}
	}

	// The group is used (and __consumer_offsets created, with
	// offsets.topic.replication.factor=3) while all three brokers run: as
	// in Kafka, the offsets topic cannot be created with fewer live
	// brokers than its replication factor.
	produce("none,lz4")
	consume(100)

	td, _, err := c.metadata(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	victim := td.Partitions[0].Leader
	c.node(victim).b.kill9()
	produce("zstd")
	if len(sent) != 50 {
		t.Fatalf("%d new positions acknowledged, want 50", len(sent))
	}
	// The same group resumes from its committed offsets on the surviving
	// brokers (its coordinator may have moved) and reads only the new 50.
	consume(50)

	// The killed broker returns, catches up, and a preferred election
	// gives every partition back to the first replica of its list.
	c.node(victim).b.start()
	c.waitFullISR(ctx, adm, topic)
	kafkaTool(t, "", toolLeaderElection, args("--election-type", "preferred", "--all-topic-partitions")...)
	line := regexp.MustCompile(`(?m)^\s*Topic: java-cluster\tPartition: (\d+)\tLeader: (\d+)\tReplicas: ([\d,]+)\tIsr: ([\d,]+)`)
	for try := 0; ; try++ {
		out = kafkaTool(t, "", toolTopics, args("--describe", "--topic", topic)...)
		m := line.FindAllStringSubmatch(out, -1)
		preferred := len(m) == 3
		for _, r := range m {
			if strings.Split(r[3], ",")[0] != r[2] {
				preferred = false
			}
		}
		if preferred {
			break
		}
		if try == 20 {
			t.Fatalf("leaders are not the preferred replicas after kafka-leader-election:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// kafka-reassign-partitions moves the one replica of a topic to
	// another broker and --verify reports it done.
	kafkaTool(t, "", toolTopics, args("--create", "--topic", "java-move", "--partitions", "1", "--replication-factor", "1")...)
	mv, _, err := c.metadata(ctx, adm, "java-move")
	if err != nil {
		t.Fatal(err)
	}
	from := mv.Partitions[0].Leader
	to := from%3 + 1
	plan := filepath.Join(t.TempDir(), "plan.json")
	js := fmt.Sprintf(`{"version":1,"partitions":[{"topic":"java-move","partition":0,"replicas":[%d]}]}`, to)
	if err := os.WriteFile(plan, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	out = kafkaTool(t, "", toolReassign, args("--reassignment-json-file", plan, "--execute")...)
	mustContain(t, "kafka-reassign-partitions --execute", out, `Successfully started partition reassignment for java-move-0`)
	for try := 0; ; try++ {
		out = kafkaTool(t, "", toolReassign, args("--reassignment-json-file", plan, "--verify")...)
		if strings.Contains(out, "Reassignment of partition java-move-0 is completed.") {
			break
		}
		if try == 30 {
			t.Fatalf("reassignment not completed:\n%s", out)
		}
		time.Sleep(time.Second)
	}
	out = kafkaTool(t, "", toolTopics, args("--describe", "--topic", "java-move")...)
	mustContain(t, "kafka-topics --describe after reassignment", out,
		fmt.Sprintf(`Partition: 0\tLeader: %d\tReplicas: %d\tIsr: %d`, to, to, to))
}
