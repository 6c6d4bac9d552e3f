package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func shareHB(group, member string, epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatRequest {
	r := kmsg.NewPtrShareGroupHeartbeatRequest()
	r.SetVersion(1)
	r.GroupID, r.MemberID, r.MemberEpoch = group, member, epoch
	if topics != nil {
		r.SubscribedTopicNames = topics
	}
	return r
}

func shareAssigned(r *kmsg.ShareGroupHeartbeatResponse) map[[16]byte][]int32 {
	out := map[[16]byte][]int32{}
	for _, t := range r.Assignment.TopicPartitions {
		out[t.TopicID] = t.Partitions
	}
	return out
}

func TestShareGroupHeartbeatAssignsEveryPartition(t *testing.T) {
	e, ft := newConsumerEnv(t)
	ft.set("t", 2)
	ctx := context.Background()
	cl := Client{ID: "c", Host: "/h"}
	r := e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", "m1", 0, "t"))
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || len(shareAssigned(r)[topicIDOf("t")]) != 2 {
		t.Fatalf("first join: %+v", r)
	}
	// Three more members than partitions: every member gets a partition,
	// so partitions are shared.
	var last *kmsg.ShareGroupHeartbeatResponse
	for _, m := range []string{"m2", "m3", "m4"} {
		last = e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", m, 0, "t"))
		if last.ErrorCode != 0 {
			t.Fatalf("join %s: %+v", m, last)
		}
	}
	if last.MemberEpoch != 4 || len(shareAssigned(last)[topicIDOf("t")]) != 1 {
		t.Fatalf("m4: %+v", last)
	}
	// m1 is behind: its next heartbeat brings the new epoch and assignment.
	r = e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", "m1", 1, nil...))
	if r.ErrorCode != 0 || r.MemberEpoch != 4 || r.Assignment == nil || len(shareAssigned(r)[topicIDOf("t")]) != 1 {
		t.Fatalf("m1 catch-up: %+v", r)
	}
	// Unchanged: no assignment sent.
	r = e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", "m1", 4, nil...))
	if r.ErrorCode != 0 || r.Assignment != nil {
		t.Fatalf("steady heartbeat: %+v", r)
	}
	// A stale epoch is fenced; an unknown member is unknown.
	if r = e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", "m1", 3, nil...)); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("stale epoch: %+v", r)
	}
	if r = e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", "nobody", 2, nil...)); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %+v", r)
	}
	// Describe shows four members.
	d := e.c.ShareGroupDescribe(ctx, &kmsg.ShareGroupDescribeRequest{GroupIDs: []string{"g", "none"}})
	if g := d.Groups[0]; g.ErrorCode != 0 || len(g.Members) != 4 || g.GroupState != "Stable" || g.Assignor != "simple" {
		t.Fatalf("describe: %+v", g)
	}
	if d.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe unknown: %+v", d.Groups[1])
	}
	// Leave and session timeout.
	if r = e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", "m2", -1)); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	e.clock.Advance(e.cfg.ShareSessionTimeout + time.Second)
	d = e.c.ShareGroupDescribe(ctx, &kmsg.ShareGroupDescribeRequest{GroupIDs: []string{"g"}})
	if g := d.Groups[0]; len(g.Members) != 0 || g.GroupState != "Empty" {
		t.Fatalf("after timeouts: %+v", g)
	}
	// ListGroups reports it as a share group; DeleteGroups deletes it.
	lg := e.c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"share"}})
	if len(lg.Groups) != 1 || lg.Groups[0].GroupType != "share" || lg.Groups[0].ProtocolType != "share" {
		t.Fatalf("list: %+v", lg.Groups)
	}
	if dg := e.c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Groups: []string{"g"}}); dg.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %+v", dg.Groups[0])
	}
	if e.c.IsShareGroup("g") {
		t.Fatal("deleted share group still there")
	}
}

func TestShareGroupNamespaceAndLimits(t *testing.T) {
	e, ft := newConsumerEnv(t, func(c *Config) { c.ShareMaxGroupSize = 1 })
	ft.set("t", 1)
	ctx := context.Background()
	cl := Client{ID: "c", Host: "/h"}
	// A consumer group with members owns the id.
	if r := e.c.ConsumerGroupHeartbeat(ctx, cl, cgJoin("cg", "x", "t")); r.ErrorCode != 0 {
		t.Fatalf("consumer join: %+v", r)
	}
	if r := e.c.ShareGroupHeartbeat(ctx, cl, shareHB("cg", "m", 0, "t")); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("share join of a consumer group: %+v", r)
	}
	if r := e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", "m1", 0, "t")); r.ErrorCode != 0 {
		t.Fatalf("join: %+v", r)
	}
	if r := e.c.ShareGroupHeartbeat(ctx, cl, shareHB("g", "m2", 0, "t")); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("over group.share.max.size: %+v", r)
	}
	if dg := e.c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Groups: []string{"g"}}); dg.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete non-empty: %+v", dg.Groups[0])
	}
	for _, bad := range []*kmsg.ShareGroupHeartbeatRequest{shareHB("g", "", 0, "t"), shareHB("g", "m3", 0), shareHB("g", "m3", -3)} {
		if r := e.c.ShareGroupHeartbeat(ctx, cl, bad); r.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("invalid %+v: %+v", bad, r)
		}
	}
}
