package coordinator

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"
)

// fakeTopics is a TopicSource the test edits.
type fakeTopics struct {
	mu sync.Mutex
	m  map[string]TopicInfo
}

func topicIDOf(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	id[15] = 0xAA
	return id
}

func (f *fakeTopics) Topics() map[string]TopicInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.m)
}

func (f *fakeTopics) set(name string, partitions int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if partitions < 0 {
		delete(f.m, name)
		return
	}
	f.m[name] = TopicInfo{ID: topicIDOf(name), Partitions: partitions}
}

// newConsumerEnv is newEnv with a topic source.
func newConsumerEnv(t *testing.T, mod ...func(*Config)) (*env, *fakeTopics) {
	cfg := DefaultConfig()
	cfg.NumPartitions = 4
	cfg.InitialRebalanceDelay = 0
	for _, m := range mod {
		m(&cfg)
	}
	ft := &fakeTopics{m: map[string]TopicInfo{}}
	e := &env{t: t, clock: newFakeClock(), logs: map[int32]*memLog{}, cfg: cfg}
	for i := int32(0); i < cfg.NumPartitions; i++ {
		e.logs[i] = &memLog{}
	}
	restartWithTopics(e, ft)
	return e, ft
}

func restartWithTopics(e *env, ft *fakeTopics) {
	if e.c != nil {
		e.c.Close()
	}
	e.c = New(e.cfg, Options{Clock: e.clock, Logger: zaptest.NewLogger(e.t), Topics: ft})
	e.t.Cleanup(e.c.Close)
	for i, l := range e.logs {
		if err := e.c.Load(context.Background(), i, l); err != nil {
			e.t.Fatal(err)
		}
	}
}

func cgJoin(group, member string, topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.SetVersion(1)
	r.Group, r.MemberID, r.MemberEpoch = group, member, 0
	r.RebalanceTimeoutMillis = 30000
	r.SubscribedTopicNames = append([]string{}, topics...)
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return r
}

// cgBeat is a heartbeat reporting owned partitions (nil: not reported).
func cgBeat(group, member string, epoch int32, owned partitionSet) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.SetVersion(1)
	r.Group, r.MemberID, r.MemberEpoch = group, member, epoch
	if owned != nil {
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for t, ps := range owned {
			r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: ps})
		}
	}
	return r
}

func (e *env) cg(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	e.t.Helper()
	return e.c.ConsumerGroupHeartbeat(context.Background(), Client{ID: "cl", Host: "/127.0.0.1"}, req)
}

func (e *env) cgOK(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	e.t.Helper()
	r := e.cg(req)
	if r.ErrorCode != 0 {
		e.t.Fatalf("heartbeat of %s epoch %d: %v (%s)", req.MemberID, req.MemberEpoch, kerr.ErrorForCode(r.ErrorCode), deref(r.ErrorMessage))
	}
	return r
}

func assigned(r *kmsg.ConsumerGroupHeartbeatResponse) partitionSet {
	if r.Assignment == nil {
		return nil
	}
	s := partitionSet{}
	for _, t := range r.Assignment.Topics {
		for _, p := range t.Partitions {
			s.add(t.TopicID, p)
		}
	}
	return s
}

func expectCode(t *testing.T, got int16, want *kerr.Error) {
	t.Helper()
	if got != want.Code {
		t.Fatalf("got %v, want %v", kerr.ErrorForCode(got), want)
	}
}

// noOverlap checks that no partition is owned (assigned or pending
// revocation) by two members.
func noOverlap(t *testing.T, e *env, group string) {
	t.Helper()
	g, _ := e.c.lookup(group, false)
	defer g.mu.Unlock()
	// And that the log holds the whole group: commit's partial encoding
	// of what changed missed nothing.
	if img := g.cg.image(); !maps.EqualFunc(img, g.cg.written, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("the log's records differ from the group:\nlog   %v\ngroup %v", g.cg.written, img)
	}
	seen := map[tpKey]string{}
	for _, m := range g.cg.members {
		for _, s := range []partitionSet{m.assigned, m.pendingRevocation} {
			for tp, ps := range s {
				for _, p := range ps {
					k := tpKey{tp, p}
					if o, ok := seen[k]; ok {
						t.Fatalf("partition %d owned by %s and %s", p, o, m.id)
					}
					seen[k] = m.id
				}
			}
		}
	}
}

