package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetRoundTrip(t *testing.T) {
	e := newEnv(t)
	// Unknown group: -1 for each partition asked, no error.
	g := e.fetch("nogroup", "t", 0, 1)
	if g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 2 || g.Topics[0].Partitions[1].Offset != -1 {
		t.Fatalf("%+v", g)
	}
	// Simple-consumer commit creates the group.
	if c := e.commit("simple", "", -1, 8, "t", 3, 42, "meta-data"); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	g = e.fetch("simple", "t", 3, 4)
	p3, p4 := g.Topics[0].Partitions[0], g.Topics[0].Partitions[1]
	if p3.Offset != 42 || *p3.Metadata != "meta-data" || p3.LeaderEpoch != 3 || p4.Offset != -1 {
		t.Fatalf("%+v %+v", p3, p4)
	}
	// All topics when topics is null.
	if c := e.commit("simple", "", -1, 2, "u", 0, 7, ""); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	g = e.fetch("simple", "")
	if len(g.Topics) != 2 || g.Topics[0].Topic != "t" || g.Topics[1].Topic != "u" || g.Topics[1].Partitions[0].LeaderEpoch != -1 {
		t.Fatalf("%+v", g)
	}
	// Metadata too large is refused for that partition.
	if c := e.commit("simple", "", -1, 8, "t", 3, 43, strings.Repeat("x", 4097)); c != kerr.OffsetMetadataTooLarge.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	// A generation for a group that does not exist.
	if c := e.commit("other", "m", 3, 8, "t", 0, 1, ""); c != kerr.IllegalGeneration.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.commit("other", "m", 3, 9, "t", 0, 1, ""); c != kerr.GroupIDNotFound.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	// Single-group OffsetFetch v1 (every partition listed).
	r := kmsg.NewPtrOffsetFetchRequest()
	r.SetVersion(1)
	r.Group = "simple"
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{3}}}
	resp := e.c.OffsetFetch(context.Background(), r, nil, nil)
	if resp.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("%+v", resp)
	}
	// Storage failure maps to a coordinator error.
	e.logs[e.c.PartitionFor("simple")].fail = kerr.NotLeaderForPartition
	if c := e.commit("simple", "", -1, 8, "t", 3, 44, ""); c != kerr.NotCoordinator.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	e.logs[e.c.PartitionFor("simple")].fail = nil
	if o := e.fetch("simple", "t", 3).Topics[0].Partitions[0].Offset; o != 42 {
		t.Fatalf("failed commit applied: %d", o)
	}
}

func TestGroupMemberCommits(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.formGroup("g", 2)
	if c := e.commit("g", ids[1], gen, 8, "t", 0, 10, ""); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.commit("g", "stranger", gen, 8, "t", 0, 10, ""); c != kerr.UnknownMemberID.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.commit("g", ids[1], gen-1, 8, "t", 0, 10, ""); c != kerr.IllegalGeneration.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	// A simple commit to a group with members is refused.
	if c := e.commit("g", "", -1, 8, "t", 0, 10, ""); c != kerr.UnknownMemberID.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
}

func TestReplayRebuildsState(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.formGroup("g", 2)
	if c := e.commit("g", ids[0], gen, 8, "t", 0, 100, "m0"); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.commit("g", ids[0], gen, 8, "t", 0, 101, "m1"); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.commit("gone", "", -1, 8, "t", 0, 5, ""); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"gone"}
	if r := e.c.DeleteGroups(context.Background(), dg); r.Groups[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.Groups[0].ErrorCode))
	}

	e.start() // a new coordinator replays the same logs
	if s := e.state("g"); s != Stable {
		t.Fatalf("state %v", s)
	}
	p := e.fetch("g", "t", 0).Topics[0].Partitions[0]
	if p.Offset != 101 || *p.Metadata != "m1" {
		t.Fatalf("%+v", p)
	}
	if e.state("gone") != Dead {
		t.Fatal("deleted group came back")
	}
	// Members carry on where they were.
	for _, id := range ids {
		if c := e.heartbeat("g", id, "", gen); c != 0 {
			t.Fatal(kerr.ErrorForCode(c))
		}
		if s := recv(t, e.sync("g", id, gen, nil)); s.ErrorCode != 0 || string(s.MemberAssignment) != "assignment-of-"+id {
			t.Fatalf("%v %q", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
		}
	}
	// And a loaded member whose client died still expires.
	e.clock.Advance(11 * time.Second)
	if s := e.state("g"); s != Empty {
		t.Fatalf("state %v", s)
	}
	e.start()
	if s := e.state("g"); s != Empty {
		t.Fatalf("after second replay: %v", s)
	}
}

