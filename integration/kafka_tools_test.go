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

// Kafka's command-line tools, run as their scripts run them (bin/kafka-X.sh
// is `kafka-run-class.sh <main class> "$@"`), with the arguments a user
// types, against one runnel process. Each step checks what the tool
// printed for a person.

const (
	toolTopics         = "org.apache.kafka.tools.TopicCommand"                        // kafka-topics.sh
	toolConsoleProduce = "org.apache.kafka.tools.ConsoleProducer"                     // kafka-console-producer.sh
	toolConsoleConsume = "org.apache.kafka.tools.consumer.ConsoleConsumer"            // kafka-console-consumer.sh
	toolGroups         = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand" // kafka-consumer-groups.sh
	toolConfigs        = "kafka.admin.ConfigCommand"                                  // kafka-configs.sh
	toolGetOffsets     = "org.apache.kafka.tools.GetOffsetShell"                      // kafka-get-offsets.sh
	toolDeleteRecords  = "org.apache.kafka.tools.DeleteRecordsCommand"                // kafka-delete-records.sh
	toolTransactions   = "org.apache.kafka.tools.TransactionsCommand"                 // kafka-transactions.sh
	toolLogDirs        = "org.apache.kafka.tools.LogDirsCommand"                      // kafka-log-dirs.sh
	toolLeaderElection = "org.apache.kafka.tools.LeaderElectionCommand"               // kafka-leader-election.sh
	toolReassign       = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"  // kafka-reassign-partitions.sh
	toolAPIVersions    = "org.apache.kafka.tools.BrokerApiVersionsCommand"            // kafka-broker-api-versions.sh
	toolCluster        = "org.apache.kafka.tools.ClusterTool"                         // kafka-cluster.sh
	toolProducerPerf   = "org.apache.kafka.tools.ProducerPerformance"                 // kafka-producer-perf-test.sh
	toolConsumerPerf   = "org.apache.kafka.tools.ConsumerPerformance"                 // kafka-consumer-perf-test.sh
)

// mustContain fails the test unless out matches every regular expression.
func mustContain(t *testing.T, tool string, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("%s: output lacks /%s/:\n%s", tool, re, out)
		}
	}
}

// groupLag sums the LAG column of `kafka-consumer-groups --describe`.
func groupLag(t *testing.T, out string) (lag int64, rows int) {
	t.Helper()
	lagCol := -1
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "GROUP" {
			for i, c := range f {
				if c == "LAG" {
					lagCol = i
				}
			}
			continue
		}
		if lagCol < 0 || len(f) <= lagCol {
			continue
		}
		var n int64
		if _, err := fmt.Sscan(f[lagCol], &n); err != nil {
			t.Errorf("LAG column %q in %q", f[lagCol], line)
			continue
		}
		lag += n
		rows++
	}
	return lag, rows
}

