package broker

import (
	"context"
	"testing"
	"time"

	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
)

// hwReplica is a leader replica (broker 1) of a fresh log whose ISR also
// holds broker 2 — a state the metadata cannot produce until replication
// exists, so it is built by hand.
func hwReplica(t *testing.T) *replica {
	t.Helper()
	m, err := storage.OpenManager(storage.ManagerOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	l, err := m.GetOrCreate("hw", 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &replica{
		topic: "hw", log: l, leader: 1, leaderEpoch: 0,
		replicas: []int32{1, 2}, isr: []int32{1, 2}, minInsync: 1,
		visible: make(chan struct{}),
	}
}

func appendTo(t *testing.T, r *replica, n int) int64 {
	t.Helper()
	r.appendMu.Lock()
	defer r.appendMu.Unlock()
	res, err := r.log.Append(testBatch("x", n, 1), storage.AppendOptions{AssignOffsets: true})
	if err != nil {
		t.Fatal(err)
	}
	r.advanceHWLocked(1)
	return res.LastOffset
}

// The HW is the minimum log end over the ISR and only moves up.
func TestHighWatermarkFollowsISR(t *testing.T) {
	r := hwReplica(t)
	appendTo(t, r, 3)
	if hw := r.log.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d with the follower at an unknown offset", hw)
	}
	r.recordFollowerFetch(1, 3, 3) // broker 3 holds no replica: ignored
	if hw := r.log.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d after a non-replica's fetch", hw)
	}
	ch := r.changed()
	r.recordFollowerFetch(1, 2, 2)
	if hw := r.log.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d, want the follower's 2", hw)
	}
	select {
	case <-ch:
	default:
		t.Fatal("an HW advance did not wake waiters")
	}
	r.recordFollowerFetch(1, 2, 1) // a stale position never moves it back
	if hw := r.log.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d went back", hw)
	}
	// Out of the ISR, the follower no longer holds the HW.
	r.mu.Lock()
	r.isr = []int32{1}
	r.mu.Unlock()
	r.maybeAdvanceHW(1)
	if hw := r.log.HighWatermark(); hw != 3 {
		t.Fatalf("HW %d with a single-member ISR, want the log end 3", hw)
	}
	// Not the leader: nothing moves.
	r.mu.Lock()
	r.leader = 2
	r.mu.Unlock()
	appendTo(t, r, 1)
	if hw := r.log.HighWatermark(); hw != 3 {
		t.Fatalf("HW %d on a follower", hw)
	}
}

// The acks=all purgatory: a waiter is answered when a follower fetch moves
// the HW past its batch, times out otherwise, and sees a leadership loss.
func TestAwaitHW(t *testing.T) {
	r := hwReplica(t)
	ctx := testCtx(t)
	last := appendTo(t, r, 2)

	var code int16
	far := time.Now().Add(time.Hour)
	done := make(chan error, 1)
	go func() { done <- awaitHW(ctx, 1, []hwWait{{r: r, need: last + 1, errCode: &code}}, far) }()
	r.recordFollowerFetch(1, 2, last+1)
	if err := <-done; err != nil || code != 0 {
		t.Fatalf("after the follower caught up: %v, %v", err, kerr.ErrorForCode(code))
	}

	last = appendTo(t, r, 1)
	code = 0
	if err := awaitHW(ctx, 1, []hwWait{{r: r, need: last + 1, errCode: &code}}, time.Now().Add(20*time.Millisecond)); err != nil || kerr.ErrorForCode(code) != kerr.RequestTimedOut {
		t.Fatalf("without the follower: %v, %v", err, kerr.ErrorForCode(code))
	}

	// min.insync.replicas raised while waiting.
	r.mu.Lock()
	r.minInsync = 3
	r.mu.Unlock()
	code = 0
	r.recordFollowerFetch(1, 2, last+1)
	if err := awaitHW(ctx, 1, []hwWait{{r: r, need: last + 1, errCode: &code}}, far); err != nil || kerr.ErrorForCode(code) != kerr.NotEnoughReplicasAfterAppend {
		t.Fatalf("ISR below min.insync.replicas: %v, %v", err, kerr.ErrorForCode(code))
	}

	last = appendTo(t, r, 1)
	code = 0
	go func() { done <- awaitHW(ctx, 1, []hwWait{{r: r, need: last + 1, errCode: &code}}, far) }()
	r.mu.Lock()
	r.leader = 2
	r.mu.Unlock()
	r.wake()
	if err := <-done; err != nil || kerr.ErrorForCode(code) != kerr.NotLeaderForPartition {
		t.Fatalf("leadership lost: %v, %v", err, kerr.ErrorForCode(code))
	}

	// A closing server ends the wait.
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- awaitHW(cctx, 2, []hwWait{{r: r, need: 1 << 40, errCode: &code}}, far) }()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("no error after ctx ended")
	}
}