func TestAdminAPIs(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.formGroup("active", 2)
	if c := e.commit("active", ids[0], gen, 8, "t", 0, 1, ""); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.commit("active", ids[0], gen, 8, "old", 0, 1, ""); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.commit("idle", "", -1, 8, "t", 0, 1, ""); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	ctx := context.Background()

	lg := kmsg.NewPtrListGroupsRequest()
	lg.SetVersion(5)
	if r := e.c.ListGroups(ctx, lg); len(r.Groups) != 2 || r.Groups[0].GroupState != "Stable" || r.Groups[0].GroupType != "classic" {
		t.Fatalf("%+v", r.Groups)
	}
	lg.StatesFilter = []string{"empty"}
	if r := e.c.ListGroups(ctx, lg); len(r.Groups) != 1 || r.Groups[0].Group != "idle" {
		t.Fatalf("%+v", r.Groups)
	}
	lg.StatesFilter, lg.TypesFilter = nil, []string{"consumer"}
	if r := e.c.ListGroups(ctx, lg); len(r.Groups) != 0 {
		t.Fatalf("%+v", r.Groups)
	}

	dr := kmsg.NewPtrDescribeGroupsRequest()
	dr.SetVersion(5)
	dr.Groups = []string{"active", "missing"}
	r := e.c.DescribeGroups(ctx, dr)
	a := r.Groups[0]
	if a.State != "Stable" || a.Protocol != "range" || a.ProtocolType != "consumer" || len(a.Members) != 2 || len(a.Members[0].MemberAssignment) == 0 {
		t.Fatalf("%+v", a)
	}
	if m := r.Groups[1]; m.ErrorCode != 0 || m.State != "Dead" {
		t.Fatalf("%+v", m)
	}
	dr.SetVersion(6)
	if m := e.c.DescribeGroups(ctx, dr).Groups[1]; m.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("%+v", m)
	}

	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"active", "idle", "missing"}
	dres := e.c.DeleteGroups(ctx, dg)
	want := []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code}
	for i, g := range dres.Groups {
		if g.ErrorCode != want[i] {
			t.Fatalf("%s: %v", g.Group, kerr.ErrorForCode(g.ErrorCode))
		}
	}
	if f := e.fetch("idle", "t", 0); f.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("%+v", f)
	}

	// OffsetDelete: the members' assignment metadata ("range" with bytes
	// 0,1) does not decode as a consumer subscription, so the group's
	// subscriptions are unknown: NON_EMPTY_GROUP.
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "active"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "old", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	if r := e.c.OffsetDelete(ctx, od); r.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	od.Group = "missing"
	if r := e.c.OffsetDelete(ctx, od); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestOffsetDeleteSubscribedTopic(t *testing.T) {
	e := newEnv(t)
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Topics = []string{"t"}
	req := joinReq("g", "", "", 3)
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: sub.AppendTo(nil)}}
	ch := e.joinAsync(req)
	e.awaiting("g", 1)
	e.clock.Advance(0)
	r := recv(t, ch)
	if s := recv(t, e.sync("g", r.MemberID, r.Generation, map[string][]byte{r.MemberID: {1}})); s.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(s.ErrorCode))
	}
	for _, topic := range []string{"t", "old"} {
		if c := e.commit("g", r.MemberID, r.Generation, 8, topic, 0, 9, ""); c != 0 {
			t.Fatal(kerr.ErrorForCode(c))
		}
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{
		{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "old", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
	}
	res := e.c.OffsetDelete(context.Background(), od)
	if res.ErrorCode != 0 || res.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code || res.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("%+v", res)
	}
	if f := e.fetch("g", "old", 0); f.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("%+v", f)
	}
	e.start()
	if f := e.fetch("g", "old", 0); f.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("after replay %+v", f)
	}
}

func TestOffsetExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheck = 10 * time.Minute
	})
	if c := e.commit("simple", "", -1, 8, "t", 0, 1, ""); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	e.clock.Advance(30 * time.Minute)
	if c := e.commit("simple", "", -1, 8, "t", 1, 1, ""); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	e.clock.Advance(40 * time.Minute) // partition 0's offset is 70 minutes old
	f := e.fetch("simple", "t", 0, 1)
	if f.Topics[0].Partitions[0].Offset != -1 || f.Topics[0].Partitions[1].Offset != 1 {
		t.Fatalf("%+v", f.Topics[0].Partitions)
	}
	e.clock.Advance(time.Hour)
	if e.state("simple") != Dead {
		t.Fatal("group with no offsets left was kept")
	}
	e.start()
	if e.state("simple") != Dead {
		t.Fatal("expired group came back on replay")
	}
}
