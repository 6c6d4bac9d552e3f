package integration

import (
	"os"
	"testing"
)

// Places where Kafka's own tools found Runnel answering differently from
// Kafka, whose fix lies in files other engineers own (broker handlers, the
// API table, config). Each test states Kafka's behaviour and fails today;
// they stay out of `make test` until the fix lands, and run with
// RUNNEL_JAVA_GAPS=1. When a fix lands, move its test into
// kafka_tools_test.go.

func skipUnlessJavaGaps(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("RUNNEL_JAVA_GAPS") != "1" {
		t.Skipf("known gap, not in the default run (RUNNEL_JAVA_GAPS=1 runs it): %s", why)
	}
	javaClasspath(t)
}

// TestJavaGapGroupConfigs: Kafka 4.x has dynamic group configs (KIP-848,
// resource type GROUP = 32): kafka-configs --entity-type groups alters
// them with IncrementalAlterConfigs and, from 4.1, finds groups with
// ListConfigResources (74, KIP-1142). Runnel answers the alter with
// INVALID_REQUEST "Unsupported resource type: GROUP_CONFIG" and does not
// serve ListConfigResources.
func TestJavaGapGroupConfigs(t *testing.T) {
	skipUnlessJavaGaps(t, "Runnel rejects config resource type GROUP and serves no ListConfigResources (API key 74)")
	b := startBroker(t)
	bs := []string{"--bootstrap-server", b.addr()}
	kafkaTool(t, "", toolConfigs, append(bs, "--entity-type", "groups", "--entity-name", "g1",
		"--alter", "--add-config", "consumer.session.timeout.ms=50000")...)
	out := kafkaTool(t, "", toolConfigs, append(bs, "--entity-type", "groups", "--entity-name", "g1", "--describe")...)
	mustContain(t, "kafka-configs --describe groups", out, `consumer\.session\.timeout\.ms=50000`)
}