// memberInfo is a member's epoch and state under the group lock.
func memberInfo(e *env, group, member string) (int32, memberState) {
	g, _ := e.c.lookup(group, false)
	defer g.mu.Unlock()
	m := g.cg.members[member]
	if m == nil {
		return -100, 0
	}
	return m.epoch, m.state
}

func TestConsumerJoinAssignRevokeThenAssign(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 6)
	a := e.cgOK(cgJoin("g", "A", "a"))
	if a.MemberEpoch != 1 || deref(a.MemberID) != "A" || assigned(a).count() != 6 {
		t.Fatalf("first member: epoch %d id %v assignment %v", a.MemberEpoch, deref(a.MemberID), assigned(a))
	}
	if a.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("heartbeat interval %d", a.HeartbeatIntervalMillis)
	}
	if s := e.state("g"); s != Stable {
		t.Fatalf("state %v", s)
	}
	aOwned := assigned(a)

	// B joins: its target partitions are still A's, so it gets none yet.
	b := e.cgOK(cgJoin("g", "B", "a"))
	if b.MemberEpoch != 2 || assigned(b).count() != 0 {
		t.Fatalf("B: epoch %d assignment %v", b.MemberEpoch, assigned(b))
	}
	if _, st := memberInfo(e, "g", "B"); st != memberUnreleased {
		t.Fatalf("B state %v", st)
	}
	if s := e.state("g"); s != Reconciling {
		t.Fatalf("state %v", s)
	}
	noOverlap(t, e, "g")

	// A is asked to revoke half; it keeps epoch 1 until it has.
	r := e.cgOK(cgBeat("g", "A", 1, aOwned))
	if r.MemberEpoch != 1 || assigned(r).count() != 3 {
		t.Fatalf("A revoking: epoch %d assignment %v", r.MemberEpoch, assigned(r))
	}
	if _, st := memberInfo(e, "g", "A"); st != memberUnrevoked {
		t.Fatalf("A state %v", st)
	}
	kept := assigned(r)
	// Still owning the revoked partitions: nothing moves, and B still
	// gets nothing.
	r = e.cgOK(cgBeat("g", "A", 1, aOwned))
	if r.MemberEpoch != 1 {
		t.Fatalf("A moved on before revoking: epoch %d", r.MemberEpoch)
	}
	if r = e.cgOK(cgBeat("g", "B", 2, partitionSet{})); assigned(r).count() != 0 && r.Assignment != nil {
		t.Fatalf("B got partitions A still owns: %v", assigned(r))
	}
	noOverlap(t, e, "g")

	// A revokes: it moves to epoch 2; then B gets the released partitions.
	r = e.cgOK(cgBeat("g", "A", 1, kept))
	if r.MemberEpoch != 2 {
		t.Fatalf("A after revoking: epoch %d", r.MemberEpoch)
	}
	r = e.cgOK(cgBeat("g", "B", 2, partitionSet{}))
	bs := assigned(r)
	if bs.count() != 3 || bs.intersects(kept) {
		t.Fatalf("B assignment %v (A keeps %v)", bs, kept)
	}
	if s := e.state("g"); s != Stable {
		t.Fatalf("state %v", s)
	}
	noOverlap(t, e, "g")

	// A keepalive heartbeat (nothing but id and epoch) gets no assignment.
	r = e.cgOK(cgBeat("g", "A", 2, nil))
	if r.Assignment != nil {
		t.Fatalf("keepalive got an assignment")
	}
}

