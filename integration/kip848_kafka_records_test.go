package integration

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKIP848RecordsReadByKafka (issue 15 §3): the consumer-group records
// Runnel writes to __consumer_offsets for a KIP-848 group (two franz-go
// members, then one leaves) are read by Apache Kafka's own group
// coordinator serde (kafka-group-coordinator 4.1) and encode back to the
// same bytes; the last records say what ConsumerGroupDescribe says.
func TestKIP848RecordsReadByKafka(t *testing.T) {
	javaClasspath(t) // Kafka's jars, or skip outside CI
	const topic, group = "kip848-rec", "kip848-rec"
	b := startBroker(t,
		withOverride("group.consumer.min.heartbeat.interval.ms", "200"),
		withOverride("group.consumer.heartbeat.interval.ms", "500"),
		withOverride("offsets.topic.num.partitions", "3"),
	)
	b.createTopic(t, topic, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	member := func(name string) *kgo.Client {
		return b.franz(t, kgo.ClientID(name), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer())
	}
	adm := kadm.NewClient(b.franz(t))
	// waitMembers polls the clients (KIP-848 members heartbeat from their
	// own goroutine; polling keeps them reconciling) until the group is
	// Stable with n members holding every partition.
	waitMembers := func(n int, cls ...*kgo.Client) kadm.DescribedConsumerGroup {
		for {
			for _, cl := range cls {
				pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
				cl.PollFetches(pctx)
				pcancel()
			}
			ds, err := adm.DescribeConsumerGroups(ctx, group)
			if err == nil {
				d := ds[group]
				held := 0
				for _, m := range d.Members {
					held += len(m.Assignment[topic])
				}
				if d.Err == nil && d.State == "Stable" && len(d.Members) == n && held == 4 {
					return d
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("group never had %d stable members: %+v %v", n, ds, err)
			}
		}
	}
	a, bcl := member("rec-a"), member("rec-b")
	waitMembers(2, a, bcl)
	bID, _ := bcl.GroupMetadata()
	bcl.Close() // leaves: its records get tombstones
	final := waitMembers(1, a)

	// Every record of __consumer_offsets, in offset order per partition.
	ends, err := adm.ListEndOffsets(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]map[int32]kgo.Offset{"__consumer_offsets": {}}
	want := 0
	ends.Each(func(o kadm.ListedOffset) {
		parts["__consumer_offsets"][o.Partition] = kgo.NewOffset().AtStart()
		want += int(o.Offset)
	})
	rd := b.franz(t, kgo.ConsumePartitions(parts))
	var lines []string
	var versions []int16
	for got := 0; got < want; {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of __consumer_offsets", got, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if len(r.Key) < 4 {
				return
			}
			v := int16(binary.BigEndian.Uint16(r.Key))
			glen := int(binary.BigEndian.Uint16(r.Key[2:]))
			if v < 3 || v > 8 || len(r.Key) < 4+glen || string(r.Key[4:4+glen]) != group {
				return
			}
			val := "-"
			if r.Value != nil {
				val = hex.EncodeToString(r.Value)
			}
			lines = append(lines, hex.EncodeToString(r.Key)+" "+val)
			versions = append(versions, v)
		})
	}
	seenVersions := map[int16]bool{}
	for _, v := range versions {
		seenVersions[v] = true
	}
	for v := int16(3); v <= 8; v++ {
		if !seenVersions[v] {
			t.Fatalf("no record of key version %d among %d consumer-group records", v, len(lines))
		}
	}

	res := runJava(t, time.Minute, strings.Join(lines, "\n")+"\n", filepath.Join("testdata", "KafkaGroupRecordDecode.java"))
	if res.exitCode != 0 {
		t.Fatalf("decoder exited %d: %s", res.exitCode, tail(res.stderr, 40))
	}
	out := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(out) != len(lines) {
		t.Fatalf("Kafka decoded %d of %d records:\n%s\n%s", len(out), len(lines), res.stdout, tail(res.stderr, 40))
	}
	names := map[int16]string{3: "ConsumerGroupMetadataKey", 4: "ConsumerGroupPartitionMetadataKey", 5: "ConsumerGroupMemberMetadataKey",
		6: "ConsumerGroupTargetAssignmentMetadataKey", 7: "ConsumerGroupTargetAssignmentMemberKey", 8: "ConsumerGroupCurrentMemberAssignmentKey"}
	last := map[string]string{} // Kafka's key text → its last value text
	var order []string
	for i, o := range out {
		if !strings.HasPrefix(o, "OK same ") {
			t.Fatalf("record %d (%s): Kafka says %s", i, lines[i], o)
		}
		kv := strings.SplitN(strings.TrimPrefix(o, "OK same "), " => ", 2)
		if !strings.HasPrefix(kv[0], names[versions[i]]+"(") {
			t.Fatalf("record %d of key version %d decoded by Kafka as %s", i, versions[i], kv[0])
		}
		if _, ok := last[kv[0]]; !ok {
			order = append(order, kv[0])
		}
		last[kv[0]] = kv[1]
	}
	// The latest records (what compaction keeps) are the group as
	// described: the left member's are tombstones, the remaining
	// member's current assignment has its epoch, the group its epoch.
	am := final.Members[0]
	checks := []struct{ key, value string }{
		{fmt.Sprintf("ConsumerGroupMetadataKey(groupId='%s')", group), fmt.Sprintf("ConsumerGroupMetadataValue(epoch=%d", final.Epoch)},
		{fmt.Sprintf("ConsumerGroupTargetAssignmentMetadataKey(groupId='%s')", group), fmt.Sprintf("ConsumerGroupTargetAssignmentMetadataValue(assignmentEpoch=%d)", final.AssignmentEpoch)},
		{fmt.Sprintf("ConsumerGroupCurrentMemberAssignmentKey(groupId='%s', memberId='%s')", group, am.MemberID), fmt.Sprintf("ConsumerGroupCurrentMemberAssignmentValue(memberEpoch=%d,", am.MemberEpoch)},
		{fmt.Sprintf("ConsumerGroupCurrentMemberAssignmentKey(groupId='%s', memberId='%s')", group, bID), "null"},
		{fmt.Sprintf("ConsumerGroupMemberMetadataKey(groupId='%s', memberId='%s')", group, bID), "null"},
		{fmt.Sprintf("ConsumerGroupTargetAssignmentMemberKey(groupId='%s', memberId='%s')", group, bID), "null"},
	}
	for _, c := range checks {
		v, ok := last[c.key]
		if !ok {
			t.Fatalf("Kafka saw no record %s; keys: %v", c.key, order)
		}
		if !strings.HasPrefix(v, c.value) {
			t.Fatalf("latest %s is %s, want %s…", c.key, v, c.value)
		}
	}
	t.Logf("Kafka 4.1's serde read %d consumer-group records back to identical bytes", len(lines))
}
