package coordinator

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

func sp(s string) *string { return &s }

// consumerRecordSamples are one record of each consumer-group type.
func consumerRecordSamples() []cgRecord {
	id := topicIDOf("t")
	return []cgRecord{
		{cgKey{version: cgMetadataKeyVersion, group: "g"}, cgMetadataValue{epoch: 7}},
		{cgKey{version: cgPartitionMetadataKeyVersion, group: "g"}, cgPartitionMetadataValue{topics: []cgTopicMetadata{{id: id, name: "t", partitions: 3}}}},
		{cgKey{version: cgMemberMetadataKeyVersion, group: "g", member: "m1"}, cgMemberMetadataValue{
			instanceID: sp("i1"), clientID: "c", clientHost: "/h", topicNames: []string{"a", "t"},
			regex: sp("t.*"), rebalanceTimeoutMs: 30000, serverAssignor: sp("uniform"),
		}},
		{cgKey{version: cgMemberMetadataKeyVersion, group: "g", member: "m2"}, cgMemberMetadataValue{
			clientID: "", clientHost: "", topicNames: []string{}, rebalanceTimeoutMs: -1,
		}},
		{cgKey{version: cgTargetAssignmentMetadataKeyVersion, group: "g"}, cgTargetAssignmentMetadataValue{assignmentEpoch: 7}},
		{cgKey{version: cgTargetAssignmentMemberKeyVersion, group: "g", member: "m1"}, cgTargetAssignmentMemberValue{topics: []cgTopicPartitions{{id: id, partitions: []int32{0, 2}}}}},
		{cgKey{version: cgCurrentMemberAssignmentKeyVersion, group: "g", member: "m1"}, cgCurrentMemberAssignmentValue{
			memberEpoch: 7, previousMemberEpoch: 6, state: kafkaMemberUnrevoked,
			assigned:          []cgTopicPartitions{{id: id, partitions: []int32{0}}},
			pendingRevocation: []cgTopicPartitions{{id: id, partitions: []int32{1}}},
		}},
	}
}

func TestConsumerGroupRecordsRoundTrip(t *testing.T) {
	for _, rec := range consumerRecordSamples() {
		key, value := rec.key.encode(), rec.value.(cgValue).encode()
		got, err := decodeCGRecord(key, value)
		if err != nil {
			t.Fatalf("%+v: %v", rec.key, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, rec)
		}
		if !isConsumerGroupKey(key) {
			t.Fatalf("%+v not recognized as a consumer group key", rec.key)
		}
		// A tombstone decodes to its key alone.
		if got, err := decodeCGRecord(key, nil); err != nil || got.value != nil || got.key != rec.key {
			t.Fatalf("tombstone %+v: %+v %v", rec.key, got, err)
		}
	}
}

// TestConsumerGroupRecordsKafkaLayout checks exact bytes against Kafka's
// schemas: a key is int16 version + int16-length strings; a value is
// version 0, compact (length+1) strings and arrays, a tagged-field byte
// after each struct.
func TestConsumerGroupRecordsKafkaLayout(t *testing.T) {
	check := func(name string, got, want []byte) {
		t.Helper()
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got % x\nwant % x", name, got, want)
		}
	}
	check("metadata key", cgKey{version: 3, group: "g"}.encode(), []byte{0, 3, 0, 1, 'g'})
	check("current assignment key", cgKey{version: 8, group: "g", member: "m"}.encode(), []byte{0, 8, 0, 1, 'g', 0, 1, 'm'})
	check("metadata value", cgMetadataValue{epoch: 5}.encode(), []byte{0, 0, 0, 0, 0, 5, 0})
	var id [16]byte
	id[15] = 9
	cur := cgCurrentMemberAssignmentValue{memberEpoch: 2, previousMemberEpoch: 1, state: 2,
		assigned: []cgTopicPartitions{{id: id, partitions: []int32{4}}}, pendingRevocation: []cgTopicPartitions{}}
	want := []byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 2, 2}
	want = append(want, id[:]...)
	want = append(want, 2, 0, 0, 0, 4, 0, 1, 0)
	check("current assignment value", cur.encode(), want)
	mm := cgMemberMetadataValue{rackID: sp("r"), clientID: "c", clientHost: "h", topicNames: []string{"t"}, rebalanceTimeoutMs: 1}
	check("member metadata value", mm.encode(), []byte{0, 0, 0, 2, 'r', 2, 'c', 2, 'h', 2, 2, 't', 0, 0, 0, 0, 1, 0, 0})

	// Tagged fields Kafka may add (ClassicMemberMetadata, the 4.1 metadata
	// hash) are skipped.
	tagged := []byte{0, 0, 0, 0, 0, 5, 1, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}
	if v, err := decodeCGMetadataValue(tagged); err != nil || v.epoch != 5 {
		t.Fatalf("tagged metadata value: %+v %v", v, err)
	}
}

