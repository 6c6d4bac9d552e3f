package integration

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Apache Kafka's Java client (kafka-clients, the reference
// implementation) against a real runnel process, through the driver in
// integration/java. What the Java client writes is read back by franz-go,
// a second independent implementation, and the other way round.

// franzReadAll reads n records from the start of topic with franz-go.
func franzReadAll(t *testing.T, b *broker, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := b.franz(t, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read %d of %d records of %s", len(recs), n, topic)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("franz-go fetch %s/%d: %v", tp, p, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// franzProduce writes n records key-i/value-i with franz-go, acks=all.
func franzProduce(t *testing.T, b *broker, topic string, prefix string, n int) {
	t.Helper()
	cl := b.franz(t, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for i := 0; i < n; i++ {
		rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprintf("%s-k%d", prefix, i)), Value: []byte(fmt.Sprintf("%s-v%d", prefix, i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
}

func headerMap(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

// TestJavaProducerCodecs: the Java producer with acks=all and idempotence
// sends under every codec, with headers and a 1 MiB record; franz-go reads
// back exactly what each send was acknowledged at.
func TestJavaProducerCodecs(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t)
	const topic = "java-codecs"
	// A 1 MiB value does not fit the default max.message.bytes (1 MiB plus
	// 12 bytes) once framed, as in Kafka.
	b.createTopic(t, topic, 3, "max.message.bytes", "2097152")
	codecs := []string{"none", "gzip", "snappy", "lz4", "zstd"}
	const count, large = 20, 1 << 20
	evs := javaDriver(t, 3*time.Minute, "produce", "--bootstrap", b.addr(), "--topic", topic,
		"--codecs", strings.Join(codecs, ","), "--count", strconv.Itoa(count), "--large", strconv.Itoa(large))

	type at struct {
		p   int32
		off int64
	}
	sent := map[at]string{} // position -> codec/key
	largeSHA := map[string]string{}
	for _, e := range evs {
		switch e.str("event") {
		case "send-error":
			t.Errorf("java send %s/%s: %s", e.str("codec"), e.str("key"), e.str("error"))
		case "sent":
			k := at{int32(e.num("partition")), e.num("offset")}
			if prev, dup := sent[k]; dup {
				t.Errorf("two records acknowledged at %v: %s and %s/%s", k, prev, e.str("codec"), e.str("key"))
			}
			sent[k] = e.str("codec") + "/" + e.str("key")
		case "large":
			largeSHA[e.str("codec")] = e.str("sha256")
		}
	}
	want := len(codecs) * (count + 1)
	if len(sent) != want {
		t.Fatalf("java acknowledged %d records, want %d", len(sent), want)
	}

	recs := franzReadAll(t, b, topic, want, kgo.FetchMaxPartitionBytes(4<<20))
	if len(recs) != want {
		t.Fatalf("franz-go read %d records, want %d", len(recs), want)
	}
	for _, r := range recs {
		h := headerMap(r)
		codec := h["codec"]
		if got, ok := sent[at{r.Partition, r.Offset}]; !ok || got != codec+"/"+string(r.Key) {
			t.Errorf("record at %d/%d is %s/%s; java was acknowledged there for %q", r.Partition, r.Offset, codec, r.Key, got)
		}
		if string(r.Key) == "large" {
			if len(r.Value) != large {
				t.Errorf("large record (%s): %d bytes, want %d", codec, len(r.Value), large)
			}
			if got := sha256hex(r.Value); got != largeSHA[codec] {
				t.Errorf("large record (%s): sha256 %s, java sent %s", codec, got, largeSHA[codec])
			}
			continue
		}
		i := strings.TrimPrefix(string(r.Key), "k-")
		if string(r.Value) != codec+"-"+i || h["i"] != i {
			t.Errorf("record %s: value %q headers %v", r.Key, r.Value, h)
		}
	}
}

// TestJavaConsumerClassicGroup: two Java consumers in one classic group
// (JoinGroup/SyncGroup) with each of Kafka's eager and cooperative
// assignors split the partitions, each reads what it owns, and the
// offsets they commit are the group's.
func TestJavaConsumerClassicGroup(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t, withOverride("group.initial.rebalance.delay.ms", "0"))
	for _, tc := range []struct{ name, class, protocol string }{
		{"range", "org.apache.kafka.clients.consumer.RangeAssignor", "range"},
		{"roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor", "roundrobin"},
		{"sticky", "org.apache.kafka.clients.consumer.StickyAssignor", "sticky"},
		{"cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", "cooperative-sticky"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, group := "java-classic-"+tc.name, "java-classic-g-"+tc.name
			b.createTopic(t, topic, 4)
			franzProduce(t, b, topic, "a", 40)
			args := []string{"--bootstrap", b.addr(), "--topics", topic, "--group", group,
				"--prop", "partition.assignment.strategy=" + tc.class, "--prop", "group.protocol=classic"}
			c1 := startJavaDriver(t, "consume", args...)
			c1.waitFor("40 records", 2*time.Minute, func(evs []javaEvent) bool { return countRecords(evs) >= 40 })
			c2 := startJavaDriver(t, "consume", args...)
			// Both own two partitions each once the rebalance settles.
			var own1, own2 []string
			split := func() bool {
				own1, own2 = lastAssignment(c1.snapshot()), lastAssignment(c2.snapshot())
				return len(own1) == 2 && len(own2) == 2
			}
			waitJava(t, "a split assignment", 2*time.Minute, split, c1, c2)
			owner := map[string]string{}
			for _, p := range own1 {
				owner[p] = "c1"
			}
			for _, p := range own2 {
				if owner[p] != "" {
					t.Fatalf("partition %s assigned to both consumers (%v, %v)", p, own1, own2)
				}
				owner[p] = "c2"
			}
			if len(owner) != 4 {
				t.Fatalf("assignment %v + %v does not cover 4 partitions", own1, own2)
			}
			n1, n2 := len(c1.snapshot()), len(c2.snapshot())
			franzProduce(t, b, topic, "b", 40)
			seen := map[string]string{} // key -> consumer
			collect := func() bool {
				for who, evs := range map[string][]javaEvent{"c1": c1.snapshot()[n1:], "c2": c2.snapshot()[n2:]} {
					for _, e := range evs {
						if e.str("event") == "record" && strings.HasPrefix(e.str("key"), "b-") {
							seen[e.str("key")] = who
							if p := fmt.Sprintf("%s-%d", e.str("topic"), e.num("partition")); owner[p] != who {
								t.Errorf("record %s of %s read by %s, owner %s", e.str("key"), p, who, owner[p])
							}
						}
					}
				}
				return len(seen) == 40
			}
			waitJava(t, "the second 40 records", 2*time.Minute, collect, c1, c2)
			c1.stop()
			c2.stop()

			adm := b.admin(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			offs, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
			if sum != 80 {
				t.Errorf("committed offsets sum to %d, want 80: %v", sum, offs)
			}
			dg, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			if d := dg[group]; d.Protocol != tc.protocol && d.State != "Empty" {
				t.Errorf("group %s: protocol %q state %q", group, d.Protocol, d.State)
			}
		})
	}
}

// TestJavaConsumerKIP848Regex: the Java consumer with
// group.protocol=consumer (ConsumerGroupHeartbeat, KIP-848) subscribed by
// a regex that the group coordinator resolves (SubscriptionPattern).
func TestJavaConsumerKIP848Regex(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t)
	for _, tp := range []string{"kip848-a", "kip848-b", "other-848"} {
		b.createTopic(t, tp, 2)
		franzProduce(t, b, tp, tp, 10)
	}
	const group = "java-kip848"
	evs := javaDriver(t, 3*time.Minute, "consume", "--bootstrap", b.addr(), "--regex", "kip848-.*",
		"--group", group, "--prop", "group.protocol=consumer", "--expect", "20")
	got := map[string]bool{}
	for _, e := range evs {
		if e.str("event") == "record" {
			if !strings.HasPrefix(e.str("topic"), "kip848-") {
				t.Errorf("record from %s, which the regex does not match", e.str("topic"))
			}
			got[e.str("key")] = true
		}
	}
	if len(got) != 20 {
		t.Errorf("read %d distinct records, want 20", len(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := b.admin(t).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) {
		if !strings.HasPrefix(o.Topic, "kip848-") {
			t.Errorf("offset committed for %s", o.Topic)
		}
		sum += o.At
	})
	if sum != 20 {
		t.Errorf("committed offsets sum to %d, want 20", sum)
	}
}

// TestJavaConsumerKIP848Members: two Java consumers with
// group.protocol=consumer share a regex subscription; the coordinator
// splits the partitions between them, and a topic created later that the
// regex matches is assigned too, without the members rejoining.
func TestJavaConsumerKIP848Members(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t)
	b.createTopic(t, "kip848m-a", 2)
	b.createTopic(t, "kip848m-b", 2)
	args := []string{"--bootstrap", b.addr(), "--regex", "kip848m-.*", "--group", "java-kip848m",
		"--prop", "group.protocol=consumer"}
	c1 := startJavaDriver(t, "consume", args...)
	c1.waitFor("all 4 partitions", 2*time.Minute, func(evs []javaEvent) bool { return len(lastAssignment(evs)) == 4 })
	c2 := startJavaDriver(t, "consume", args...)
	split := func(total int) func() bool {
		return func() bool {
			a1, a2 := lastAssignment(c1.snapshot()), lastAssignment(c2.snapshot())
			seen := map[string]bool{}
			for _, p := range append(a1, a2...) {
				if seen[p] {
					return false // still moving: owned twice in our view
				}
				seen[p] = true
			}
			return len(a1) > 0 && len(a2) > 0 && len(seen) == total
		}
	}
	waitJava(t, "4 partitions split between two members", 2*time.Minute, split(4), c1, c2)
	b.createTopic(t, "kip848m-c", 2)
	waitJava(t, "the new topic's partitions assigned", 2*time.Minute, split(6), c1, c2)
	franzProduce(t, b, "kip848m-c", "c", 10)
	waitJava(t, "the new topic's records", 2*time.Minute, func() bool {
		keys := map[string]bool{}
		for _, evs := range [][]javaEvent{c1.snapshot(), c2.snapshot()} {
			for _, e := range evs {
				if e.str("event") == "record" && e.str("topic") == "kip848m-c" {
					keys[e.str("key")] = true
				}
			}
		}
		return len(keys) == 10
	}, c1, c2)
	c1.stop()
	c2.stop()
}

// TestJavaTransactionalCopy: consume-transform-produce with the Java
// client's transactional producer (under transactions v2, KIP-890 part 2)
// and sendOffsetsToTransaction after one aborted transaction; a
// read_committed Java consumer and franz-go see only the committed copy,
// and the group's offsets moved with it.
func TestJavaTransactionalCopy(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t, withOverride("offsets.topic.replication.factor", "1"),
		withOverride("transaction.state.log.replication.factor", "1"), withOverride("transaction.state.log.min.isr", "1"))
	b.createTopic(t, "java-txn-in", 2)
	b.createTopic(t, "java-txn-out", 2)
	franzProduce(t, b, "java-txn-in", "in", 30)
	const group = "java-txn-g"
	evs := javaDriver(t, 3*time.Minute, "txn-copy", "--bootstrap", b.addr(), "--from", "java-txn-in", "--to", "java-txn-out",
		"--group", group, "--txn-id", "java-txn-1", "--expect", "30", "--abort-first")
	if last := evs[len(evs)-1]; last.str("event") != "done" || last.num("copied") != 30 {
		t.Fatalf("txn-copy ended with %v", last)
	}
	// A new cluster finalizes transaction.version 2, so the Java producer
	// (4.1) runs transactions v2: its epoch moved with every EndTxn (one
	// abort and at least one commit); under v1 it would still be 0.
	if _, e := describeTxn(t, b, "java-txn-1"); e < 2 {
		t.Errorf("the Java producer's epoch is %d: it did not use transactions v2", e)
	}

	read := javaDriver(t, 2*time.Minute, "consume", "--bootstrap", b.addr(), "--topics", "java-txn-out",
		"--prop", "isolation.level=read_committed", "--expect", "30")
	keys := map[string]bool{}
	for _, e := range read {
		if e.str("event") == "record" {
			if strings.HasPrefix(e.str("key"), "aborted-") {
				t.Errorf("read_committed Java consumer got aborted record %s", e.str("key"))
			}
			keys[e.str("key")] = true
		}
	}
	if len(keys) != 30 {
		t.Errorf("read_committed Java consumer read %d distinct records, want 30", len(keys))
	}
	// franz-go read_uncommitted sees the aborted records too: 60 in all.
	all := franzReadAll(t, b, "java-txn-out", 60)
	aborted := 0
	for _, r := range all {
		if strings.HasPrefix(string(r.Key), "aborted-") {
			aborted++
		}
	}
	if aborted != 30 {
		t.Errorf("franz-go read_uncommitted saw %d aborted records, want 30", aborted)
	}
	committed := franzReadAll(t, b, "java-txn-out", 30, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for _, r := range committed {
		if strings.HasPrefix(string(r.Key), "aborted-") {
			t.Errorf("franz-go read_committed got aborted record %s", r.Key)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := b.admin(t).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != 30 {
		t.Errorf("offsets committed through the transaction sum to %d, want 30", sum)
	}
}

// TestJavaAdminClient: the Admin client's calls that Runnel serves, in
// one JVM (the driver's admin mode), each checked against Kafka's answer.
func TestJavaAdminClient(t *testing.T) {
	javaClasspath(t)
	b := startBroker(t)
	// A group with committed offsets and no members, for the group calls.
	b.createTopic(t, "java-admin-src", 2)
	franzProduce(t, b, "java-admin-src", "s", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.admin(t)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "java-admin-src", Partition: 0, At: 3, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "java-admin-src", Partition: 1, At: 2, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "java-admin-g", offs); err != nil {
		t.Fatal(err)
	}

	evs := javaDriver(t, 3*time.Minute, "admin", "--bootstrap", b.addr(), "--topic", "java-admin-t", "--group", "java-admin-g")
	steps := map[string]javaEvent{}
	for _, e := range evs {
		if e.str("event") == "step" {
			if msg := e.str("error"); msg != "" {
				t.Errorf("Admin %s: %s", e.str("step"), msg)
				continue
			}
			steps[e.str("step")] = e
		}
	}
	check := func(step, key string, want any) {
		t.Helper()
		e, ok := steps[step]
		if !ok {
			return // reported above
		}
		got := fmt.Sprint(e[key])
		if got != fmt.Sprint(want) {
			t.Errorf("Admin %s: %s = %s, want %v", step, key, got, want)
		}
	}
	check("describeCluster", "nodes", 1)
	check("describeCluster", "controller", 1)
	check("createTopics", "ok", true)
	check("listTopics", "contains", true)
	check("describeTopics", "partitions", 2)
	check("describeTopics", "leaders", "[1 1]")
	check("describeConfigs", "retention.ms", "3600000")
	check("describeConfigs", "retention.ms.source", "DYNAMIC_TOPIC_CONFIG")
	check("describeConfigs", "cleanup.policy", "delete")
	check("describeConfigs", "cleanup.policy.source", "DEFAULT_CONFIG")
	check("incrementalAlterConfigs", "retention.ms", "7200000")
	check("incrementalAlterConfigs", "segment.bytes", "1048576")
	check("groupConfigs", "heartbeat", "6000")
	check("groupConfigs", "heartbeat.source", "DYNAMIC_GROUP_CONFIG")
	check("groupConfigs", "session", "45000")
	check("groupConfigs", "session.source", "DEFAULT_CONFIG")
	check("groupConfigs", "entries", 10)
	check("groupConfigs", "listed", "[java-admin-g]")
	check("createPartitions", "partitions", 3)
	check("produce", "ok", true)
	check("listOffsets", "earliest", 0)
	check("listOffsets", "latest", 10)
	check("listOffsets", "forTimestamp1004", 4)
	check("listOffsets", "maxTimestampOffset", 9)
	check("listOffsets", "maxTimestamp", 1009)
	check("deleteRecords", "lowWatermark", 4)
	check("deleteRecords", "earliest", 4)
	check("describeLogDirs", "brokers", 1)
	check("describeLogDirs", "replicasOfP0", 1)
	check("describeConsumerGroups", "state", "Empty")
	check("describeConsumerGroups", "type", "Classic")
	check("describeConsumerGroups", "members", 0)
	check("listConsumerGroupOffsets", "offsets", "map[java-admin-src-0:3 java-admin-src-1:2]")
	check("alterConsumerGroupOffsets", "offset", 1)
	check("alterConsumerGroupOffsets", "metadata", "meta")
	check("deleteConsumerGroupOffsets", "remaining", "[java-admin-src-1]")
	// The exception class is Kafka's answer; the message is the broker's.
	checkPrefix := func(step, key, want string) {
		t.Helper()
		if e, ok := steps[step]; ok && !strings.HasPrefix(e.str(key), want) {
			t.Errorf("Admin %s: %s = %s, want %s…", step, key, e.str(key), want)
		}
	}
	checkPrefix("electLeaders", "result", "ElectionNotNeededException:")
	check("listPartitionReassignments", "count", 0)
	check("describeProducers", "producers", 1)
	check("listTransactions", "count", 0)
	// describeFeatures is ApiVersions: a new cluster finalizes Kafka 4's
	// transaction.version and group.version.
	check("describeFeatures", "finalized", "[group.version transaction.version]")
	checkPrefix("describeAcls", "result", "SecurityDisabledException:")
	check("deleteTopics", "ok", true)
	if e, ok := steps["describeLogDirs"]; ok && e.num("sizeOfP0") <= 0 {
		t.Errorf("DescribeLogDirs: size of partition 0 is %d after 10 records", e.num("sizeOfP0"))
	}
	for _, step := range []string{"listGroups", "listConsumerGroups"} {
		if e, ok := steps[step]; ok {
			gs := e.strs("groups")
			sort.Strings(gs)
			if !strings.Contains(strings.Join(gs, ","), "java-admin-g") {
				t.Errorf("Admin %s: %v lacks java-admin-g", step, gs)
			}
		}
	}
	if e, ok := steps["deleteConsumerGroups"]; ok {
		for _, g := range e.strs("remaining") {
			if g == "java-admin-g" {
				t.Errorf("Admin deleteConsumerGroups: java-admin-g still listed")
			}
		}
	}
}

func countRecords(evs []javaEvent) int {
	n := 0
	for _, e := range evs {
		if e.str("event") == "record" {
			n++
		}
	}
	return n
}

// lastAssignment is the consumer's assignment after its latest rebalance
// callback: the full assignment printed with "assigned", less what a later
// "revoked" or "lost" took away.
func lastAssignment(evs []javaEvent) []string {
	var own []string
	for _, e := range evs {
		switch e.str("event") {
		case "assigned":
			own = e.strs("assignment")
		case "revoked", "lost":
			gone := map[string]bool{}
			for _, p := range e.strs("partitions") {
				gone[p] = true
			}
			var keep []string
			for _, p := range own {
				if !gone[p] {
					keep = append(keep, p)
				}
			}
			own = keep
		}
	}
	return own
}
