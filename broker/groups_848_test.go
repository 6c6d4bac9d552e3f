package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 through the wire. librdkafka's group.protocol=consumer needs
// librdkafka 2.4+; Debian's 2.0.2 predates it, so it is not tested here.

// overrides848 make KIP-848 tests quick: a short heartbeat interval.
var overrides848 = append([]string{
	"group.consumer.heartbeat.interval.ms=200",
	"group.consumer.min.heartbeat.interval.ms=200",
	"group.consumer.session.timeout.ms=6000",
	"group.consumer.min.session.timeout.ms=6000",
}, groupOverrides...)

func describe848(t *testing.T, tb *testBroker, cl *kgo.Client, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0]
}

// TestKIP848FranzGo runs franz-go's KIP-848 consumer (ServerSideBalancer)
// with members joining and leaving; every record is consumed and the
// committed offsets add up.
func TestKIP848FranzGo(t *testing.T) {
	tb := startTestBroker(t, overrides848...)
	grpTopic(t, tb, "t848", 6)
	tr := &tracker{seen: map[int]int{}}
	grpProduce(t, tb, "t848", 0, 600)
	ssb := kgo.ServerSideBalancer()
	stopA := kgoMember(t, tb, "g848", "t848", tr, ssb)
	waitFor(t, "first records", func() bool { return len(tr.missing(600)) < 600 })
	stopB := kgoMember(t, tb, "g848", "t848", tr, ssb)
	cl := tb.client(t)
	waitFor(t, "two members sharing the partitions", func() bool {
		g := describe848(t, tb, cl, "g848")
		if g.ErrorCode != 0 || len(g.Members) != 2 || g.State != "Stable" {
			return false
		}
		for _, m := range g.Members {
			n := 0
			for _, tp := range m.Assignment.TopicPartitions {
				n += len(tp.Partitions)
			}
			if n != 3 || m.MemberEpoch != g.Epoch {
				return false
			}
		}
		return true
	})
	grpProduce(t, tb, "t848", 600, 600)
	waitFor(t, "second batch", func() bool { return len(tr.missing(1200)) == 0 })
	stopA()
	grpProduce(t, tb, "t848", 1200, 300)
	waitFor(t, "every record after a member left", func() bool { return len(tr.missing(1500)) == 0 })
	g := describe848(t, tb, cl, "g848")
	if len(g.Members) != 1 || g.AssignorName != "uniform" {
		t.Fatalf("after leave: %+v", g)
	}
	stopB()

	// The group is listed as a consumer group; classic DescribeGroups
	// says it is not a classic group, as Kafka does.
	lg := kmsg.NewPtrListGroupsRequest()
	lg.TypesFilter = []string{"consumer"}
	lresp, err := lg.RequestWith(testCtx(t), cl)
	if err != nil || len(lresp.Groups) != 1 || lresp.Groups[0].Group != "g848" || lresp.Groups[0].GroupType != "consumer" {
		t.Fatalf("ListGroups: %v %+v", err, lresp)
	}
	offs, err := tb.admin(t).FetchOffsets(testCtx(t), "g848")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, ps := range offs {
		for _, o := range ps {
			sum += o.At
		}
	}
	if sum != 1500 {
		t.Fatalf("committed offsets add up to %d", sum)
	}
}