// replayState is every consumer group's image after a fresh load of the
// logs.
func imageOf(t *testing.T, e *env, group string) cgImage {
	t.Helper()
	g, err := e.c.lookup(group, false)
	if err != nil || g == nil {
		t.Fatalf("group %s: %v", group, err)
	}
	defer g.mu.Unlock()
	if g.kind != consumerKind {
		t.Fatalf("group %s is %v", group, g.kind)
	}
	return g.cg.image()
}

// reconciledPair makes group g with members A and B on topic a (6
// partitions), A revoking half (UNREVOKED), B waiting (UNRELEASED).
func reconciledPair(t *testing.T, e *env) (aKept partitionSet) {
	a := e.cgOK(cgJoin("g", "A", "a"))
	e.cgOK(cgJoin("g", "B", "a"))
	r := e.cgOK(cgBeat("g", "A", 1, assigned(a)))
	return assigned(r)
}

func TestConsumerGroupReplayKeepsMembers(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 6)
	kept := reconciledPair(t, e)
	st := kmsg.StringPtr("s1")
	static := cgJoin("g", "S", "a")
	static.InstanceID = st
	e.cgOK(static)
	before := imageOf(t, e, "g")
	aEpoch, aState := memberInfo(e, "g", "A")
	if aState != memberUnrevoked {
		t.Fatalf("A is %v", aState)
	}

	restartWithTopics(e, ft)
	after := imageOf(t, e, "g")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed over a reload:\nbefore %v\nafter  %v", before, after)
	}
	if ep, s := memberInfo(e, "g", "A"); ep != aEpoch || s != memberUnrevoked {
		t.Fatalf("A after reload: epoch %d %v", ep, s)
	}
	noOverlap(t, e, "g")
	if s := e.state("g"); s != Reconciling {
		t.Fatalf("state %v", s)
	}
	// Reconciliation goes on where it stopped: every member, heartbeating
	// with what it was last told, reaches the group epoch with no
	// partition owned twice at any step; the static member is still known
	// by its instance id.
	_ = kept
	settle(t, e, "g", map[string]*string{"S": st})
	for _, id := range []string{"A", "B", "S"} {
		if ep, s := memberInfo(e, "g", id); ep != 3 || s != memberStable {
			t.Fatalf("%s: epoch %d %v", id, ep, s)
		}
	}
	// A describe after the reload reports the same epochs.
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"g"}
	if dg := e.c.ConsumerGroupDescribe(context.Background(), d).Groups[0]; dg.Epoch != 3 || len(dg.Members) != 3 {
		t.Fatalf("describe: epoch %d, %d members", dg.Epoch, len(dg.Members))
	}
}

// settle heartbeats every member of group with its epoch and its current
// partitions until all are stable at the target epoch, checking after
// each heartbeat that no partition is owned twice.
func settle(t *testing.T, e *env, group string, instances map[string]*string) {
	t.Helper()
	for round := 0; round < 20; round++ {
		g, _ := e.c.lookup(group, false)
		type beat struct {
			id    string
			epoch int32
			owned partitionSet
		}
		var beats []beat
		done := true
		for id, m := range g.cg.members {
			beats = append(beats, beat{id, m.epoch, maps.Clone(m.assigned)})
			if m.state != memberStable || m.epoch != g.cg.assignmentEpoch {
				done = false
			}
		}
		g.mu.Unlock()
		if done {
			return
		}
		for _, b := range beats {
			r := cgBeat(group, b.id, b.epoch, b.owned)
			r.InstanceID = instances[b.id]
			e.cgOK(r)
			noOverlap(t, e, group)
		}
	}
	t.Fatalf("group %s does not settle", group)
}

