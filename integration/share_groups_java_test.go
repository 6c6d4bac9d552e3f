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

// shareConsole runs one kafka-console-share-consumer until it has
// printed maxMessages values (when > 0) or has been idle for idle, and
// returns the lines it printed (one per record).
//
// The tool's idle timeout ends a poll that returned nothing after at least
// idle, so a consumer that waits for it lingers idle to 2×idle after its
// last record (a poll that returns at exactly idle is followed by another):
// a run that knows how many records it wants stops at maxMessages instead,
// and then idle is only a bound.
func shareConsole(t *testing.T, b *broker, group, topic string, idle time.Duration, maxMessages int, extra ...string) []string {
	t.Helper()
	args := append([]string{"--bootstrap-server", b.addr(), "--topic", topic, "--group", group,
		"--timeout-ms", strconv.Itoa(int(idle / time.Millisecond))}, extra...)
	if maxMessages > 0 {
		args = append(args, "--max-messages", strconv.Itoa(maxMessages))
	}
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

// checkFinished fails unless every record of group's share-partition 0 of
// topic is finished (acknowledged or archived): its start offset is n and
// there is no lag, so no record can be delivered again.
func checkFinished(t *testing.T, b *broker, group, topic string, n int) {
	t.Helper()
	if start, lag := shareStartOffset(t, b, group, topic); start != int64(n) || lag != 0 {
		t.Fatalf("group %s: share-partition start offset %d lag %d, want %d and 0", group, start, lag, n)
	}
}

// TestShareGroupJavaTools: three KafkaShareConsumers (kafka-console-share-
// consumer) share one partition and together print every record once;
// with --release every record comes back until the delivery-count limit
// (5) and never after; with --reject every record is delivered once and
// archived; kafka-share-groups lists and describes the group, deletes its
// offsets and deletes it; kadm resets its start offset in between (then the
// records are delivered again).
//
// A run that knows how many records it must print stops there
// (--max-messages) rather than at an idle timeout; that nothing comes after
// is checked on the share-partition's state (every record finished) and,
// for --reject, by a plain consumer that waits out an idle timeout while
// kafka-share-groups runs. The single consumers go first: the first JVM
// of the console consumer writes its class-data archive, so the three
// that start at once (and must join and fetch within their idle timeout)
// start from it.
func TestShareGroupJavaTools(t *testing.T) {
	b := shareBroker(t)
	const topic, n = "share-java", 1000
	b.createTopic(t, topic, 1)
	produceN(t, b, topic, 0, n)
	for _, g := range []string{"jg", "jg-release", "jg-reject"} {
		setGroupConfig(t, b, g, "share.auto.offset.reset", "earliest")
	}

	// --reject: once each, then archived.
	checkEach(t, shareConsole(t, b, "jg-reject", topic, 30*time.Second, n, "--reject"), n, 1)
	checkFinished(t, b, "jg-reject", topic, n)

	// --release: each record delivered exactly delivery.count.limit times,
	// then archived.
	released := shareConsole(t, b, "jg-release", topic, 30*time.Second, 5*n, "--release", "--property", "print.delivery=true")
	var values []string
	for _, l := range released {
		// "Delivery count: 3\t<value>" or similar: the value is the last field.
		f := strings.Fields(l)
		values = append(values, f[len(f)-1])
	}
	checkEach(t, values, n, 5)
	checkFinished(t, b, "jg-release", topic, n)

	// Three consumers at once, until each has been idle for 6 s (up to
	// 12 s: see shareConsole). They start from the class-data archive and
	// join and fetch within a second or two (the idle timeout's first poll
	// covers the join), and then take their records without a pause.
	var mu sync.Mutex
	var all []string
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := shareConsole(t, b, "jg", topic, 6*time.Second, 0, "--consumer-property", "max.poll.records=5")
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
			t.Logf("consumer %d printed %d records", i, len(got))
		}()
	}
	wg.Wait()
	checkEach(t, all, n, 1)

	// Nothing for a plain consumer of jg-reject either, while
	// kafka-share-groups runs.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if got := shareConsole(t, b, "jg-reject", topic, 4*time.Second, 0); len(got) != 0 {
			t.Errorf("rejected records delivered again: %d", len(got))
		}
	}()
	defer wg.Wait()
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
	wg.Wait()
	// Kafka 4.1's kafka-share-groups has no --reset-offsets yet ("not yet
	// implemented"): franz-go's kadm resets the start offset instead.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reset := kadm.Offsets{}
	reset.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0})
	if rs, err := b.admin(t).AlterShareGroupOffsets(ctx, "jg", reset); err != nil || rs.Error() != nil {
		t.Fatalf("AlterShareGroupOffsets: %v %v", err, rs)
	}
	checkEach(t, shareConsole(t, b, "jg", topic, 30*time.Second, n), n, 1)
	checkFinished(t, b, "jg", topic, n)
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
