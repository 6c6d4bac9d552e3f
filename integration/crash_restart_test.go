package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// takeoverLine is what a broker logs when it takes over the registration
// its dead predecessor on the same log dir left behind.
const takeoverLine = "took over the registration of this log dir's previous process"

// TestKill9RestartServesAtOnce: a single node is killed with SIGKILL and
// started again on the same log dir, twice. Right after each restart
// franz-go and kcat produce to it; every record acknowledged before and
// after the crashes is then read back by both clients, once, in order.
// Each restarted process takes over its dead predecessor's registration
// (it says so) rather than waiting for the lease to expire; the time from
// the restart to the first Metadata answer is logged.
func TestKill9RestartServesAtOnce(t *testing.T) {
	const topic = "crash-restart"
	b := startBroker(t)
	b.createTopic(t, topic, 1)

	var want []string // values in offset order
	add := func(recs map[int32][]record) {
		for _, r := range recs[0] {
			if int(r.offset) != len(want) {
				t.Fatalf("franz-go record %q acknowledged at offset %d, want %d", r.value, r.offset, len(want))
			}
			want = append(want, r.value)
		}
	}
	kcatProduce := func(prefix string, n int) {
		var lines []string
		for i := range n {
			lines = append(lines, fmt.Sprintf("%s-%d", prefix, i))
		}
		kcat(t, strings.Join(lines, "\n")+"\n", "-P", "-b", b.addr(), "-t", topic, "-X", "acks=all")
		want = append(want, lines...)
	}

	add(produceFranz(t, b, topic, 50, "none"))
	kcatProduce("kcat-before", 5)
	for round := range 2 {
		b.kill9()
		logBefore := len(b.logs())
		start := time.Now()
		b.start() // returns once Metadata answers
		t.Logf("round %d: ready %v after the restart began", round, time.Since(start).Round(time.Millisecond))
		if !strings.Contains(b.logs()[logBefore:], takeoverLine) {
			t.Errorf("round %d: the restarted broker did not take over its predecessor's registration\n%s", round, tail(b.logs()[logBefore:], 40))
		}
		add(produceFranz(t, b, topic, 20, "none"))
		kcatProduce(fmt.Sprintf("kcat-after-%d", round), 5)
	}

	got := consumeFranz(t, b, topic, len(want))
	if len(got[0]) != len(want) {
		t.Fatalf("franz-go read %d records, want %d", len(got[0]), len(want))
	}
	for i, r := range got[0] {
		if r.offset != int64(i) || r.value != want[i] {
			t.Fatalf("franz-go record %d: offset %d value %q, want %q", i, r.offset, r.value, want[i])
		}
	}
	out := kcat(t, "", "-C", "-b", b.addr(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o:%s\n")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("kcat read %d records, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		if l != fmt.Sprintf("%d:%s", i, want[i]) {
			t.Fatalf("kcat record %d: %q, want %d:%s", i, l, i, want[i])
		}
	}
}