func TestConsumerSessionExpiryAndLeave(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 4)
	a := e.cgOK(cgJoin("g", "A", "a"))
	aOwned := assigned(a)
	e.cgOK(cgJoin("g", "B", "a"))
	r := e.cgOK(cgBeat("g", "A", 1, aOwned)) // asked to revoke
	r = e.cgOK(cgBeat("g", "A", 1, assigned(r)))
	aOwned = assigned(r)
	r = e.cgOK(cgBeat("g", "B", 2, partitionSet{}))
	if assigned(r).count() != 2 {
		t.Fatalf("B %v", assigned(r))
	}

	// B stops heartbeating; A goes on.
	e.clock.Advance(30 * time.Second)
	e.cgOK(cgBeat("g", "A", 2, aOwned))
	e.clock.Advance(20 * time.Second)
	r = e.cgOK(cgBeat("g", "A", 2, aOwned))
	if r.MemberEpoch != 3 || assigned(r).count() != 4 {
		t.Fatalf("after B's session expired A has epoch %d, %v", r.MemberEpoch, assigned(r))
	}
	expectCode(t, e.cg(cgBeat("g", "B", 2, nil)).ErrorCode, kerr.UnknownMemberID)

	// A leaves: the group is empty.
	r = e.cgOK(cgBeat("g", "A", leaveEpoch, nil))
	if r.MemberEpoch != leaveEpoch {
		t.Fatalf("leave epoch %d", r.MemberEpoch)
	}
	if s := e.state("g"); s != Empty {
		t.Fatalf("state %v", s)
	}
	expectCode(t, e.cg(cgBeat("g", "A", leaveEpoch, nil)).ErrorCode, kerr.UnknownMemberID)
}

func TestConsumerFencing(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 2)
	a := e.cgOK(cgJoin("g", "A", "a"))
	owned := assigned(a)
	expectCode(t, e.cg(cgBeat("g", "A", 2, owned)).ErrorCode, kerr.FencedMemberEpoch)
	expectCode(t, e.cg(cgBeat("g", "nobody", 1, nil)).ErrorCode, kerr.UnknownMemberID)
	expectCode(t, e.cg(cgBeat("nogroup", "A", 1, nil)).ErrorCode, kerr.UnknownMemberID)

	// B joins and A is moved to epoch 2 after revoking; a heartbeat at the
	// previous epoch with a subset of the assignment is accepted (the
	// response that moved it may have been lost), one without owned
	// partitions or with partitions it lost is fenced.
	e.cgOK(cgJoin("g", "B", "a"))
	r := e.cgOK(cgBeat("g", "A", 1, owned))
	kept := assigned(r)
	r = e.cgOK(cgBeat("g", "A", 1, kept))
	if r.MemberEpoch != 2 {
		t.Fatalf("epoch %d", r.MemberEpoch)
	}
	if r = e.cgOK(cgBeat("g", "A", 1, kept)); r.MemberEpoch != 2 {
		t.Fatalf("previous epoch: %d", r.MemberEpoch)
	}
	expectCode(t, e.cg(cgBeat("g", "A", 1, nil)).ErrorCode, kerr.FencedMemberEpoch)
	expectCode(t, e.cg(cgBeat("g", "A", 1, owned)).ErrorCode, kerr.FencedMemberEpoch)

	// A fenced member rejoins with epoch 0 and the same id, in place.
	r = e.cgOK(cgJoin("g", "A", "a"))
	if r.MemberEpoch != 2 || !assigned(r).equal(kept) {
		t.Fatalf("rejoin: epoch %d %v", r.MemberEpoch, assigned(r))
	}
}

func TestConsumerRevocationTimeoutFences(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 2)
	e.cgOK(cgJoin("g", "A", "a"))
	j := cgJoin("g", "B", "a")
	e.cgOK(j)
	r := e.cgOK(cgBeat("g", "A", 1, nil)) // asked to revoke
	if _, st := memberInfo(e, "g", "A"); st != memberUnrevoked {
		t.Fatalf("A state %v", st)
	}
	_ = r
	// A heartbeats but never revokes: after its rebalance timeout (30s)
	// it is fenced and B gets everything.
	for i := 0; i < 3; i++ {
		e.clock.Advance(10 * time.Second)
		e.cg(cgBeat("g", "A", 1, nil))
		e.cgOK(cgBeat("g", "B", 2, nil))
	}
	expectCode(t, e.cg(cgBeat("g", "A", 1, nil)).ErrorCode, kerr.UnknownMemberID)
	ep, _ := memberInfo(e, "g", "B")
	full := cgBeat("g", "B", ep, partitionSet{})
	full.RebalanceTimeoutMillis, full.SubscribedTopicNames = 30000, []string{"a"}
	r = e.cgOK(full)
	if assigned(r).count() != 2 {
		t.Fatalf("B after A was fenced: %v", assigned(r))
	}
}