func TestKafkaTools(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t, txnBrokerOpts()...)
	bs := []string{"--bootstrap-server", b.addr()}
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	const topic, group = "tools-t", "tools-g"

	t.Run("kafka-topics", func(t *testing.T) {
		out := kafkaTool(t, "", toolTopics, args("--create", "--topic", topic, "--partitions", "3",
			"--replication-factor", "1", "--config", "retention.ms=86400000")...)
		mustContain(t, "kafka-topics --create", out, `Created topic tools-t\.`)
		out = kafkaTool(t, "", toolTopics, args("--list")...)
		mustContain(t, "kafka-topics --list", out, `(?m)^tools-t$`)
		out = kafkaTool(t, "", toolTopics, args("--alter", "--topic", topic, "--partitions", "4")...)
		out = kafkaTool(t, "", toolTopics, args("--describe", "--topic", topic)...)
		mustContain(t, "kafka-topics --describe", out,
			`Topic: tools-t\tTopicId: \S+\tPartitionCount: 4\tReplicationFactor: 1\tConfigs: .*retention\.ms=86400000`,
			`(?m)^\tTopic: tools-t\tPartition: 3\tLeader: 1\tReplicas: 1\tIsr: 1`)
	})

	t.Run("kafka-configs", func(t *testing.T) {
		kafkaTool(t, "", toolConfigs, args("--entity-type", "topics", "--entity-name", topic,
			"--alter", "--add-config", "retention.ms=1000000,cleanup.policy=[compact,delete]")...)
		out := kafkaTool(t, "", toolConfigs, args("--entity-type", "topics", "--entity-name", topic, "--describe")...)
		mustContain(t, "kafka-configs --describe topic", out,
			`Dynamic configs for topic tools-t are:`, `retention\.ms=1000000 `, `cleanup\.policy=compact,delete `)
		kafkaTool(t, "", toolConfigs, args("--entity-type", "topics", "--entity-name", topic,
			"--alter", "--delete-config", "cleanup.policy")...)
		out = kafkaTool(t, "", toolConfigs, args("--entity-type", "topics", "--entity-name", topic, "--describe", "--all")...)
		mustContain(t, "kafka-configs --describe --all topic", out, `cleanup\.policy=delete `, `retention\.ms=1000000 `)
		out = kafkaTool(t, "", toolConfigs, args("--entity-type", "brokers", "--entity-name", "1", "--describe", "--all")...)
		mustContain(t, "kafka-configs --describe --all broker", out, `All configs for broker 1 are:`, `log\.retention\.hours=168 `)
		// Dynamic broker configs, cluster default and per broker, with
		// their synonyms in precedence order.
		kafkaTool(t, "", toolConfigs, args("--entity-type", "brokers", "--entity-default", "--alter", "--add-config", "log.cleaner.threads=2")...)
		kafkaTool(t, "", toolConfigs, args("--entity-type", "brokers", "--entity-name", "1", "--alter", "--add-config", "log.cleaner.threads=3")...)
		out = kafkaTool(t, "", toolConfigs, args("--entity-type", "brokers", "--entity-name", "1", "--describe")...)
		mustContain(t, "kafka-configs --describe broker 1", out,
			`log\.cleaner\.threads=3 sensitive=false synonyms=\{DYNAMIC_BROKER_CONFIG:log\.cleaner\.threads=3, DYNAMIC_DEFAULT_BROKER_CONFIG:log\.cleaner\.threads=2, DEFAULT_CONFIG:log\.cleaner\.threads=1\}`)
		// SCRAM credentials (AlterUserScramCredentials).
		out = kafkaTool(t, "", toolConfigs, args("--entity-type", "users", "--entity-name", "alice",
			"--alter", "--add-config", "SCRAM-SHA-256=[iterations=4096,password=alice-secret]")...)
		mustContain(t, "kafka-configs --alter users SCRAM", out, `Completed updating config for user alice\.`)
	})

	// Group configs (config resource GROUP, KIP-848): the tool alters them
	// with IncrementalAlterConfigs and, in 4.1, finds groups that have
	// configs but no members with ListConfigResources (KIP-1142).
	t.Run("kafka-configs-groups", func(t *testing.T) {
		out := kafkaTool(t, "", toolConfigs, args("--entity-type", "groups", "--entity-name", "cfg-g1",
			"--alter", "--add-config", "consumer.session.timeout.ms=50000,consumer.heartbeat.interval.ms=6000")...)
		mustContain(t, "kafka-configs --alter groups", out, `Completed updating config for group cfg-g1\.`)
		out = kafkaTool(t, "", toolConfigs, args("--entity-type", "groups", "--entity-name", "cfg-g1", "--describe")...)
		mustContain(t, "kafka-configs --describe groups", out, `Dynamic configs for group cfg-g1 are:`,
			`consumer\.session\.timeout\.ms=50000 sensitive=false synonyms=\{DYNAMIC_GROUP_CONFIG:consumer\.session\.timeout\.ms=50000\}`,
			`consumer\.heartbeat\.interval\.ms=6000 `)
		out = kafkaTool(t, "", toolConfigs, args("--entity-type", "groups", "--entity-name", "cfg-g1", "--describe", "--all")...)
		mustContain(t, "kafka-configs --describe --all groups", out, `All configs for group cfg-g1 are:`,
			`share\.auto\.offset\.reset=latest sensitive=false synonyms=\{DEFAULT_CONFIG:share\.auto\.offset\.reset=latest\}`,
			`streams\.num\.standby\.replicas=0 `)
		// Without a name: every group, from ListGroups and ListConfigResources.
		out = kafkaTool(t, "", toolConfigs, args("--entity-type", "groups", "--describe")...)
		mustContain(t, "kafka-configs --describe groups (all)", out, `Dynamic configs for group cfg-g1 are:`)
		out = kafkaTool(t, "", toolConfigs, args("--entity-type", "groups", "--entity-name", "cfg-none", "--describe")...)
		mustContain(t, "kafka-configs --describe unknown group", out, `The group 'cfg-none' doesn't exist and doesn't have dynamic config\.`)
		// Outside the broker's bounds: Kafka's error and message.
		res := runJava(t, 90*time.Second, "", toolConfigs, args("--entity-type", "groups", "--entity-name", "cfg-g1",
			"--alter", "--add-config", "consumer.session.timeout.ms=70000")...)
		if res.exitCode == 0 || !strings.Contains(res.stderr+res.stdout,
			"InvalidConfigurationException: consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms") {
			t.Fatalf("out of bounds: exit %d\n%s\n%s", res.exitCode, res.stdout, tail(res.stderr, 20))
		}
	})

	var lines []string
	for i := 0; i < 8; i++ {
		lines = append(lines, fmt.Sprintf("h1:a%d,h2:b\tk%d\tv%d", i, i, i))
	}
	t.Run("kafka-console-producer", func(t *testing.T) {
		kafkaTool(t, strings.Join(lines, "\n")+"\n", toolConsoleProduce, args("--topic", topic,
			"--property", "parse.key=true", "--property", "parse.headers=true", "--producer-property", "acks=all")...)
		// franz-go sees the keys, values and headers the tool parsed.
		recs := franzReadAll(t, b, topic, 8)
		for _, r := range recs {
			var i int
			if _, err := fmt.Sscanf(string(r.Key), "k%d", &i); err != nil {
				t.Fatalf("key %q", r.Key)
			}
			if h := headerMap(r); string(r.Value) != fmt.Sprintf("v%d", i) || h["h1"] != fmt.Sprintf("a%d", i) || h["h2"] != "b" {
				t.Errorf("record %q: value %q headers %v", r.Key, r.Value, h)
			}
		}
	})

	t.Run("kafka-console-consumer", func(t *testing.T) {
		out := kafkaTool(t, "", toolConsoleConsume, args("--topic", topic, "--from-beginning", "--group", group,
			"--max-messages", "8", "--timeout-ms", "60000",
			"--property", "print.key=true", "--property", "print.headers=true")...)
		for _, l := range lines {
			if !strings.Contains(out, l+"\n") {
				t.Errorf("console consumer did not print %q:\n%s", l, out)
			}
		}
	})

	t.Run("kafka-consumer-groups", func(t *testing.T) {
		out := kafkaTool(t, "", toolGroups, args("--list")...)
		mustContain(t, "kafka-consumer-groups --list", out, `(?m)^tools-g$`)
		out = kafkaTool(t, "", toolGroups, args("--describe", "--group", group)...)
		if lag, rows := groupLag(t, out); lag != 0 || rows != 4 {
			t.Errorf("describe after reading everything: lag %d over %d partitions, want 0 over 4:\n%s", lag, rows, out)
		}
		franzProduce(t, b, topic, "more", 5)
		out = kafkaTool(t, "", toolGroups, args("--describe", "--group", group)...)
		if lag, _ := groupLag(t, out); lag != 5 {
			t.Errorf("describe after 5 more records: lag %d, want 5:\n%s", lag, out)
		}
		out = kafkaTool(t, "", toolGroups, args("--describe", "--group", group, "--state")...)
		// An empty classic group has no protocol (Kafka clears it when the
		// last member leaves): the tool prints "-".
		mustContain(t, "kafka-consumer-groups --describe --state", out, `tools-g\s+\S+\s+\(1\)\s+-\s+Empty\s+0`)
		out = kafkaTool(t, "", toolGroups, args("--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")...)
		mustContain(t, "kafka-consumer-groups --reset-offsets", out, `tools-g\s+tools-t\s+\d\s+0`)
		out = kafkaTool(t, "", toolGroups, args("--describe", "--group", group)...)
		if lag, _ := groupLag(t, out); lag != 13 {
			t.Errorf("describe after reset to earliest: lag %d, want 13:\n%s", lag, out)
		}
		out = kafkaTool(t, "", toolGroups, args("--reset-offsets", "--group", group, "--topic", topic+":0", "--to-offset", "1", "--dry-run")...)
		mustContain(t, "kafka-consumer-groups --reset-offsets --dry-run", out, `tools-g\s+tools-t\s+0\s+1`)
		out = kafkaTool(t, "", toolGroups, args("--delete", "--group", group)...)
		mustContain(t, "kafka-consumer-groups --delete", out, `Deletion of requested consumer groups \('tools-g'\) was successful`)
		out = kafkaTool(t, "", toolGroups, args("--list")...)
		if strings.Contains(out, group) {
			t.Errorf("group still listed after --delete:\n%s", out)
		}
	})

	t.Run("kafka-get-offsets", func(t *testing.T) {
		out := kafkaTool(t, "", toolGetOffsets, args("--topic", topic)...)
		var total int64
		for _, l := range strings.Fields(out) {
			var p int
			var off int64
			if _, err := fmt.Sscanf(l, "tools-t:%d:%d", &p, &off); err == nil {
				total += off
			}
		}
		if total != 13 {
			t.Errorf("kafka-get-offsets: end offsets sum to %d, want 13:\n%s", total, out)
		}
		out = kafkaTool(t, "", toolGetOffsets, args("--topic", topic, "--time", "-2")...)
		mustContain(t, "kafka-get-offsets --time -2", out, `(?m)^tools-t:0:0$`, `(?m)^tools-t:3:0$`)
	})

	t.Run("kafka-delete-records", func(t *testing.T) {
		// Partition 0's end offset, from kafka-get-offsets, to delete below.
		out := kafkaTool(t, "", toolGetOffsets, args("--topic", topic, "--partitions", "0")...)
		var end int64
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "tools-t:0:%d", &end); err != nil || end < 1 {
			t.Fatalf("kafka-get-offsets partition 0: %q", out)
		}
		f := filepath.Join(t.TempDir(), "delete.json")
		js := fmt.Sprintf(`{"partitions":[{"topic":"tools-t","partition":0,"offset":%d}],"version":1}`, end)
		if err := os.WriteFile(f, []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		out = kafkaTool(t, "", toolDeleteRecords, args("--offset-json-file", f)...)
		mustContain(t, "kafka-delete-records", out, fmt.Sprintf(`partition: tools-t-0\s+low_watermark: %d`, end))
		out = kafkaTool(t, "", toolGetOffsets, args("--topic", topic, "--partitions", "0", "--time", "-2")...)
		mustContain(t, "kafka-get-offsets --time -2 after delete", out, fmt.Sprintf(`(?m)^tools-t:0:%d$`, end))
	})

	t.Run("kafka-transactions", func(t *testing.T) {
		cl := b.franz(t, kgo.TransactionalID("tools-txn"), kgo.DefaultProduceTopic(topic))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("in a txn")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		out := kafkaTool(t, "", toolTransactions, args("list")...)
		mustContain(t, "kafka-transactions list", out,
			`TransactionalId\s+Coordinator\s+ProducerId\s+TransactionState`, `(?m)^tools-txn\s+1\s+\d+\s+CompleteCommit`)
		out = kafkaTool(t, "", toolTransactions, args("describe", "--transactional-id", "tools-txn")...)
		// Epoch 1: under transaction.version 2 (a new cluster's level)
		// the commit bumped it, as Kafka 4 shows.
		mustContain(t, "kafka-transactions describe", out, `(?m)^1\s+tools-txn\s+\d+\s+1\s+CompleteCommit\s+\d+`)
	})

	t.Run("kafka-log-dirs", func(t *testing.T) {
		out := kafkaTool(t, "", toolLogDirs, args("--describe", "--topic-list", topic)...)
		mustContain(t, "kafka-log-dirs --describe", out, `"broker":1`, `"partition":"tools-t-0"`, `"isFuture":false`)
	})

	t.Run("kafka-leader-election", func(t *testing.T) {
		out := kafkaTool(t, "", toolLeaderElection, args("--election-type", "preferred", "--topic", topic, "--partition", "0")...)
		mustContain(t, "kafka-leader-election", out, `Valid replica already elected for partitions tools-t-0`)
	})

	t.Run("kafka-reassign-partitions", func(t *testing.T) {
		out := kafkaTool(t, "", toolReassign, args("--list")...)
		mustContain(t, "kafka-reassign-partitions --list", out, `No partition reassignments found\.`)
	})

	t.Run("kafka-consumer-groups-kip848", func(t *testing.T) {
		// A member of a KIP-848 group (group.protocol=consumer) is running
		// while the tool describes the group (ConsumerGroupDescribe).
		c := startJavaDriver(t, "consume", "--bootstrap", b.addr(), "--topics", topic, "--group", "tools-848",
			"--prop", "group.protocol=consumer")
		c.waitFor("an assignment of 4 partitions", 2*time.Minute, func(evs []javaEvent) bool { return len(lastAssignment(evs)) == 4 })
		out := kafkaTool(t, "", toolGroups, args("--describe", "--group", "tools-848", "--members")...)
		mustContain(t, "kafka-consumer-groups --describe --members", out,
			`GROUP\s+CONSUMER-ID\s+HOST\s+CLIENT-ID\s+#PARTITIONS`, `(?m)^tools-848\s+\S+\s+/127\.0\.0\.1\s+\S+\s+4\s*$`)
		out = kafkaTool(t, "", toolGroups, args("--describe", "--group", "tools-848", "--state")...)
		mustContain(t, "kafka-consumer-groups --describe --state", out, `(?m)^tools-848\s+\S+\s+\(1\)\s+uniform\s+Stable\s+1\s*$`)
		out = kafkaTool(t, "", toolGroups, args("--list", "--type")...)
		mustContain(t, "kafka-consumer-groups --list --type", out, `(?m)^tools-848\s+Consumer\s*$`)
		c.stop()
		out = kafkaTool(t, "", toolGroups, args("--describe", "--group", "tools-848", "--state")...)
		mustContain(t, "kafka-consumer-groups --describe --state after leaving", out, `(?m)^tools-848\s+\S+\s+\(1\)\s+\S+\s+Empty\s+0\s*$`)
	})

	t.Run("kafka-broker-api-versions", func(t *testing.T) {
		out := kafkaTool(t, "", toolAPIVersions, args()...)
		mustContain(t, "kafka-broker-api-versions", out, `Produce\(0\): 0 to \d+ \[usable: \d+\]`,
			`ConsumerGroupHeartbeat\(68\): 0 to \d+ \[usable: \d+\]`)
		out = kafkaTool(t, "", toolCluster, append([]string{"cluster-id"}, bs...)...)
		mustContain(t, "kafka-cluster cluster-id", out, `Cluster ID: \S{22}`)
	})

	t.Run("kafka-perf-test", func(t *testing.T) {
		out := kafkaTool(t, "", toolProducerPerf, "--topic", "tools-perf", "--num-records", "5000", "--record-size", "100",
			"--throughput", "-1", "--producer-props", "bootstrap.servers="+b.addr(), "acks=all")
		mustContain(t, "kafka-producer-perf-test", out, `5000 records sent`)
		out = kafkaTool(t, "", toolConsumerPerf, args("--topic", "tools-perf", "--messages", "5000", "--timeout", "60000")...)
		mustContain(t, "kafka-consumer-perf-test", out, `, 5000, `)
	})

	t.Run("kafka-topics-delete", func(t *testing.T) {
		kafkaTool(t, "", toolTopics, args("--delete", "--topic", topic)...)
		out := kafkaTool(t, "", toolTopics, args("--list")...)
		if strings.Contains(out, topic+"\n") {
			t.Errorf("kafka-topics --list after --delete still lists %s:\n%s", topic, out)
		}
	})
}

