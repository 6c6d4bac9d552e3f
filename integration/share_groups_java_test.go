package integration

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Kafka's own share-group software against Runnel: kafka-console-share-
// consumer (Kafka's KafkaShareConsumer behind a command line) and
// kafka-share-groups.
const (
	toolConsoleShareConsume = "org.apache.kafka.tools.consumer.ConsoleShareConsumer"    // kafka-console-share-consumer.sh
	toolShareGroups         = "org.apache.kafka.tools.consumer.group.ShareGroupCommand" // kafka-share-groups.sh
)

// shareConsole runs one kafka-console-share-consumer until it has been
// idle for idle, and returns the values it printed, one per line, with
// "delivery:<n>" before each value when withDelivery.
func shareConsole(t *testing.T, b *broker, group, topic string, idle time.Duration, extra ...string) []string {
	t.Helper()
	args := append([]string{"--bootstrap-server", b.addr(), "--topic", topic, "--group", group,
		"--timeout-ms", strconv.Itoa(int(idle / time.Millisecond))}, extra...)
	res := runJava(t, 3*time.Minute, "", toolConsoleShareConsume, args...)
	// The console consumer exits 0 after its idle timeout; anything else
	// is a failure.
	if res.exitCode != 0 {
		t.Fatalf("console share consumer: exit %d\nstdout:\n%s\nstderr:\n%s", res.exitCode, tail(res.stdout, 20), tail(res.stderr, 40))
	}
	var out []string
	for _, l := range strings.Split(res.stdout, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Processed a total") {
			out = append(out, l)
		}
	}
	return out
}

// TestShareGroupJavaTools: three KafkaShareConsumers (kafka-console-share-
// consumer) share one partition and together print every record once;
// with --release every record comes back until the delivery-count limit
// (5) and never after; with --reject every record is delivered once and
// archived; kafka-share-groups lists and describes the group, deletes its
// offsets and deletes it; kadm resets its start offset in between (then the
// records are delivered again).
func TestShareGroupJavaTools(t *testing.T) {
	b := shareBroker(t)
	const topic, n = "share-java", 1000
	b.createTopic(t, topic, 1)
	produceN(t, b, topic, 0, n)
	for _, g := range []string{"jg", "jg-release", "jg-reject"} {
		setGroupConfig(t, b, g, "share.auto.offset.reset", "earliest")
	}

	// Three consumers at once.
	var mu sync.Mutex
	var all []string
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := shareConsole(t, b, "jg", topic, 10*time.Second, "--consumer-property", "max.poll.records=5")
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
			t.Logf("consumer %d printed %d records", i, len(got))
		}()
	}
	wg.Wait()
	checkEach(t, all, n, 1)

	// --release: each record delivered exactly delivery.count.limit times.
	released := shareConsole(t, b, "jg-release", topic, 8*time.Second, "--release", "--property", "print.delivery=true")
	var values []string
	for _, l := range released {
		// "Delivery count: 3\t<value>" or similar: the value is the last field.
		f := strings.Fields(l)
		values = append(values, f[len(f)-1])
	}
	checkEach(t, values, n, 5)

	// --reject: once each, then nothing for a plain consumer either.
	checkEach(t, shareConsole(t, b, "jg-reject", topic, 6*time.Second, "--reject"), n, 1)
	if got := shareConsole(t, b, "jg-reject", topic, 4*time.Second); len(got) != 0 {
		t.Fatalf("rejected records delivered again: %d", len(got))
	}

	// kafka-share-groups.
	out := kafkaTool(t, "", toolShareGroups, "--bootstrap-server", b.addr(), "--list")
	for _, g := range []string{"jg", "jg-release", "jg-reject"} {
		if !strings.Contains(out, g) {
			t.Fatalf("--list does not show %s:\n%s", g, out)
		}
	}
	out = kafkaTool(t, "", toolShareGroups, "--bootstrap-server", b.addr(), "--describe", "--group", "jg", "--offsets")
	if !strings.Contains(out, topic) || !strings.Contains(out, strconv.Itoa(n)) {
		t.Fatalf("--describe --offsets:\n%s", out)
	}
	t.Logf("kafka-share-groups --describe --offsets:\n%s", out)
	out = kafkaTool(t, "", toolShareGroups, "--bootstrap-server", b.addr(), "--describe", "--group", "jg", "--state")
	if !strings.Contains(out, "Empty") {
		t.Fatalf("--describe --state:\n%s", out)
	}
	// Kafka 4.1's kafka-share-groups has no --reset-offsets yet ("not yet
	// implemented"): franz-go's kadm resets the start offset instead.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reset := kadm.Offsets{}
	reset.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0})
	if rs, err := b.admin(t).AlterShareGroupOffsets(ctx, "jg", reset); err != nil || rs.Error() != nil {
		t.Fatalf("AlterShareGroupOffsets: %v %v", err, rs)
	}
	checkEach(t, shareConsole(t, b, "jg", topic, 6*time.Second), n, 1)
	kafkaTool(t, "", toolShareGroups, "--bootstrap-server", b.addr(), "--delete-offsets", "--group", "jg", "--topic", topic)
	kafkaTool(t, "", toolShareGroups, "--bootstrap-server", b.addr(), "--delete", "--group", "jg")
	out = kafkaTool(t, "", toolShareGroups, "--bootstrap-server", b.addr(), "--list")
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "jg" {
			t.Fatalf("deleted group still listed:\n%s", out)
		}
	}
}

// checkEach fails unless values are "0".."n-1", each exactly times times.
func checkEach(t *testing.T, values []string, n, times int) {
	t.Helper()
	count := map[string]int{}
	for _, v := range values {
		count[v]++
	}
	var bad []string
	for i := 0; i < n; i++ {
		if c := count[strconv.Itoa(i)]; c != times {
			bad = append(bad, strconv.Itoa(i)+"×"+strconv.Itoa(c))
		}
		delete(count, strconv.Itoa(i))
	}
	for v := range count {
		bad = append(bad, "unexpected "+v)
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], "…")
		}
		t.Fatalf("%d records, want %d each %d times; off: %v", len(values), n, times, bad)
	}
}