func TestConsumerRegexPicksUpNewTopic(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("orders-eu", 2)
	ft.set("xorders-us", 2) // the regex must match the whole name
	ft.set("other", 3)
	j := cgJoin("g", "A")
	j.SubscribedTopicNames = nil
	re := "orders-.*"
	j.SubscribedTopicRegex = &re
	r := e.cgOK(j)
	got := assigned(r)
	if got.count() != 2 || len(got[topicIDOf("orders-eu")]) != 2 {
		t.Fatalf("regex assignment %v", got)
	}

	// A topic created after the consumer started is picked up.
	ft.set("orders-us", 3)
	e.c.TopicsChanged(ft.Topics())
	r = e.cgOK(cgBeat("g", "A", r.MemberEpoch, got))
	got = assigned(r)
	if r.MemberEpoch != 2 || got.count() != 5 || len(got[topicIDOf("orders-us")]) != 3 {
		t.Fatalf("after new topic: epoch %d %v", r.MemberEpoch, got)
	}
	// More partitions too.
	ft.set("orders-us", 4)
	e.c.TopicsChanged(ft.Topics())
	r = e.cgOK(cgBeat("g", "A", r.MemberEpoch, got))
	if r.MemberEpoch != 3 || assigned(r).count() != 6 {
		t.Fatalf("after new partition: epoch %d %v", r.MemberEpoch, assigned(r))
	}
	// An unrelated topic changes nothing.
	ft.set("unrelated", 1)
	e.c.TopicsChanged(ft.Topics())
	if r = e.cgOK(cgBeat("g", "A", r.MemberEpoch, nil)); r.MemberEpoch != 3 {
		t.Fatalf("unrelated topic bumped the epoch to %d", r.MemberEpoch)
	}

	d := e.c.ConsumerGroupDescribe(context.Background(), &kmsg.ConsumerGroupDescribeRequest{Version: 1, Groups: []string{"g"}})
	dg := d.Groups[0]
	if dg.ErrorCode != 0 || dg.Epoch != 3 || dg.AssignmentEpoch != 3 || dg.AssignorName != "uniform" || len(dg.Members) != 1 ||
		deref(dg.Members[0].SubscribedTopicRegex) != re || dg.Members[0].MemberType != 1 || dg.State != "Stable" {
		t.Fatalf("describe: %+v", dg)
	}
	names := map[string]int{}
	for _, tp := range dg.Members[0].Assignment.TopicPartitions {
		names[tp.Topic] = len(tp.Partitions)
	}
	if names["orders-eu"] != 2 || names["orders-us"] != 4 || len(names) != 2 {
		t.Fatalf("described assignment %v", names)
	}
}

func TestConsumerHeartbeatValidation(t *testing.T) {
	e, ft := newConsumerEnv(t, func(c *Config) { c.ConsumerMaxGroupSize = 1 })
	ft.set("a", 1)
	j := cgJoin("g", "A", "a")
	j.RebalanceTimeoutMillis = -1
	expectCode(t, e.cg(j).ErrorCode, kerr.InvalidRequest)
	j = cgJoin("g", "A", "a")
	j.Topics = nil
	expectCode(t, e.cg(j).ErrorCode, kerr.InvalidRequest)
	j = cgJoin("g", "A")
	j.SubscribedTopicNames = nil
	expectCode(t, e.cg(j).ErrorCode, kerr.InvalidRequest)
	expectCode(t, e.cg(cgJoin("g", "", "a")).ErrorCode, kerr.InvalidRequest) // v1 needs a member id
	j = cgJoin("g", "A", "a")
	bad := "sticky"
	j.ServerAssignor = &bad
	expectCode(t, e.cg(j).ErrorCode, kerr.UnsupportedAssignor)
	j = cgJoin("g", "A", "a")
	re := "a("
	j.SubscribedTopicRegex = &re
	expectCode(t, e.cg(j).ErrorCode, kerr.InvalidRegularExpression)
	expectCode(t, e.cg(cgBeat("g", "A", -3, nil)).ErrorCode, kerr.InvalidRequest)
	expectCode(t, e.cg(cgBeat("g", "A", staticLeaveEpoch, nil)).ErrorCode, kerr.InvalidRequest) // no instance id

	// v0: the coordinator makes the member id.
	j = cgJoin("g", "", "a")
	j.SetVersion(0)
	r := e.cgOK(j)
	if deref(r.MemberID) == "" || r.MemberEpoch != 1 {
		t.Fatalf("v0 join: %v %d", deref(r.MemberID), r.MemberEpoch)
	}
	expectCode(t, e.cg(cgJoin("g", "B", "a")).ErrorCode, kerr.GroupMaxSizeReached)
}

