package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// awaiting waits until n members of group wait in JoinGroup.
func (e *env) awaiting(group string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		g, _ := e.c.lookup(group, false)
		if g != nil {
			c := 0
			for _, m := range g.members {
				if m.joinCh != nil {
					c++
				}
			}
			g.mu.Unlock()
			if c == n {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	e.t.Fatalf("%d members never waited in JoinGroup", n)
}

func (e *env) syncing(group string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		g, _ := e.c.lookup(group, false)
		if g != nil {
			c := 0
			for _, m := range g.members {
				if m.syncCh != nil {
					c++
				}
			}
			g.mu.Unlock()
			if c == n {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	e.t.Fatalf("%d members never waited in SyncGroup", n)
}

// formGroup brings n dynamic members into a Stable group and returns
// their ids (leader first) and the generation.
func (e *env) formGroup(group string, n int) ([]string, int32) {
	e.t.Helper()
	var ids []string
	var chans []<-chan *kmsg.JoinGroupResponse
	for i := 0; i < n; i++ {
		id, ch := e.newMember(group)
		ids = append(ids, id)
		chans = append(chans, ch)
	}
	e.awaiting(group, n)
	e.clock.Advance(0)
	var leader string
	var gen int32
	for _, ch := range chans {
		r := recv(e.t, ch)
		if r.ErrorCode != 0 {
			e.t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if r.LeaderID == r.MemberID {
			leader = r.MemberID
			if len(r.Members) != n {
				e.t.Fatalf("leader got %d members", len(r.Members))
			}
		} else if len(r.Members) != 0 {
			e.t.Fatal("follower got members")
		}
		gen = r.Generation
	}
	assign := map[string][]byte{}
	var syncs []<-chan *kmsg.SyncGroupResponse
	for _, id := range ids {
		assign[id] = []byte("assignment-of-" + id)
		if id != leader {
			syncs = append(syncs, e.sync(group, id, gen, nil))
		}
	}
	e.syncing(group, n-1)
	syncs = append(syncs, e.sync(group, leader, gen, assign))
	for _, ch := range syncs {
		r := recv(e.t, ch)
		if r.ErrorCode != 0 || len(r.MemberAssignment) == 0 {
			e.t.Fatalf("sync: %v %q", kerr.ErrorForCode(r.ErrorCode), r.MemberAssignment)
		}
	}
	if s := e.state(group); s != Stable {
		e.t.Fatalf("state %v", s)
	}
	out := []string{leader}
	for _, id := range ids {
		if id != leader {
			out = append(out, id)
		}
	}
	return out, gen
}

func TestJoinRequiresMemberID(t *testing.T) {
	e := newEnv(t)
	r := e.join(joinReq("g", "", "", 4))
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("v4: %v %q", kerr.ErrorForCode(r.ErrorCode), r.MemberID)
	}
	// v3 and older join at once.
	ch := e.joinAsync(joinReq("g3", "", "", 3))
	e.awaiting("g3", 1)
	e.clock.Advance(0)
	if r := recv(t, ch); r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != r.MemberID {
		t.Fatalf("v3: %+v", r)
	}
	// A pending id that never comes back expires with its session.
	e.clock.Advance(11 * time.Second)
	g, _ := e.c.lookup("g", false)
	n := len(g.pending)
	g.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d pending", n)
	}
}

func TestRebalanceAndFencingErrors(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.formGroup("g", 2)
	leader, follower := ids[0], ids[1]
	if gen != 1 {
		t.Fatalf("generation %d", gen)
	}
	if c := e.heartbeat("g", follower, "", gen); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.heartbeat("g", follower, "", gen+1); c != kerr.IllegalGeneration.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.heartbeat("g", "nobody", "", gen); c != kerr.UnknownMemberID.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.heartbeat("nogroup", "nobody", "", gen); c != kerr.UnknownMemberID.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if r := recv(t, e.sync("g", follower, gen+5, nil)); r.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	// A Stable follower rejoining with the same metadata gets the current
	// generation back without a rebalance.
	r := recv(t, e.joinAsync(joinReq("g", follower, "", 9)))
	if r.ErrorCode != 0 || r.Generation != gen || e.state("g") != Stable {
		t.Fatalf("%+v %v", r, e.state("g"))
	}

	// A third member starts a rebalance: the others learn it from their
	// heartbeats and rejoin.
	third, ch3 := e.newMember("g")
	e.awaiting("g", 1)
	if s := e.state("g"); s != PreparingRebalance {
		t.Fatalf("state %v", s)
	}
	if c := e.heartbeat("g", follower, "", gen); c != kerr.RebalanceInProgress.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if r := recv(t, e.sync("g", follower, gen, nil)); r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	if c := e.commit("g", follower, gen, 8, "t", 0, 5, ""); c != 0 {
		t.Fatalf("commit during PreparingRebalance: %v", kerr.ErrorForCode(c))
	}
	ch1 := e.joinAsync(joinReq("g", leader, "", 9))
	ch2 := e.joinAsync(joinReq("g", follower, "", 9))
	r1, r2, r3 := recv(t, ch1), recv(t, ch2), recv(t, ch3)
	for _, r := range []*kmsg.JoinGroupResponse{r1, r2, r3} {
		if r.ErrorCode != 0 || r.Generation != gen+1 || r.LeaderID != leader {
			t.Fatalf("%+v", r)
		}
	}
	if len(r1.Members) != 3 {
		t.Fatalf("leader got %d members", len(r1.Members))
	}
	// CompletingRebalance: commits are refused until the assignment comes.
	if c := e.commit("g", third, gen+1, 8, "t", 0, 5, ""); c != kerr.RebalanceInProgress.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.heartbeat("g", third, "", gen+1); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	// The leader leaves before assigning: the others must rejoin.
	wait := e.sync("g", follower, gen+1, nil)
	e.syncing("g", 1)
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.SetVersion(5)
	lr.Group = "g"
	lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: leader}, {MemberID: "ghost"}}
	resp := e.c.LeaveGroup(context.Background(), lr)
	if resp.ErrorCode != 0 || resp.Members[0].ErrorCode != 0 || resp.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("%+v", resp)
	}
	if r := recv(t, wait); r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	ch2 = e.joinAsync(joinReq("g", follower, "", 9))
	ch3 = e.joinAsync(joinReq("g", third, "", 9))
	r2, r3 = recv(t, ch2), recv(t, ch3)
	if r2.Generation != gen+2 || r2.LeaderID != r3.LeaderID || (r2.LeaderID != follower && r2.LeaderID != third) {
		t.Fatalf("%+v %+v", r2, r3)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.formGroup("g", 2)
	// Only the leader heartbeats; the follower's session runs out.
	for i := 0; i < 3; i++ {
		e.clock.Advance(3 * time.Second)
		if c := e.heartbeat("g", ids[0], "", gen); c != 0 {
			t.Fatal(kerr.ErrorForCode(c))
		}
	}
	e.clock.Advance(2 * time.Second)
	if s := e.state("g"); s != PreparingRebalance {
		t.Fatalf("state %v", s)
	}
	if c := e.heartbeat("g", ids[1], "", gen); c != kerr.UnknownMemberID.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	ch := e.joinAsync(joinReq("g", ids[0], "", 9))
	r := recv(t, ch)
	if r.ErrorCode != 0 || len(r.Members) != 1 || r.Generation != gen+1 {
		t.Fatalf("%+v", r)
	}
	// Nobody heartbeats: the group ends up Empty.
	e.clock.Advance(11 * time.Second)
	if s := e.state("g"); s != Empty {
		t.Fatalf("state %v", s)
	}
}

func TestRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.formGroup("g", 2)
	ch := e.joinAsync(joinReq("g", ids[0], "", 9)) // the leader forces a rebalance
	e.awaiting("g", 1)
	// The follower keeps heartbeating but never rejoins.
	for i := 0; i < 11; i++ {
		e.clock.Advance(3 * time.Second)
		e.heartbeat("g", ids[1], "", gen)
	}
	r := recv(t, ch)
	if r.ErrorCode != 0 || len(r.Members) != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	_, ch1 := e.newMember("g")
	e.awaiting("g", 1)
	e.clock.Advance(2 * time.Second)
	_, ch2 := e.newMember("g")
	e.awaiting("g", 2)
	e.clock.Advance(1500 * time.Millisecond) // first delay over, a member came: wait again
	if !pending(ch1) {
		t.Fatal("join completed during the initial delay")
	}
	e.clock.Advance(3 * time.Second)
	r1, r2 := recv(t, ch1), recv(t, ch2)
	if r1.Generation != 1 || r2.Generation != 1 {
		t.Fatalf("%+v %+v", r1, r2)
	}
}

