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

// TestJavaGapClientQuotas: kafka-configs --entity-type clients/users sets
// and describes quotas with AlterClientQuotas (49) and
// DescribeClientQuotas (48). Runnel does not serve either, so the tool
// fails with "The node does not support DESCRIBE_CLIENT_QUOTAS" — and so
// does `kafka-configs --entity-type users --describe`, which lists SCRAM
// users and their quotas together.
func TestJavaGapClientQuotas(t *testing.T) {
	skipUnlessJavaGaps(t, "Runnel serves no DescribeClientQuotas/AlterClientQuotas (API keys 48, 49)")
	b := startBroker(t)
	bs := []string{"--bootstrap-server", b.addr()}
	out := kafkaTool(t, "", toolConfigs, append(bs, "--entity-type", "clients", "--entity-name", "c1",
		"--alter", "--add-config", "producer_byte_rate=1024")...)
	mustContain(t, "kafka-configs --alter clients", out, `Completed updating config for client c1\.`)
	out = kafkaTool(t, "", toolConfigs, append(bs, "--entity-type", "clients", "--entity-name", "c1", "--describe")...)
	mustContain(t, "kafka-configs --describe clients", out, `producer_byte_rate=1024`)
	kafkaTool(t, "", toolConfigs, append(bs, "--entity-type", "users", "--entity-name", "alice",
		"--alter", "--add-config", "SCRAM-SHA-256=[iterations=4096,password=alice-secret]")...)
	out = kafkaTool(t, "", toolConfigs, append(bs, "--entity-type", "users", "--entity-name", "alice", "--describe")...)
	mustContain(t, "kafka-configs --describe users", out, `SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096`)
}