// TestKIP848RegexPicksUpNewTopic: a regex subscription is resolved by the
// broker, and a topic created after the consumer started is consumed.
func TestKIP848RegexPicksUpNewTopic(t *testing.T) {
	tb := startTestBroker(t, overrides848...)
	grpTopic(t, tb, "rx-first", 2)
	grpTopic(t, tb, "unrelated", 2)
	grpProduce(t, tb, "rx-first", 0, 100)
	grpProduce(t, tb, "unrelated", 1000, 10)
	tr := &tracker{seen: map[int]int{}}
	kgoMember(t, tb, "grx", "rx-.*", tr, kgo.ServerSideBalancer(), kgo.ConsumeRegex())
	waitFor(t, "rx-first", func() bool { return len(tr.missing(100)) == 0 })

	grpTopic(t, tb, "rx-second", 3)
	grpProduce(t, tb, "rx-second", 100, 100)
	waitFor(t, "rx-second, created after the consumer started", func() bool { return len(tr.missing(200)) == 0 })
	tr.mu.Lock()
	for v := 1000; v < 1010; v++ { // "unrelated" holds 1000..1009
		if tr.seen[v] != 0 {
			t.Errorf("consumed %d from a topic the regex does not match", v)
		}
	}
	tr.mu.Unlock()
	g := describe848(t, tb, tb.client(t), "grx")
	if len(g.Members) != 1 || g.Members[0].SubscribedTopicRegex == nil {
		t.Fatalf("describe: %+v", g)
	}
	topics := map[string]int{}
	for _, tp := range g.Members[0].Assignment.TopicPartitions {
		topics[tp.Topic] = len(tp.Partitions)
	}
	if topics["rx-first"] != 2 || topics["rx-second"] != 3 || len(topics) != 2 {
		t.Fatalf("assignment %v", topics)
	}
}

// TestKIP848RawTwoMembers drives the protocol with raw requests as two
// members: join, revoke-then-assign, fencing, offsets by member epoch.
func TestKIP848RawTwoMembers(t *testing.T) {
	tb := startTestBroker(t, overrides848...)
	grpTopic(t, tb, "raw", 4)
	cl := tb.client(t)
	ctx := testCtx(t)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "graw"
	if _, err := fc.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	hb := func(member string, epoch int32, join bool, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Group, r.MemberID, r.MemberEpoch = "graw", member, epoch
		if join {
			r.RebalanceTimeoutMillis = 10000
			r.SubscribedTopicNames = []string{"raw"}
		}
		r.Topics = owned
		var resp *kmsg.ConsumerGroupHeartbeatResponse
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			if resp, err = r.RequestWith(ctx, cl); err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code && resp.ErrorCode != kerr.NotCoordinator.Code || time.Now().After(deadline) {
				return resp
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ownedOf := func(r *kmsg.ConsumerGroupHeartbeatResponse) []kmsg.ConsumerGroupHeartbeatRequestTopic {
		out := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for _, t := range r.Assignment.Topics {
			out = append(out, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t.TopicID, Partitions: t.Partitions})
		}
		return out
	}
	count := func(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) int {
		n := 0
		for _, t := range ts {
			n += len(t.Partitions)
		}
		return n
	}
	a := hb("member-a", 0, true, []kmsg.ConsumerGroupHeartbeatRequestTopic{})
	if a.ErrorCode != 0 || a.MemberEpoch != 1 || a.HeartbeatIntervalMillis != 200 || count(ownedOf(a)) != 4 {
		t.Fatalf("A joins: %+v", a)
	}
	aOwned := ownedOf(a)
	b := hb("member-b", 0, true, []kmsg.ConsumerGroupHeartbeatRequestTopic{})
	if b.ErrorCode != 0 || b.MemberEpoch != 2 || count(ownedOf(b)) != 0 {
		t.Fatalf("B joins: %+v", b)
	}
	// A is asked to give two partitions up, keeping its epoch.
	r := hb("member-a", 1, false, aOwned)
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || r.Assignment == nil || count(ownedOf(r)) != 2 {
		t.Fatalf("A revoking: %+v", r)
	}
	kept := ownedOf(r)
	// Offsets: A commits with its member epoch; a wrong epoch is stale.
	commit := func(member string, epoch int32) int16 {
		oc := kmsg.NewPtrOffsetCommitRequest()
		oc.Group, oc.MemberID, oc.Generation = "graw", member, epoch
		oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "raw", TopicID: tb.ctrl.Snapshot().Topics["raw"].ID, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5, LeaderEpoch: -1}}}}
		resp, err := oc.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if c := commit("member-a", 1); c != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(c))
	}
	if c := commit("member-a", 7); c != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale commit: %v", kerr.ErrorForCode(c))
	}
	// B gets nothing until A has revoked.
	if r := hb("member-b", 2, false, []kmsg.ConsumerGroupHeartbeatRequestTopic{}); r.Assignment != nil && count(ownedOf(r)) != 0 {
		t.Fatalf("B got partitions A still owns: %+v", r)
	}
	if r := hb("member-a", 1, false, kept); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("A after revoking: %+v", r)
	}
	r = hb("member-b", 2, false, []kmsg.ConsumerGroupHeartbeatRequestTopic{})
	if r.ErrorCode != 0 || r.Assignment == nil || count(ownedOf(r)) != 2 {
		t.Fatalf("B after A revoked: %+v", r)
	}
	if r := hb("member-b", 9, false, nil); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("fencing: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	g := describe848(t, tb, cl, "graw")
	if g.State != "Stable" || g.Epoch != 2 || len(g.Members) != 2 {
		t.Fatalf("describe %+v", g)
	}
	// A classic member cannot join the consumer group.
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.MemberID, jg.ProtocolType = "graw", "x", "consumer"
	jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = 6000, 6000
	jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
	if jr, err := jg.RequestWith(ctx, cl); err != nil || jr.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join: %v %v", err, jr)
	}
	for _, m := range []string{"member-a", "member-b"} {
		if r := hb(m, -1, false, nil); r.ErrorCode != 0 || r.MemberEpoch != -1 {
			t.Fatalf("leave %s: %+v", m, r)
		}
	}
	if g := describe848(t, tb, cl, "graw"); g.State != "Empty" {
		t.Fatalf("after leaving: %+v", g)
	}
}

