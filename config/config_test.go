package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEnvKey(t *testing.T) {
	cases := map[string]string{
		"KAFKA_ADVERTISED_LISTENERS":           "advertised.listeners",
		"KAFKA_LOG_RETENTION_HOURS":            "log.retention.hours",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "listener.security.protocol.map",
		"KAFKA_CONFLUENT_SUPPORT__METRICS":     "confluent.support_metrics",
		"KAFKA_SOME___DASHED_KEY":              "some-dashed.key",
		"KAFKA_A____B":                         "a-.b",
	}
	for in, want := range cases {
		got, ok := EnvKey(in, "KAFKA_")
		if !ok || got != want {
			t.Errorf("EnvKey(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if got, ok := EnvKey("KAFKA_CFG_NUM_PARTITIONS", "KAFKA_CFG_"); !ok || got != "num.partitions" {
		t.Errorf("KAFKA_CFG_: got %q", got)
	}
	if _, ok := EnvKey("PATH", "KAFKA_"); ok {
		t.Error("PATH mapped")
	}
}

func TestEnvConfig(t *testing.T) {
	env := []string{
		"PATH=/usr/bin",
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://broker:9092",
		"KAFKA_LOG_RETENTION_HOURS=24",
		"KAFKA_HEAP_OPTS=-Xmx1G",
		"KAFKA_OPTS=-Dfoo",
		"KAFKA_JMX_PORT=9999",
		"KAFKA_LOG4J_ROOT_LOGLEVEL=WARN",
		"KAFKA_JVM_PERFORMANCE_OPTS=-server",
		"KAFKA_CFG_NUM_PARTITIONS=3",
		"KAFKA_NUM_PARTITIONS=2",
		"CLUSTER_ID=MkU3OEVBNTcwNTJENDM2Qk",
		"malformed",
	}
	vars, hint := EnvConfig(env)
	got := map[string]string{}
	for _, v := range vars {
		got[v.Key] = v.Value // later (KAFKA_CFG_) wins, as Load applies them
	}
	want := map[string]string{
		"advertised.listeners": "PLAINTEXT://broker:9092",
		"log.retention.hours":  "24",
		"num.partitions":       "3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if hint != "MkU3OEVBNTcwNTJENDM2Qk" {
		t.Errorf("cluster id hint %q", hint)
	}
}

func mustLoad(t *testing.T, file string, env, overrides []string) (*Broker, []string) {
	t.Helper()
	b, warnings, err := load(file, env, overrides, "testhost")
	if err != nil {
		t.Fatal(err)
	}
	return b, warnings
}

func writeProps(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	b, warnings := mustLoad(t, "", nil, nil)
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if b.BrokerID != -1 || !b.BrokerIDGenerationEnable {
		t.Errorf("broker id %d", b.BrokerID)
	}
	if want := []Listener{{"PLAINTEXT", "", 9092, "PLAINTEXT"}}; !reflect.DeepEqual(b.Listeners, want) {
		t.Errorf("listeners %v", b.Listeners)
	}
	if want := []Listener{{"PLAINTEXT", "testhost", 9092, "PLAINTEXT"}}; !reflect.DeepEqual(b.AdvertisedListeners, want) {
		t.Errorf("advertised %v", b.AdvertisedListeners)
	}
	if b.InterBrokerListenerName != "PLAINTEXT" {
		t.Errorf("inter-broker %q", b.InterBrokerListenerName)
	}
	if !reflect.DeepEqual(b.LogDirs, []string{"/tmp/kafka-logs"}) {
		t.Errorf("log dirs %v", b.LogDirs)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"retention", b.LogRetentionMs, int64(7 * 24 * 3600 * 1000)},
		{"roll", b.LogRollMs, int64(7 * 24 * 3600 * 1000)},
		{"jitter", b.LogRollJitterMs, int64(0)},
		{"flush ms", b.LogFlushIntervalMs, int64(9223372036854775807)},
		{"segment", b.LogSegmentBytes, int32(1 << 30)},
		{"message.max.bytes", b.MessageMaxBytes, int32(1048588)},
		{"partitions", b.NumPartitions, int32(1)},
		{"offsets rf", b.OffsetsTopicReplicationFactor, int16(3)},
		{"offsets partitions", b.OffsetsTopicNumPartitions, int32(50)},
		{"txn min isr", b.TransactionStateLogMinISR, int32(2)},
		{"auto create", b.AutoCreateTopicsEnable, true},
		{"cleaner ratio", b.LogCleanerMinCleanableRatio, 0.5},
		{"admin", b.AdminListener, DefaultAdminListener},
		{"durable", b.LogDurable, false},
		{"etcd", len(b.EtcdEndpoints), 0},
		{"cleanup", b.LogCleanupPolicy, []string{"delete"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadPrecedence(t *testing.T) {
	file := writeProps(t, "num.partitions=2\ndefault.replication.factor=2\nmin.insync.replicas=2\nlog.dirs=/from/file\n")
	env := []string{"KAFKA_DEFAULT_REPLICATION_FACTOR=3", "KAFKA_MIN_INSYNC_REPLICAS=3"}
	b, _ := mustLoad(t, file, env, []string{"min.insync.replicas=4", "log.dirs=./data,./data2"})
	if b.NumPartitions != 2 {
		t.Errorf("file value lost: %d", b.NumPartitions)
	}
	if b.DefaultReplicationFactor != 3 {
		t.Errorf("env should beat file: %d", b.DefaultReplicationFactor)
	}
	if b.MinInsyncReplicas != 4 {
		t.Errorf("override should beat env: %d", b.MinInsyncReplicas)
	}
	if !reflect.DeepEqual(b.LogDirs, []string{"./data", "./data2"}) {
		t.Errorf("log dirs %v", b.LogDirs)
	}
	if b.Origin["min.insync.replicas"] != "--override" || b.Origin["default.replication.factor"] != "env KAFKA_DEFAULT_REPLICATION_FACTOR" ||
		!strings.HasSuffix(b.Origin["num.partitions"], "server.properties:1") {
		t.Errorf("origins %v", b.Origin)
	}
}

func TestLogDirFallback(t *testing.T) {
	b, _ := mustLoad(t, "", nil, []string{"log.dir=/var/lib/runnel"})
	if !reflect.DeepEqual(b.LogDirs, []string{"/var/lib/runnel"}) {
		t.Errorf("log dirs %v", b.LogDirs)
	}
}

func TestRetentionPrecedence(t *testing.T) {
	cases := []struct {
		overrides []string
		want      int64
	}{
		{nil, 168 * 3600000},
		{[]string{"log.retention.hours=1"}, 3600000},
		{[]string{"log.retention.hours=1", "log.retention.minutes=5"}, 5 * 60000},
		{[]string{"log.retention.hours=1", "log.retention.minutes=5", "log.retention.ms=1234"}, 1234},
		{[]string{"log.retention.ms=-5"}, -1},
		{[]string{"log.retention.hours=-1"}, -1},
	}
	for _, c := range cases {
		b, _ := mustLoad(t, "", nil, c.overrides)
		if b.LogRetentionMs != c.want {
			t.Errorf("%v: retention %d, want %d", c.overrides, b.LogRetentionMs, c.want)
		}
	}
	b, _ := mustLoad(t, "", nil, []string{"log.roll.hours=2"})
	if b.LogRollMs != 2*3600000 {
		t.Errorf("roll %d", b.LogRollMs)
	}
	b, _ = mustLoad(t, "", nil, []string{"log.roll.hours=2", "log.roll.ms=10"})
	if b.LogRollMs != 10 {
		t.Errorf("roll %d", b.LogRollMs)
	}
}

func TestLoadWarningsAndNotes(t *testing.T) {
	b, warnings := mustLoad(t, "", []string{"KAFKA_PROCESS_ROLES=broker,controller", "KAFKA_SOME_MADE_UP_KEY=1"},
		[]string{"zookeeper.connect=zk:2181", "retention.ms=5", "port=9092", "log4j.rootLogger=INFO"})
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"some.made.up.key", "retention.ms", "log.retention.ms", "port"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "zookeeper.connect") || strings.Contains(joined, "process.roles") || strings.Contains(joined, "log4j") {
		t.Errorf("accepted keys warned about:\n%s", joined)
	}
	notes := strings.Join(b.Notes, "\n")
	for _, want := range []string{"zookeeper.connect", "process.roles", "log4j.rootLogger"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	for _, k := range []string{"some.made.up.key", "zookeeper.connect", "retention.ms"} {
		if _, ok := b.Raw[k]; !ok {
			t.Errorf("%s dropped from Raw", k)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		overrides []string
		want      string
	}{
		{[]string{"num.partitions=lots"}, "num.partitions"},
		{[]string{"num.partitions=0"}, "num.partitions"},
		{[]string{"log.segment.bytes=1000"}, "log.segment.bytes"},
		{[]string{"auto.create.topics.enable=yes"}, "auto.create.topics.enable"},
		{[]string{"listeners=PLAINTEXT://:abc"}, "listeners"},
		{[]string{"listeners=PLAINTEXT://:70000"}, "listeners"},
		{[]string{"listeners=PLAINTEXT:9092"}, "listeners"},
		{[]string{"listeners=FOO://:9092"}, "FOO"},
		{[]string{"listeners=PLAINTEXT://:9092,plaintext://:9093"}, "twice"},
		{[]string{"listeners=PLAINTEXT://:9092,SSL://:9092"}, "same address"},
		{[]string{"advertised.listeners=PLAINTEXT://0.0.0.0:9092"}, "non-routable"},
		{[]string{"advertised.listeners=SSL://h:9093"}, "SSL"},
		{[]string{"log.cleanup.policy=compact,forever"}, "log.cleanup.policy"},
		{[]string{"broker.id=1", "node.id=2"}, "node.id"},
		{[]string{"broker.id=5000"}, "reserved.broker.max.id"},
		{[]string{"inter.broker.listener.name=PLAINTEXT", "security.inter.broker.protocol=PLAINTEXT"}, "only one"},
		{[]string{"listeners=INTERNAL://:9092", "listener.security.protocol.map=INTERNAL:PLAINTEXT"}, "inter-broker"},
		{[]string{"listener.security.protocol.map=PLAINTEXT:TLS"}, "TLS"},
		{[]string{"offsets.topic.replication.factor=40000"}, "offsets.topic.replication.factor"},
		{[]string{"novalue"}, "key=value"},
		{[]string{"authorizer.class.name=com.example.OpaAuthorizer"}, "implements only"},
	}
	for _, c := range cases {
		_, _, err := load("", nil, c.overrides, "h")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.overrides, err, c.want)
		}
	}
	// Every bad value is reported, not just the first.
	_, _, err := load("", nil, []string{"num.partitions=x", "num.io.threads=y"}, "h")
	if err == nil || !strings.Contains(err.Error(), "num.partitions") || !strings.Contains(err.Error(), "num.io.threads") {
		t.Errorf("joined errors: %v", err)
	}
	var ve *ValueError
	if !errors.As(err, &ve) {
		t.Errorf("error %T is not a *ValueError", err)
	}
	// The origin is named.
	file := writeProps(t, "\nnum.partitions=x\n")
	_, _, err = load(file, nil, nil, "h")
	if err == nil || !strings.Contains(err.Error(), "server.properties:2") {
		t.Errorf("origin missing: %v", err)
	}
}

func TestListeners(t *testing.T) {
	b, _ := mustLoad(t, "", nil, []string{
		"listeners=PLAINTEXT://0.0.0.0:9092,PLAINTEXT_HOST://[::1]:29092,CONTROLLER://:9093",
		"advertised.listeners=PLAINTEXT://broker:9092,PLAINTEXT_HOST://localhost:29092",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"controller.listener.names=CONTROLLER",
		"process.roles=broker,controller",
		"node.id=1",
	})
	want := []Listener{{"PLAINTEXT", "0.0.0.0", 9092, "PLAINTEXT"}, {"PLAINTEXT_HOST", "::1", 29092, "PLAINTEXT"}}
	if !reflect.DeepEqual(b.Listeners, want) {
		t.Errorf("listeners %v", b.Listeners)
	}
	if b.Listeners[1].Addr() != "[::1]:29092" || b.Listeners[1].String() != "PLAINTEXT_HOST://[::1]:29092" {
		t.Errorf("addr %s %s", b.Listeners[1].Addr(), b.Listeners[1])
	}
	if b.AdvertisedListeners[0].Host != "broker" || b.AdvertisedListeners[1].Host != "localhost" {
		t.Errorf("advertised %v", b.AdvertisedListeners)
	}
	if b.BrokerID != 1 {
		t.Errorf("node.id not used: %d", b.BrokerID)
	}
	// A wildcard listener without advertised.listeners advertises the hostname.
	b, _ = mustLoad(t, "", nil, []string{"listeners=PLAINTEXT://0.0.0.0:0"})
	if b.AdvertisedListeners[0].Host != "testhost" || b.AdvertisedListeners[0].Port != 0 {
		t.Errorf("advertised %v", b.AdvertisedListeners)
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	good := map[string]string{
		CleanupPolicy: "compact,delete", CompressionType: "zstd", MessageTimestampType: "LogAppendTime",
		MinCleanableDirtyRatio: "0.1", RetentionMs: "-1", SegmentBytes: "1048576", MaxMessageBytes: "0",
		CompressionGzipLevel: "-1", CompressionZstdLevel: "-5", LeaderReplicationThrottledReplicas: "0:1, 1:2",
		FollowerReplicationThrottledReplicas: "*", Preallocate: "TRUE",
	}
	if err := ValidateTopicConfigs(good); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		k, v string
	}{
		{SegmentBytes, "1048575"},
		{SegmentBytes, "3000000000"},
		{CleanupPolicy, "compact,archive"},
		{CompressionType, "brotli"},
		{CompressionType, "ZSTD"},
		{MessageTimestampType, "createtime"},
		{MinCleanableDirtyRatio, "1.5"},
		{MinCleanableDirtyRatio, "half"},
		{RetentionMs, "-2"},
		{MinInsyncReplicas, "0"},
		{CompressionGzipLevel, "0"},
		{CompressionLz4Level, "18"},
		{LeaderReplicationThrottledReplicas, "0-1"},
		{Preallocate, "1"},
		{RemoteStorageEnable, "true"},
		{SegmentMs, "0"},
		{LocalRetentionMs, "-3"},
	}
	for _, c := range bad {
		err := ValidateTopicConfigs(map[string]string{c.k: c.v})
		var ve *ValueError
		if !errors.As(err, &ve) || ve.Key != c.k || !strings.Contains(err.Error(), c.k) {
			t.Errorf("%s=%s: error %v", c.k, c.v, err)
		}
	}
	err := ValidateTopicConfigs(map[string]string{MinCompactionLagMs: "10", MaxCompactionLagMs: "5"})
	if err == nil || !strings.Contains(err.Error(), MinCompactionLagMs) {
		t.Errorf("lag conflict: %v", err)
	}
	for _, k := range []string{"retention.hours", "message.format.version", "message.downconversion.enable", "log.retention.ms"} {
		err := ValidateTopicConfigs(map[string]string{k: "1"})
		var uk *UnknownKeyError
		if !errors.As(err, &uk) || uk.Key != k {
			t.Errorf("%s: error %v", k, err)
		}
	}
}

func TestEveryDefHasDocAndValidDefault(t *testing.T) {
	check := func(kind string, defs []Def) {
		seen := map[string]bool{}
		for _, d := range defs {
			if seen[d.Name] {
				t.Errorf("%s %s defined twice", kind, d.Name)
			}
			seen[d.Name] = true
			if strings.TrimSpace(d.Doc) == "" {
				t.Errorf("%s %s has no doc", kind, d.Name)
			}
			if d.Type < Boolean || d.Type > Password {
				t.Errorf("%s %s has type %d", kind, d.Name, d.Type)
			}
			if d.Null {
				if d.Default != "" {
					t.Errorf("%s %s is null with default %q", kind, d.Name, d.Default)
				}
				continue
			}
			if err := d.Check(d.Default); err != nil {
				t.Errorf("%s %s: default does not validate: %v", kind, d.Name, err)
			}
			if c, _ := Canonical(d.Type, d.Default); c != d.Default {
				t.Errorf("%s %s: default %q is not printed as Kafka prints it (%q)", kind, d.Name, d.Default, c)
			}
		}
	}
	check("topic", TopicDefs())
	check("broker", BrokerDefs())
	want := []string{"cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type", "compression.zstd.level",
		"delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms", "follower.replication.throttled.replicas",
		"index.interval.bytes", "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
		"max.compaction.lag.ms", "max.message.bytes", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
		"message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
		"remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
		"segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable"}
	var got []string
	for _, d := range TopicDefs() {
		got = append(got, d.Name)
		for _, s := range d.Synonyms {
			bd, ok := LookupBroker(s.Name)
			if !ok {
				t.Errorf("topic %s: synonym %s is not a broker key", d.Name, s.Name)
				continue
			}
			if bd.Type != d.Type && !(bd.Type == Int && d.Type == Long) {
				t.Errorf("topic %s (%v) and synonym %s (%v) differ in type", d.Name, d.Type, s.Name, bd.Type)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("topic keys\n got %v\nwant %v", got, want)
	}
}

func TestJavaDouble(t *testing.T) {
	cases := map[float64]string{0.5: "0.5", 1: "1.0", 0.9: "0.9", 1e7: "1.0E7", 1.7976931348623157e308: "1.7976931348623157E308",
		0.0001: "1.0E-4", 123456.5: "123456.5", 0: "0.0"}
	for f, want := range cases {
		if got := JavaDouble(f); got != want {
			t.Errorf("JavaDouble(%v) = %s, want %s", f, got, want)
		}
	}
}

// A KRaft docker-compose service from the Confluent/Apache images, as it
// would be pointed at Runnel unchanged.
func TestLoadComposeEnvironment(t *testing.T) {
	env := []string{
		"KAFKA_NODE_ID=1",
		"KAFKA_PROCESS_ROLES=broker,controller",
		"KAFKA_LISTENERS=PLAINTEXT://broker:29092,CONTROLLER://broker:29093,PLAINTEXT_HOST://0.0.0.0:9092",
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://broker:29092,PLAINTEXT_HOST://localhost:9092",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
		"KAFKA_CONTROLLER_QUORUM_VOTERS=1@broker:29093",
		"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0",
		"KAFKA_LOG_DIRS=/tmp/kraft-combined-logs",
		"KAFKA_HEAP_OPTS=-Xmx512M -Xms512M",
		"KAFKA_JMX_PORT=9101",
		"KAFKA_JMX_HOSTNAME=localhost",
		"CLUSTER_ID=MkU3OEVBNTcwNTJENDM2Qk",
	}
	b, warnings := mustLoad(t, "", env, nil)
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if b.BrokerID != 1 || b.OffsetsTopicReplicationFactor != 1 || b.TransactionStateLogRF != 1 || b.TransactionStateLogMinISR != 1 ||
		b.GroupInitialRebalanceDelayMs != 0 || b.ClusterIDHint != "MkU3OEVBNTcwNTJENDM2Qk" || b.InterBrokerListenerName != "PLAINTEXT" {
		t.Errorf("%+v", b)
	}
	if len(b.Listeners) != 2 || b.Listeners[0].Name != "PLAINTEXT" || b.Listeners[1].Name != "PLAINTEXT_HOST" {
		t.Errorf("listeners %v (the controller listener must not be opened)", b.Listeners)
	}
	if b.AdvertisedListeners[1].String() != "PLAINTEXT_HOST://localhost:9092" {
		t.Errorf("advertised %v", b.AdvertisedListeners)
	}
	if len(b.Notes) == 0 {
		t.Error("no notes for the KRaft keys")
	}
}
