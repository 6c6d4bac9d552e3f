package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// leaderState is partition 0 led by broker 1 (broker epoch 7, the fake's
// own epoch) in leader epoch epoch with the given ISR.
func leaderState(epoch int32, replicas, isr []int32) controller.Partition {
	return controller.Partition{Index: 0, Replicas: replicas, ISR: isr, Leader: 1, LeaderEpoch: epoch, LeaderBrokerEpoch: 7}
}

// wait collects one acks=all wait in the background.
func await(w HWWait) (code *int16, done chan error) {
	code, done = new(int16), make(chan error, 1)
	w.ErrCode = code
	go func() { done <- AwaitHW(context.Background(), []HWWait{w}, time.Now().Add(time.Hour)) }()
	return code, done
}

func local(t *testing.T, m *Manager, topic string) *Partition {
	t.Helper()
	p := m.Local(topic, 0)
	if p == nil {
		t.Fatalf("no local replica of %s-0", topic)
	}
	return p
}

// The leader's HW is the minimum log end over the ISR, learnt from the
// followers' fetches (Read with their replica id); a consumer reads up to
// it; an acks=all wait is released by the follower fetch that moves it.
func TestLeaderHighWatermarkOverISR(t *testing.T) {
	md := newFakeMetadata(1, 2, 3)
	m := testManager(t, 1, md)
	md.setPartition("t", leaderState(0, []int32{1, 2, 3}, []int32{1, 2, 3}), nil)
	p := local(t, m, "t")
	if !p.Leads() {
		t.Fatal("broker 1 does not lead")
	}
	_, w, err := p.AppendAsLeader(testBatch("a", 5, 1), LeaderAppend{CheckMinISR: true})
	if err != nil {
		t.Fatal(err)
	}
	if w.Need != 5 {
		t.Fatalf("wait for HW %d, want 5", w.Need)
	}
	code, done := await(w)
	fetch := func(id int32, offset int64) {
		t.Helper()
		_, rr, err := p.Read(ReadOptions{ReplicaID: id, FetchOffset: offset, LastFetchedEpoch: -1, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		rr.Release()
	}
	fetch(2, 5)
	if hw := p.Log().HighWatermark(); hw != 0 {
		t.Fatalf("HW %d while broker 3's position is unknown", hw)
	}
	fetch(3, 3)
	if hw := p.Log().HighWatermark(); hw != 3 {
		t.Fatalf("HW %d, want broker 3's 3", hw)
	}
	select {
	case <-done:
		t.Fatal("acks=all answered below its offset")
	default:
	}
	consume := func() (int64, int64) {
		t.Helper()
		info, rr, err := p.Read(ReadOptions{ReplicaID: -1, LastFetchedEpoch: -1, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer rr.Release()
		return info.HighWatermark, rr.Size
	}
	if hw, n := consume(); hw != 3 || n != 0 {
		t.Fatalf("consumer read below the HW: HW %d, %d bytes (the batch ends above it)", hw, n)
	}
	fetch(3, 5)
	if err := <-done; err != nil || *code != 0 {
		t.Fatalf("after every ISR member fetched: %v, %v", err, kerr.ErrorForCode(*code))
	}
	if hw, n := consume(); hw != 5 || n == 0 {
		t.Fatalf("consumer read: HW %d, %d bytes", hw, n)
	}
}

// An ISR member that stops fetching is removed from the ISR by the
// leader's ISR checks (a compare-and-swap of the partition state), and the
// shrink releases the acks=all wait it was holding back.
func TestISRShrinkReleasesAcksAll(t *testing.T) {
	md := newFakeMetadata(1, 2)
	m := testManager(t, 1, md, "replica.lag.time.max.ms=100", "replica.fetch.wait.max.ms=50")
	md.setPartition("t", leaderState(0, []int32{1, 2}, []int32{1, 2}), nil)
	p := local(t, m, "t")
	_, w, err := p.AppendAsLeader(testBatch("a", 2, 1), LeaderAppend{CheckMinISR: true})
	if err != nil {
		t.Fatal(err)
	}
	code, done := await(w)
	if err := <-done; err != nil || *code != 0 {
		t.Fatalf("after the shrink: %v, %v", err, kerr.ErrorForCode(*code))
	}
	if st := md.partition("t", 0); !slices.Equal(st.ISR, []int32{1}) || st.PartitionEpoch != 1 {
		t.Fatalf("state after the shrink: %+v", st)
	}
	if hw := p.Log().HighWatermark(); hw != 2 {
		t.Fatalf("HW %d, want 2", hw)
	}
}

// min.insync.replicas: an acks=all append is refused while the ISR is
// smaller (others are not), and a wait whose ISR shrinks below it is
// answered NOT_ENOUGH_REPLICAS_AFTER_APPEND.
func TestMinInsyncReplicas(t *testing.T) {
	md := newFakeMetadata(1, 2)
	m := testManager(t, 1, md)
	min2 := map[string]string{"min.insync.replicas": "2"}
	md.setPartition("t", leaderState(0, []int32{1, 2}, []int32{1}), min2)
	p := local(t, m, "t")
	if _, _, err := p.AppendAsLeader(testBatch("a", 1, 1), LeaderAppend{CheckMinISR: true}); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with ISR 1 < 2: %v", err)
	}
	if leo := p.Log().LogEndOffset(); leo != 0 {
		t.Fatalf("refused append wrote: log end %d", leo)
	}
	if _, _, err := p.AppendAsLeader(testBatch("a", 1, 1), LeaderAppend{}); err != nil {
		t.Fatalf("acks=1 with ISR 1 < 2: %v", err)
	}

	st := md.partition("t", 0)
	st.ISR = []int32{1, 2}
	md.setPartition("t", st, nil)
	_, w, err := p.AppendAsLeader(testBatch("b", 1, 1), LeaderAppend{CheckMinISR: true})
	if err != nil {
		t.Fatal(err)
	}
	code, done := await(w)
	st = md.partition("t", 0)
	st.ISR = []int32{1}
	md.setPartition("t", st, nil) // the controller removes broker 2
	if err := <-done; err != nil || kerr.ErrorForCode(*code) != kerr.NotEnoughReplicasAfterAppend {
		t.Fatalf("ISR shrank below min.insync.replicas: %v, %v", err, kerr.ErrorForCode(*code))
	}
}

// The role is checked again at every append: a leader that lost the
// leadership refuses produce appends and answers its pending acks=all
// waits NOT_LEADER_OR_FOLLOWER; follower appends are accepted only for
// the leader and epoch the partition follows now. State naming this
// broker leader under another broker epoch is not led.
func TestRoleRecheckedOnAppend(t *testing.T) {
	md := newFakeMetadata(1, 2)
	m := testManager(t, 1, md)
	md.setPartition("t", leaderState(0, []int32{1, 2}, []int32{1, 2}), nil)
	p := local(t, m, "t")
	_, w, err := p.AppendAsLeader(testBatch("a", 2, 1), LeaderAppend{CheckMinISR: true})
	if err != nil {
		t.Fatal(err)
	}
	code, done := await(w)

	st := md.partition("t", 0)
	st.Leader, st.LeaderEpoch, st.ISR = 2, 1, []int32{2}
	md.setPartition("t", st, nil)
	if err := <-done; err != nil || kerr.ErrorForCode(*code) != kerr.NotLeaderForPartition {
		t.Fatalf("pending acks=all after losing leadership: %v, %v", err, kerr.ErrorForCode(*code))
	}
	if _, _, err := p.AppendAsLeader(testBatch("b", 1, 1), LeaderAppend{}); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("leader append on a follower: %v", err)
	}
	if _, err := m.LeaderFor(md.Snapshot(), "t", 0); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("LeaderFor on a follower: %v", err)
	}
	leo := p.Log().LogEndOffset()
	batch := func() []byte { return buildBatch(t, leo, 1, 1) }
	if ok, err := p.AppendAsFollower(FollowerAppend{Leader: 2, LeaderEpoch: 0, LogEnd: leo, Batches: batch(), LeaderHW: -1, LeaderLogStart: -1}, nil); ok || err != nil {
		t.Fatalf("follower append for an old epoch: %v, %v", ok, err)
	}
	if ok, err := p.AppendAsFollower(FollowerAppend{Leader: 2, LeaderEpoch: 1, LogEnd: leo, Batches: batch(), LeaderHW: leo + 1, LeaderLogStart: -1}, func() bool { return false }); ok || err != nil {
		t.Fatalf("follower append for a fetch state no longer current: %v, %v", ok, err)
	}
	if ok, err := p.AppendAsFollower(FollowerAppend{Leader: 2, LeaderEpoch: 1, LogEnd: leo, Batches: batch(), LeaderHW: leo + 1, LeaderLogStart: -1}, nil); !ok || err != nil {
		t.Fatalf("follower append: %v, %v", ok, err)
	}
	if got, hw := p.Log().LogEndOffset(), p.Log().HighWatermark(); got != leo+1 || hw != leo+1 {
		t.Fatalf("after the follower append: log end %d, HW %d; want %d", got, hw, leo+1)
	}

	// Leadership back, but recorded under another broker epoch.
	st = md.partition("t", 0)
	st.Leader, st.LeaderEpoch, st.LeaderBrokerEpoch = 1, 2, 6
	md.setPartition("t", st, nil)
	if leader, _ := p.State(); leader != -1 {
		t.Fatalf("leader %d on state of another broker epoch", leader)
	}
	if lead := LedPartitions(md.Snapshot(), "t", 1, md.own); len(lead) != 0 {
		t.Fatalf("coordinators would load %v", lead)
	}
	st.LeaderEpoch, st.LeaderBrokerEpoch = 3, 7
	md.setPartition("t", st, nil)
	if _, _, err := p.AppendAsLeader(testBatch("c", 1, 1), LeaderAppend{}); err != nil {
		t.Fatalf("leader append once elected again: %v", err)
	}
	if e := p.Log().LatestEpoch(); e != 3 {
		t.Fatalf("latest epoch in the log %d, want 3", e)
	}
}

// buildBatch is a batch of n records at offset base in leader epoch epoch
// (as a leader wrote it).
func buildBatch(t *testing.T, base int64, epoch int32, n int) []byte {
	t.Helper()
	bb := storage.BatchBuilder{BaseOffset: base, PartitionLeaderEpoch: epoch}
	for i := range n {
		bb.Add(1, nil, fmt.Appendf(nil, "r-%d", i))
	}
	return bb.Build()
}

// A follower truncates by leader epoch before it fetches (KIP-101,
// KIP-279): to the leader's end of an epoch both have, after walking down
// to an epoch both have when the leader lacks the follower's, and to its
// HW only when the leader has no epoch at all; never for a fetch state
// that is no longer current.
func TestFollowerTruncationByLeaderEpoch(t *testing.T) {
	md := newFakeMetadata(2) // the leader, 1, is not registered: no fetcher dials it
	m := testManager(t, 2, md)
	f := &fetcher{m: m, leader: 1, log: zaptest.NewLogger(t), parts: map[*Partition]*fetchPart{}, wake: make(chan struct{}, 1)}
	// follower is a replica of topic following broker 1 in leader epoch
	// 3 whose log holds epoch 0 at 0-4 (one batch) and epoch 2 at 5-7 (a
	// batch each), with HW 5.
	follower := func(topic string) (*Partition, *fetchPart) {
		t.Helper()
		md.setPartition(topic, controller.Partition{Index: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, LeaderBrokerEpoch: 7}, nil)
		p := local(t, m, topic)
		for _, b := range []struct {
			base  int64
			epoch int32
			n     int
		}{{0, 0, 5}, {5, 2, 1}, {6, 2, 1}, {7, 2, 1}} {
			if ok, err := p.AppendAsFollower(FollowerAppend{Leader: 1, LeaderEpoch: 3, LogEnd: b.base, Batches: buildBatch(t, b.base, b.epoch, b.n), LeaderHW: 5, LeaderLogStart: -1}, nil); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		fp := &fetchPart{epoch: 3, askEpoch: -1, startAt: -1}
		f.mu.Lock()
		f.parts[p] = fp
		f.mu.Unlock()
		return p, fp
	}
	check := func(p *Partition, fp *fetchPart, leo int64, truncated bool, ask int32) {
		t.Helper()
		if got := p.Log().LogEndOffset(); got != leo {
			t.Fatalf("%s: log end %d, want %d", p.Topic(), got, leo)
		}
		if fp.truncated != truncated || fp.askEpoch != ask {
			t.Fatalf("%s: truncated %v asking %d, want %v asking %d", p.Topic(), fp.truncated, fp.askEpoch, truncated, ask)
		}
	}

	// The leader has epoch 2 but ends it at 6: offset 7 goes.
	p, fp := follower("same")
	f.resolveTruncation(p, fp, 2, 2, 6)
	check(p, fp, 6, true, -1)

	// The leader never had epoch 2; its largest below is 1, ending at 7.
	// The follower lacks 1 too: it cuts back to the end of its epoch 0
	// (5) and asks again about 0, which the leader ends at 5.
	p, fp = follower("walk")
	f.resolveTruncation(p, fp, 2, 1, 7)
	check(p, fp, 5, false, 0)
	f.resolveTruncation(p, fp, 0, 0, 5)
	check(p, fp, 5, true, -1)

	// The leader has no epoch at or below ours: the HW is the fallback.
	p, fp = follower("noepoch")
	f.resolveTruncation(p, fp, 2, -1, -1)
	check(p, fp, 5, true, -1)

	// A fetch state replaced meanwhile (a new leader epoch) truncates
	// nothing.
	p, fp = follower("stale")
	f.mu.Lock()
	f.parts[p] = &fetchPart{epoch: 4, askEpoch: -1, startAt: -1}
	f.mu.Unlock()
	f.resolveTruncation(p, fp, 2, 2, 6)
	check(p, fp, 8, false, -1)
}

// TestApplySkipsOnlyUnchangedTopics: Apply skips a topic whose metadata
// is the same *controller.Topic as last applied, yet every change — a
// topic's config or partition state, the broker's own epoch — still
// reaches the replicas.
func TestApplySkipsOnlyUnchangedTopics(t *testing.T) {
	md := newFakeMetadata(1)
	m := testManager(t, 1, md)
	md.setPartition("a", leaderState(0, []int32{1}, []int32{1}), nil)
	md.setPartition("b", leaderState(0, []int32{1}, []int32{1}), nil)
	a, b := local(t, m, "a"), local(t, m, "b")
	if !a.Leads() || !b.Leads() {
		t.Fatal("broker 1 does not lead both")
	}
	// a's config changes; b is carried over unchanged.
	md.setPartition("a", leaderState(0, []int32{1}, []int32{1}), map[string]string{"segment.bytes": "2000000"})
	if got := a.Log().Config().SegmentBytes; got != 2000000 {
		t.Fatalf("a's segment.bytes %d after the config change", got)
	}
	if local(t, m, "b") != b || !b.Leads() {
		t.Fatal("b changed by a's update")
	}
	// b's state changes.
	md.setPartition("b", leaderState(3, []int32{1}, []int32{1}), nil)
	if _, epoch := b.State(); epoch != 3 {
		t.Fatalf("b's leader epoch %d, want 3", epoch)
	}
	// The broker's epoch changes: every topic is applied again (both are
	// now fenced: their states name broker epoch 7).
	md.mu.Lock()
	md.own = 8
	md.mu.Unlock()
	md.setPartition("c", leaderState(0, []int32{1}, []int32{1}), nil)
	if a.Leads() || b.Leads() {
		t.Fatal("a replica still leads under another broker epoch")
	}
}