// TestKIP848RegexMatchesInternalTopic: as Kafka 4's group coordinator, a
// KIP-848 regex is resolved against every topic, internal ones included,
// so a member whose regex matches __consumer_offsets is assigned it.
// franz-go's own consumer cannot show it (it never joins when its regex
// matches only internal topics), so the heartbeats are franz-go's kmsg.
func TestKIP848RegexMatchesInternalTopic(t *testing.T) {
	tb := startTestBroker(t, overrides848...)
	grpTopic(t, tb, "plain", 1)
	cl := tb.client(t)
	ctx := testCtx(t)
	// A commit creates __consumer_offsets.
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "plain", Partition: 0, At: 1, LeaderEpoch: -1})
	if _, err := tb.admin(t).CommitOffsets(ctx, "committer", commit); err != nil {
		t.Fatal(err)
	}
	offsets := tb.ctrl.Snapshot().Topics["__consumer_offsets"]
	if offsets == nil {
		t.Fatal("no __consumer_offsets")
	}
	heartbeat := func(regex string) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Group, r.MemberID, r.MemberEpoch = "regex-"+regex, "member-1", 0
		r.RebalanceTimeoutMillis = 10000
		r.SubscribedTopicRegex = &regex
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		var resp *kmsg.ConsumerGroupHeartbeatResponse
		waitFor(t, "the coordinator", func() bool {
			var err error
			if resp, err = r.RequestWith(ctx, cl); err != nil {
				t.Fatal(err)
			}
			return resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code && resp.ErrorCode != kerr.NotCoordinator.Code
		})
		if resp.ErrorCode != 0 || resp.Assignment == nil {
			t.Fatalf("regex %q: %v %+v", regex, kerr.ErrorForCode(resp.ErrorCode), resp)
		}
		return resp
	}
	assigned := func(resp *kmsg.ConsumerGroupHeartbeatResponse, id [16]byte) int {
		for _, at := range resp.Assignment.Topics {
			if at.TopicID == id {
				return len(at.Partitions)
			}
		}
		return 0
	}
	// Quoted exactly, and through a wider pattern as franz-go writes it.
	for _, re := range []string{"__consumer_offsets", ".*(?:(?:consumer_offsets)).*"} {
		if n := assigned(heartbeat(re), offsets.ID); n != len(offsets.Partitions) {
			t.Errorf("regex %q: %d __consumer_offsets partitions assigned, want %d", re, n, len(offsets.Partitions))
		}
	}
	// The regex matches whole names only.
	if n := assigned(heartbeat("consumer_offsets"), offsets.ID); n != 0 {
		t.Errorf("a regex matching part of the name was assigned %d partitions", n)
	}
}