// compact keeps the latest record of every key and drops tombstones, as
// the log cleaner leaves a partition once delete.retention.ms passed.
func compact(l *memLog) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[string]int{}
	for i, r := range l.recs {
		last[string(r.Key)] = i
	}
	var out []Record
	for i, r := range l.recs {
		if last[string(r.Key)] == i && r.Value != nil {
			out = append(out, r)
		}
	}
	l.recs = out
}

func TestConsumerGroupReplayAfterCompaction(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 6)
	reconciledPair(t, e)
	e.cgOK(cgJoin("g", "C", "a"))
	e.cgOK(cgBeat("g", "C", leaveEpoch, nil)) // tombstones for C
	before := imageOf(t, e, "g")
	for _, l := range e.logs {
		compact(l)
	}
	restartWithTopics(e, ft)
	if after := imageOf(t, e, "g"); !reflect.DeepEqual(before, after) {
		t.Fatalf("compaction changed the state:\nbefore %v\nafter  %v", before, after)
	}
	expectCode(t, e.cg(cgBeat("g", "C", 4, nil)).ErrorCode, kerr.UnknownMemberID)
}

func TestConsumerGroupFailedWriteNotApplied(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 4)
	a := e.cgOK(cgJoin("g", "A", "a"))
	log := e.logs[e.c.PartitionFor("g")]
	before := imageOf(t, e, "g")

	log.mu.Lock()
	log.fail = kerr.NotEnoughReplicas
	log.mu.Unlock()
	r := e.cg(cgJoin("g", "B", "a"))
	expectCode(t, r.ErrorCode, kerr.CoordinatorNotAvailable)
	if r.MemberID != nil || r.MemberEpoch != 0 {
		t.Fatalf("a failed join answered member %v epoch %d", deref(r.MemberID), r.MemberEpoch)
	}
	if ep, _ := memberInfo(e, "g", "B"); ep != -100 {
		t.Fatal("B kept after its join failed to be written")
	}
	if now := imageOf(t, e, "g"); !reflect.DeepEqual(before, now) {
		t.Fatal("group changed by a failed write")
	}
	// A leave that cannot be written is not applied either.
	expectCode(t, e.cg(cgBeat("g", "A", leaveEpoch, nil)).ErrorCode, kerr.CoordinatorNotAvailable)
	log.mu.Lock()
	log.fail = errors.New("disk gone")
	log.mu.Unlock()
	expectCode(t, e.cg(cgJoin("g", "B", "a")).ErrorCode, kerr.UnknownServerError)
	log.mu.Lock()
	log.fail = nil
	log.mu.Unlock()

	if r := e.cgOK(cgBeat("g", "A", 1, assigned(a))); r.MemberEpoch != 1 {
		t.Fatalf("A: epoch %d", r.MemberEpoch)
	}
	if r := e.cgOK(cgJoin("g", "B", "a")); r.MemberEpoch != 2 {
		t.Fatalf("B joined at epoch %d, want 2 (the failed joins did not count)", r.MemberEpoch)
	}
}