func TestConsumerAndClassicGroupsConflict(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 1)
	// A classic group with a member: a consumer-protocol join is refused.
	e.formGroup("classic", 1)
	expectCode(t, e.cg(cgJoin("classic", "A", "a")).ErrorCode, kerr.GroupIDNotFound)

	// A consumer group with a member: a classic join is refused.
	e.cgOK(cgJoin("new", "A", "a"))
	jr := e.join(joinReq("new", "", "", 9))
	expectCode(t, jr.ErrorCode, kerr.InconsistentGroupProtocol)
	expectCode(t, e.heartbeat("new", "A", "", 1), kerr.UnknownMemberID)

	// Once empty, the consumer group can turn classic, and an empty
	// classic group (here: offsets only) can turn consumer.
	e.cgOK(cgBeat("new", "A", leaveEpoch, nil))
	jr = e.join(joinReq("new", "", "", 9))
	expectCode(t, jr.ErrorCode, kerr.MemberIDRequired)
	expectCode(t, e.commit("simple", "", -1, 9, "a", 0, 7, ""), nil_())
	e.cgOK(cgJoin("simple", "A", "a"))
	if f := e.fetch("simple", "a", 0); f.Topics[0].Partitions[0].Offset != 7 {
		t.Fatalf("offsets lost on switching protocol: %+v", f)
	}

	lg := e.c.ListGroups(context.Background(), &kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}})
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "simple" || lg.Groups[0].GroupType != "consumer" || lg.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("ListGroups consumer: %+v", lg.Groups)
	}
	dg := e.c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"simple"}})
	if dg.Groups[0].State != "Dead" {
		t.Fatalf("DescribeGroups of a consumer group: %+v", dg.Groups[0])
	}
	cd := e.c.ConsumerGroupDescribe(context.Background(), &kmsg.ConsumerGroupDescribeRequest{Version: 1, Groups: []string{"classic", "none"}})
	expectCode(t, cd.Groups[0].ErrorCode, kerr.GroupIDNotFound)
	expectCode(t, cd.Groups[1].ErrorCode, kerr.GroupIDNotFound)
}

// nil_ is "no error" for expectCode.
func nil_() *kerr.Error { return &kerr.Error{Code: 0} }

func TestConsumerOffsetsUseMemberEpoch(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 1)
	e.cgOK(cgJoin("g", "A", "a"))
	expectCode(t, e.commit("g", "A", 1, 9, "a", 0, 10, "md"), nil_())
	expectCode(t, e.commit("g", "A", 2, 9, "a", 0, 11, ""), kerr.StaleMemberEpoch)
	expectCode(t, e.commit("g", "B", 1, 9, "a", 0, 11, ""), kerr.UnknownMemberID)
	expectCode(t, e.commit("g", "", -1, 9, "a", 0, 11, ""), kerr.UnknownMemberID) // admin commit to an active group
	expectCode(t, e.commit("g", "A", 1, 8, "a", 0, 11, ""), kerr.UnsupportedVersion)

	fetch := func(member string, epoch int32) kmsg.OffsetFetchResponseGroup {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.SetVersion(9)
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberID, rg.MemberEpoch = "g", &member, epoch
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "a", Partitions: []int32{0}}}
		r.Groups = []kmsg.OffsetFetchRequestGroup{rg}
		return e.c.OffsetFetch(context.Background(), r, nil, nil).Groups[0]
	}
	if f := fetch("A", 1); f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 10 {
		t.Fatalf("fetch %+v", f)
	}
	expectCode(t, fetch("A", 5).ErrorCode, kerr.StaleMemberEpoch)
	expectCode(t, fetch("B", 1).ErrorCode, kerr.UnknownMemberID)
	if f := e.fetch("g", "a", 0); f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 10 { // admin
		t.Fatalf("admin fetch %+v", f)
	}

	// Coordinator failover: the member and its epoch are replayed from
	// the log, so it goes on committing with epoch 1; a new member joins
	// at the next epoch.
	restartWithTopics(e, ft)
	e.cgOK(cgBeat("g", "A", 1, partitionSet{topicIDOf("a"): {0}}))
	expectCode(t, e.commit("g", "A", 1, 9, "a", 0, 12, ""), nil_())
	r := e.cgOK(cgJoin("g", "A2", "a"))
	if r.MemberEpoch != 2 || assigned(r).count() != 0 {
		t.Fatalf("join after failover: %d %v", r.MemberEpoch, assigned(r))
	}
	if f := fetch("A", 1); f.Topics[0].Partitions[0].Offset != 12 {
		t.Fatalf("offset after failover %+v", f)
	}
}