func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	e := newEnv(t)
	ch := e.joinAsync(joinReq("g", "", "instance-a", 9)) // static: no MEMBER_ID_REQUIRED
	e.awaiting("g", 1)
	e.clock.Advance(0)
	r := recv(t, ch)
	if r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	oldID, gen := r.MemberID, r.Generation
	if s := recv(t, e.sync("g", oldID, gen, map[string][]byte{oldID: []byte("a")})); s.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(s.ErrorCode))
	}
	// The instance restarts and joins again without its member id.
	r = recv(t, e.joinAsync(joinReq("g", "", "instance-a", 9)))
	if r.ErrorCode != 0 || r.Generation != gen || r.MemberID == oldID || !r.SkipAssignment {
		t.Fatalf("%+v", r)
	}
	if s := e.state("g"); s != Stable {
		t.Fatalf("state %v", s)
	}
	newID := r.MemberID
	if s := recv(t, e.sync("g", newID, gen, nil)); s.ErrorCode != 0 || string(s.MemberAssignment) != "a" {
		t.Fatalf("%v %q", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
	}
	// The old incarnation is fenced.
	if c := e.heartbeat("g", oldID, "instance-a", gen); c != kerr.FencedInstanceID.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.commit("g", oldID, gen, 8, "t", 0, 1, ""); c != kerr.UnknownMemberID.Code {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if c := e.heartbeat("g", newID, "instance-a", gen); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	// Leaving by instance id alone.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.SetVersion(4)
	lr.Group = "g"
	inst := "instance-a"
	lr.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: &inst}}
	if resp := e.c.LeaveGroup(context.Background(), lr); resp.Members[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(resp.Members[0].ErrorCode))
	}
	if s := e.state("g"); s != PreparingRebalance {
		t.Fatalf("state %v", s)
	}
}