func TestConsumerGroupSessionTimerFreshAfterLoad(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 2)
	e.cgOK(cgJoin("g", "A", "a"))
	e.cgOK(cgJoin("g", "B", "a"))
	// 40 s of silence, then the coordinator moves: the new one starts
	// both sessions afresh (45 s), as Kafka's does.
	e.clock.Advance(40 * time.Second)
	restartWithTopics(e, ft)
	e.clock.Advance(10 * time.Second)
	if ep, _ := memberInfo(e, "g", "A"); ep < 0 {
		t.Fatal("A fenced 50 s after its last heartbeat but only 10 s after the load")
	}
	// A revokes what B is to get (its revocation timer restarted with
	// the load too) and moves to epoch 2; B stays silent.
	e.cgOK(cgBeat("g", "A", 1, partitionSet{}))
	aEpoch := e.cgOK(cgBeat("g", "A", 1, partitionSet{})).MemberEpoch
	if aEpoch != 2 {
		t.Fatalf("A at epoch %d after revoking", aEpoch)
	}
	e.clock.Advance(40 * time.Second)
	e.cgOK(cgBeat("g", "A", aEpoch, nil))
	if ep, _ := memberInfo(e, "g", "B"); ep != -100 {
		t.Fatal("B not fenced 50 s after the load")
	}
	// The fencing is in the log: another reload does not bring B back.
	restartWithTopics(e, ft)
	if ep, _ := memberInfo(e, "g", "B"); ep != -100 {
		t.Fatal("B back after a reload")
	}
	if ep, _ := memberInfo(e, "g", "A"); ep != 3 {
		t.Fatalf("A epoch %d after B's fencing and a reload, want 3", ep)
	}
	e.cgOK(cgBeat("g", "A", 3, nil))
}

func TestConsumerGroupDeleteWritesTombstones(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 2)
	e.cgOK(cgJoin("g", "A", "a"))
	expectCode(t, e.commit("g", "A", 1, 9, "a", 0, 5, ""), nil_())
	e.cgOK(cgBeat("g", "A", leaveEpoch, nil))
	// Empty but kept: the epoch survives a reload.
	restartWithTopics(e, ft)
	if s := e.state("g"); s != Empty {
		t.Fatalf("state %v", s)
	}
	if r := e.cgOK(cgJoin("g", "A", "a")); r.MemberEpoch != 3 {
		t.Fatalf("rejoin after reload at epoch %d, want 3", r.MemberEpoch)
	}
	e.cgOK(cgBeat("g", "A", leaveEpoch, nil))

	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = []string{"g"}
	if code := e.c.DeleteGroups(context.Background(), req).Groups[0].ErrorCode; code != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
	log := e.logs[e.c.PartitionFor("g")]
	compact(log)
	if len(log.recs) != 0 {
		t.Fatalf("records left after the delete: %d", len(log.recs))
	}
	restartWithTopics(e, ft)
	if s := e.state("g"); s != Dead {
		t.Fatalf("deleted group back as %v", s)
	}
	if r := e.cgOK(cgJoin("g", "A", "a")); r.MemberEpoch != 1 {
		t.Fatalf("new group starts at epoch %d", r.MemberEpoch)
	}
}

// An empty consumer group that turns classic loses its consumer records.
func TestConsumerGroupTurnsClassic(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 2)
	e.cgOK(cgJoin("g", "A", "a"))
	e.cgOK(cgBeat("g", "A", leaveEpoch, nil))
	expectCode(t, e.join(joinReq("g", "", "", 9)).ErrorCode, kerr.MemberIDRequired)
	log := e.logs[e.c.PartitionFor("g")]
	compact(log)
	for _, r := range log.recs {
		if isConsumerGroupKey(r.Key) {
			t.Fatalf("consumer record left: % x", r.Key)
		}
	}
}

func FuzzDecodeConsumerGroupRecord(f *testing.F) {
	for _, rec := range consumerRecordSamples() {
		f.Add(rec.key.encode(), rec.value.(cgValue).encode())
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		rec, err := decodeCGRecord(key, value)
		if err != nil || rec.value == nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := decodeCGRecord(rec.key.encode(), rec.value.(cgValue).encode())
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(rec)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, rec)
		}
	})
}

// normalize makes nil and empty slices compare equal.
func normalize(r cgRecord) cgRecord {
	if v, ok := r.value.(cgMemberMetadataValue); ok && len(v.topicNames) == 0 {
		v.topicNames = nil
		r.value = v
	}
	return r
}