func TestConsumerStaticMember(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 4)
	inst := "i1"
	j := cgJoin("g", "S1", "a")
	j.InstanceID = &inst
	r := e.cgOK(j)
	s1 := assigned(r)
	e.cgOK(cgJoin("g", "D", "a"))
	r = e.cgOK(cgBeat("g", "S1", 1, s1))
	s1 = assigned(r)
	if r = e.cgOK(cgBeat("g", "S1", 1, s1)); r.MemberEpoch != 2 || s1.count() != 2 {
		t.Fatalf("S1: epoch %d %v", r.MemberEpoch, s1)
	}
	e.cgOK(cgBeat("g", "D", 2, partitionSet{}))

	// Another process with the same instance id cannot join while S1 is in.
	j2 := cgJoin("g", "S2", "a")
	j2.InstanceID = &inst
	expectCode(t, e.cg(j2).ErrorCode, kerr.UnreleasedInstanceID)
	// Nor heartbeat as it.
	hb := cgBeat("g", "S2", 2, nil)
	hb.InstanceID = &inst
	expectCode(t, e.cg(hb).ErrorCode, kerr.FencedInstanceID)

	// S1 leaves temporarily (-2): no rebalance; S2 takes over its
	// partitions at once.
	l := cgBeat("g", "S1", 2, nil)
	l.MemberEpoch = staticLeaveEpoch
	l.InstanceID = &inst
	if r = e.cgOK(l); r.MemberEpoch != staticLeaveEpoch {
		t.Fatalf("static leave epoch %d", r.MemberEpoch)
	}
	r = e.cgOK(j2)
	if r.MemberEpoch != 2 || !assigned(r).equal(s1) {
		t.Fatalf("static rejoin: epoch %d %v, was %v", r.MemberEpoch, assigned(r), s1)
	}
	g, _ := e.c.lookup("g", false)
	epoch := g.cg.epoch
	g.mu.Unlock()
	if epoch != 2 {
		t.Fatalf("static rejoin bumped the group epoch to %d", epoch)
	}

	// A static member that leaves and never comes back is removed after
	// the session timeout.
	l.MemberID = "S2"
	e.cgOK(l)
	e.clock.Advance(20 * time.Second)
	e.cgOK(cgBeat("g", "D", 2, nil))
	e.clock.Advance(30 * time.Second)
	r = e.cgOK(cgBeat("g", "D", 2, nil))
	if r.MemberEpoch != 3 || assigned(r).count() != 4 {
		t.Fatalf("D after the static member expired: %v", assigned(r))
	}
}

func TestConsumerRangeAssignor(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("a", 3)
	ft.set("b", 3)
	rng := "range"
	j := cgJoin("g", "A", "a", "b")
	j.ServerAssignor = &rng
	a := e.cgOK(j)
	j = cgJoin("g", "B", "a", "b")
	j.ServerAssignor = &rng
	e.cgOK(j)
	r := e.cgOK(cgBeat("g", "A", a.MemberEpoch, assigned(a)))
	want := partitionSet{topicIDOf("a"): {0, 1}, topicIDOf("b"): {0, 1}}
	if !assigned(r).equal(want) {
		t.Fatalf("range A: %v", assigned(r))
	}
	e.cgOK(cgBeat("g", "A", 1, want))
	r = e.cgOK(cgBeat("g", "B", 2, partitionSet{}))
	want = partitionSet{topicIDOf("a"): {2}, topicIDOf("b"): {2}}
	if !assigned(r).equal(want) {
		t.Fatalf("range B: %v", assigned(r))
	}
}