func TestJoinValidation(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxGroupSize = 1 })
	req := joinReq("g", "", "", 9)
	req.SessionTimeoutMillis = 10
	if r := e.join(req); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	e.formGroup("g", 1)
	other := joinReq("g", "", "", 9)
	if r := e.join(other); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	e2 := newEnv(t)
	e2.formGroup("g", 1)
	bad := joinReq("g", "", "", 9)
	bad.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin"}}
	if r := e2.join(bad); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	bad = joinReq("g", "", "", 9)
	bad.ProtocolType = "connect"
	if r := e2.join(bad); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	if r := e2.join(joinReq("", "", "", 9)); r.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	// An empty group id is reported before a bad session timeout, as
	// Kafka does (kafka-go's tests rely on it).
	emptyAndBad := joinReq("", "", "", 9)
	emptyAndBad.SessionTimeoutMillis = 10
	if r := e2.join(emptyAndBad); r.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group id with a bad session timeout: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestProtocolSelection(t *testing.T) {
	e := newEnv(t)
	a := joinReq("g", "", "", 3)
	a.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "cooperative-sticky"}, {Name: "range"}}
	b := joinReq("g", "", "", 3)
	b.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}, {Name: "cooperative-sticky"}, {Name: "roundrobin"}}
	c := joinReq("g", "", "", 3)
	c.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin"}, {Name: "range"}}
	cha, chb, chc := e.joinAsync(a), e.joinAsync(b), e.joinAsync(c)
	e.awaiting("g", 3)
	e.clock.Advance(0)
	for _, ch := range []<-chan *kmsg.JoinGroupResponse{cha, chb, chc} {
		if r := recv(t, ch); r.ErrorCode != 0 || *r.Protocol != "range" {
			t.Fatalf("%v %v", kerr.ErrorForCode(r.ErrorCode), r.Protocol)
		}
	}
}

func TestNotCoordinator(t *testing.T) {
	e := newEnv(t)
	p := e.c.PartitionFor("g")
	e.c.Unload(p)
	if r := e.join(joinReq("g", "", "", 9)); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	if g := e.fetch("g", "t", 0); g.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatal(kerr.ErrorForCode(g.ErrorCode))
	}
}

func TestUnloadAnswersWaitingJoins(t *testing.T) {
	e := newEnv(t)
	_, ch := e.newMember("g")
	e.awaiting("g", 1)
	e.c.Unload(e.c.PartitionFor("g"))
	if r := recv(t, ch); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
}