// BenchmarkConsumerGroupCommitNoChange is what a heartbeat that changes
// nothing pays for persistence in a group of 500 members over 2000
// partitions: encoding the group-level records and the heartbeating
// member's, and comparing them with the log's.
func BenchmarkConsumerGroupCommitNoChange(b *testing.B) {
	c := New(DefaultConfig(), Options{Logger: zap.NewNop()})
	defer c.Close()
	g := c.newGroup(&partition{log: &memLog{}}, "g")
	g.kind = consumerKind
	cg := newConsumerGroup(g)
	g.cg = cg
	const members, partitions = 500, 2000
	id := topicIDOf("a")
	cg.epoch, cg.assignmentEpoch = 9, 9
	cg.subscribed["a"] = TopicInfo{ID: id, Partitions: partitions}
	for i := 0; i < members; i++ {
		m := &consumerMember{id: "member-" + strconv.Itoa(i), clientID: "c", clientHost: "/127.0.0.1",
			topicNames: []string{"a"}, epoch: 9, prevEpoch: 8, rebalanceTimeout: 30 * time.Second, assigned: partitionSet{}}
		for p := i; p < partitions; p += members {
			m.assigned.add(id, int32(p))
		}
		cg.members[m.id] = m
		cg.target[m.id] = m.assigned
	}
	if err := cg.commit(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cg.touch("member-" + strconv.Itoa(i%members)) // the heartbeating member
		if err := cg.commit(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// A topic change while no coordinator served the group (here: partitions
// added) starts a new epoch when the partition loads, and it is written.
func TestConsumerGroupTopicChangeWhileUnloaded(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 2)
	e.cgOK(cgJoin("g", "A", "a"))
	e.c.Close()
	ft.set("a", 4)
	restartWithTopics(e, ft)
	r := e.cgOK(cgBeat("g", "A", 1, partitionSet{topicIDOf("a"): {0, 1}}))
	if r.MemberEpoch != 2 || assigned(r).count() != 4 {
		t.Fatalf("after the load: epoch %d %v", r.MemberEpoch, assigned(r))
	}
	noOverlap(t, e, "g")
	restartWithTopics(e, ft)
	if ep, _ := memberInfo(e, "g", "A"); ep != 2 {
		t.Fatalf("epoch %d after another load", ep)
	}
}

// A static member replaced by a new member id with its instance id is
// written as such: after a reload the new id has the old one's partitions
// and the old id is gone.
func TestConsumerGroupStaticReplacementPersisted(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 3)
	s := cgJoin("g", "S1", "a")
	s.InstanceID = kmsg.StringPtr("i")
	owned := assigned(e.cgOK(s))
	leave := cgBeat("g", "S1", staticLeaveEpoch, nil)
	leave.InstanceID = kmsg.StringPtr("i")
	e.cgOK(leave)
	s2 := cgJoin("g", "S2", "a")
	s2.InstanceID = kmsg.StringPtr("i")
	if r := e.cgOK(s2); r.MemberEpoch != 1 || !assigned(r).equal(owned) {
		t.Fatalf("replacement: epoch %d %v", r.MemberEpoch, assigned(r))
	}
	noOverlap(t, e, "g")
	restartWithTopics(e, ft)
	if ep, _ := memberInfo(e, "g", "S1"); ep != -100 {
		t.Fatal("replaced member back after a reload")
	}
	b := cgBeat("g", "S2", 1, owned)
	b.InstanceID = kmsg.StringPtr("i")
	e.cgOK(b)
	noOverlap(t, e, "g")
}

// A classic group that committed offsets, emptied and turned consumer
// keeps those offsets over a reload (its classic record's tombstone comes
// after the offsets in the log).
func TestConsumerGroupFromClassicKeepsOffsetsOverReload(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 1)
	ids, gen := e.formGroup("g", 1)
	expectCode(t, e.commit("g", ids[0], gen, 8, "a", 0, 42, ""), nil_())
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.SetVersion(5)
	lr.Group = "g"
	lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}}
	if r := e.c.LeaveGroup(context.Background(), lr); r.ErrorCode != 0 || r.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v", r)
	}
	e.clock.Advance(time.Minute)
	if s := e.state("g"); s != Empty {
		t.Fatalf("classic group %v after its member left", s)
	}
	e.cgOK(cgJoin("g", "A", "a"))
	restartWithTopics(e, ft)
	if f := e.fetch("g", "a", 0); f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("offsets after the reload: %+v", f)
	}
	if ep, _ := memberInfo(e, "g", "A"); ep != 1 {
		t.Fatalf("A epoch %d after the reload", ep)
	}
}