func TestUniformAssignorBalancedAndSticky(t *testing.T) {
	ta, tb := topicIDOf("a"), topicIDOf("b")
	spec := assignSpec{partitions: map[[16]byte]int32{ta: 7, tb: 5}}
	ids := []string{"m1", "m2", "m3"}
	for _, id := range ids {
		spec.members = append(spec.members, assignMember{id: id, topics: [][16]byte{ta, tb}})
	}
	check := func(out map[string]partitionSet, n int) {
		t.Helper()
		total, lo, hi := 0, 1<<30, 0
		seen := map[tpKey]bool{}
		for _, s := range out {
			c := s.count()
			total += c
			lo, hi = min(lo, c), max(hi, c)
			for tp, ps := range s {
				for _, p := range ps {
					if seen[tpKey{tp, p}] {
						t.Fatalf("partition given twice")
					}
					seen[tpKey{tp, p}] = true
				}
			}
		}
		if total != 12 || hi-lo > 1 || len(out) != n {
			t.Fatalf("unbalanced: total %d, %d..%d over %d", total, lo, hi, len(out))
		}
	}
	first := assignUniform(spec)
	check(first, 3)
	// A fourth member: only what it needs moves.
	spec.current = first
	spec.members = append(spec.members, assignMember{id: "m4", topics: [][16]byte{ta, tb}})
	second := assignUniform(spec)
	check(second, 4)
	moved := 0
	for _, id := range ids {
		for tp, ps := range first[id] {
			for _, p := range ps {
				if !second[id].contains(tp, p) {
					moved++
				}
			}
		}
	}
	if moved != second["m4"].count() {
		t.Fatalf("moved %d partitions, the new member has %d", moved, second["m4"].count())
	}
	// Same input, same output.
	if again := assignUniform(spec); !slices.EqualFunc(ids, ids, func(a, _ string) bool { return again[a].equal(second[a]) }) {
		t.Fatalf("not deterministic")
	}
	// Heterogeneous: m5 only subscribes to b.
	spec.current = second
	spec.members = append(spec.members, assignMember{id: "m5", topics: [][16]byte{tb}})
	third := assignUniform(spec)
	for tp := range third["m5"] {
		if tp != tb {
			t.Fatalf("m5 got a topic it does not subscribe to")
		}
	}
	if third["m5"].count() < 2 {
		t.Fatalf("m5 got %d", third["m5"].count())
	}
}

// fakeGroupConfigs is a GroupConfigSource the test edits.
type fakeGroupConfigs struct {
	mu sync.Mutex
	m  map[string][2]time.Duration // group → session, heartbeat
}

func (f *fakeGroupConfigs) ConsumerGroupTimeouts(group string) (time.Duration, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.m[group]
	return v[0], v[1]
}

func (f *fakeGroupConfigs) set(group string, session, heartbeat time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[group] = [2]time.Duration{session, heartbeat}
}

// A group's own consumer.session.timeout.ms and
// consumer.heartbeat.interval.ms (config resource GROUP) replace the
// broker's from the next heartbeat on; other groups keep the broker's.
func TestConsumerGroupConfigOverrides(t *testing.T) {
	e, ft := newConsumerEnv(t)
	gc := &fakeGroupConfigs{m: map[string][2]time.Duration{}}
	e.c.Close()
	e.c = New(e.cfg, Options{Clock: e.clock, Logger: zaptest.NewLogger(e.t), Topics: ft, GroupConfigs: gc})
	t.Cleanup(e.c.Close)
	for i, l := range e.logs {
		if err := e.c.Load(context.Background(), i, l); err != nil {
			t.Fatal(err)
		}
	}
	ft.set("a", 2)

	if r := e.cgOK(cgJoin("tuned", "A", "a")); r.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("broker heartbeat interval %d", r.HeartbeatIntervalMillis)
	}
	gc.set("tuned", 3*time.Second, 1500*time.Millisecond)
	r := e.cgOK(cgBeat("tuned", "A", 1, nil))
	if r.HeartbeatIntervalMillis != 1500 {
		t.Fatalf("group heartbeat interval %d", r.HeartbeatIntervalMillis)
	}
	if r := e.cgOK(cgJoin("plain", "P", "a")); r.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("other group's heartbeat interval %d", r.HeartbeatIntervalMillis)
	}
	// A's session, scheduled by its last heartbeat, is the group's 3 s;
	// P's is the broker's 45 s.
	e.clock.Advance(4 * time.Second)
	expectCode(t, e.cg(cgBeat("tuned", "A", 1, nil)).ErrorCode, kerr.UnknownMemberID)
	e.cgOK(cgBeat("plain", "P", 1, nil))
}