// TestKafkaConfigsClientQuotas: kafka-configs sets, describes and
// deletes client quotas (AlterClientQuotas 49, DescribeClientQuotas 48)
// on clients, users, user+client pairs, their defaults and IPs; on a
// user with a SCRAM credential --describe lists both. kadm sees what the tool set, and the tool what kadm set.
func TestKafkaConfigsClientQuotas(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t)
	bs := []string{"--bootstrap-server", b.addr()}
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }

	out := kafkaTool(t, "", toolConfigs, args("--entity-type", "clients", "--entity-name", "c1",
		"--alter", "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048")...)
	mustContain(t, "kafka-configs --alter clients", out, `Completed updating config for client c1\.`)
	out = kafkaTool(t, "", toolConfigs, args("--entity-type", "clients", "--entity-name", "c1", "--describe")...)
	mustContain(t, "kafka-configs --describe clients", out, `client-id 'c1'`, `producer_byte_rate=1024`, `consumer_byte_rate=2048`)

	// The tool takes SCRAM and quota keys in separate --alter calls.
	kafkaTool(t, "", toolConfigs, args("--entity-type", "users", "--entity-name", "alice",
		"--alter", "--add-config", "SCRAM-SHA-256=[iterations=4096,password=alice-secret]")...)
	out = kafkaTool(t, "", toolConfigs, args("--entity-type", "users", "--entity-name", "alice",
		"--alter", "--add-config", "request_percentage=50")...)
	mustContain(t, "kafka-configs --alter users", out, `Completed updating config for user alice\.`)
	out = kafkaTool(t, "", toolConfigs, args("--entity-type", "users", "--entity-name", "alice", "--describe")...)
	mustContain(t, "kafka-configs --describe users", out,
		`SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096`,
		`user-principal 'alice'.* request_percentage=50`)

	kafkaTool(t, "", toolConfigs, args("--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients", "--entity-name", "app",
		"--alter", "--add-config", "producer_byte_rate=8192")...)
	kafkaTool(t, "", toolConfigs, args("--entity-type", "users", "--entity-default", "--alter", "--add-config", "consumer_byte_rate=4096")...)
	kafkaTool(t, "", toolConfigs, args("--entity-type", "ips", "--entity-name", "127.0.0.1", "--alter", "--add-config", "connection_creation_rate=1000")...)
	out = kafkaTool(t, "", toolConfigs, args("--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients", "--entity-name", "app", "--describe")...)
	mustContain(t, "kafka-configs --describe users+clients", out, `user-principal 'alice', client-id 'app'.* producer_byte_rate=8192`)
	out = kafkaTool(t, "", toolConfigs, args("--entity-type", "users", "--entity-default", "--describe")...)
	mustContain(t, "kafka-configs --describe default user", out, `default user-principal.* consumer_byte_rate=4096`)
	out = kafkaTool(t, "", toolConfigs, args("--entity-type", "ips", "--entity-name", "127.0.0.1", "--describe")...)
	mustContain(t, "kafka-configs --describe ips", out, `ip '127\.0\.0\.1'.* connection_creation_rate=1000`)

	// An invalid quota is refused with Kafka's message.
	res := runJava(t, 90*time.Second, "", toolConfigs, args("--entity-type", "clients", "--entity-name", "c1",
		"--alter", "--add-config", "producer_byte_rate=1.5")...)
	if res.exitCode == 0 || !strings.Contains(res.stdout+res.stderr, "producer_byte_rate cannot be a fractional value") {
		t.Errorf("fractional producer_byte_rate accepted: exit %d\n%s\n%s", res.exitCode, res.stdout, res.stderr)
	}

	// kadm sees the tool's quotas; the tool sees kadm's.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := b.admin(t)
	c1 := "c1"
	d, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: &c1, MatchType: 0}})
	if err != nil || len(d) != 1 || len(d[0].Values) != 2 {
		t.Fatalf("kadm describe c1: %v %+v", err, d)
	}
	c2 := "from-kadm"
	if _, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &c2}}, Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 777}},
	}}); err != nil {
		t.Fatal(err)
	}
	out = kafkaTool(t, "", toolConfigs, args("--entity-type", "clients", "--describe")...)
	mustContain(t, "kafka-configs --describe all clients", out, `client-id 'c1'`, `client-id 'from-kadm'.* consumer_byte_rate=777`)

	kafkaTool(t, "", toolConfigs, args("--entity-type", "clients", "--entity-name", "c1", "--alter", "--delete-config", "producer_byte_rate")...)
	out = kafkaTool(t, "", toolConfigs, args("--entity-type", "clients", "--entity-name", "c1", "--describe")...)
	if strings.Contains(out, "producer_byte_rate") {
		t.Errorf("deleted quota still described:\n%s", out)
	}
	mustContain(t, "kafka-configs --describe after delete", out, `consumer_byte_rate=2048`)
}
