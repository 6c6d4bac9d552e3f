package integration

import (
	"strings"
	"testing"
)

// TestOffsetCommitUnknownTopicLibrdkafka: librdkafka committing offsets for
// a topic that does not exist gets UNKNOWN_TOPIC_OR_PARTITION for that
// partition, as from Kafka, while the existing topic's offset is
// committed.
func TestOffsetCommitUnknownTopicLibrdkafka(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "committed", 1)
	out := python(t, "librdkafka_commit_unknown.py", b.addr(), "committed")
	if !strings.Contains(out, "UNKNOWN_TOPIC_OR_PART") {
		t.Fatalf("librdkafka printed %q, want UNKNOWN_TOPIC_OR_PART for no-such-topic", out)
	}
	offsets, err := b.admin(t).FetchOffsets(t.Context(), "librdkafka-commit-unknown")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offsets.Lookup("committed", 0); !ok || o.At != 5 {
		t.Errorf("committed/0: %+v %v, want offset 5", o, ok)
	}
	t.Logf("librdkafka: %s", strings.TrimSpace(out))
}
