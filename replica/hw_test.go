package replica

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testBatch is one uncompressed batch of n records.
func testBatch(prefix string, n int, ts int64) []byte {
	var bb storage.BatchBuilder
	for i := range n {
		bb.Add(ts+int64(i), nil, fmt.Appendf(nil, "%s-%d", prefix, i))
	}
	return bb.Build()
}

// hwReplica is a leader replica (broker 1) of a fresh log whose ISR also
// holds broker 2, built by hand: no manager, no metadata.
func hwReplica(t *testing.T) *Partition {
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
	return &Partition{
		self: 1, topic: "hw", log: l, leader: 1, leaderEpoch: 0,
		replicas: []int32{1, 2}, isr: []int32{1, 2}, minInsync: 1,
		visible: make(chan struct{}),
	}
}

// appendTo appends n records on the leader path and returns the last
// offset.
func appendTo(t *testing.T, r *Partition, n int) int64 {
	t.Helper()
	res, _, err := r.AppendAsLeader(testBatch("x", n, 1), LeaderAppend{})
	if err != nil {
		t.Fatal(err)
	}
	return res.LastOffset
}

// The HW is the minimum log end over the ISR and only moves up.
func TestHighWatermarkFollowsISR(t *testing.T) {
	r := hwReplica(t)
	appendTo(t, r, 3)
	if hw := r.log.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d with the follower at an unknown offset", hw)
	}
	r.recordFollowerFetch(3, 3) // broker 3 holds no replica: ignored
	if hw := r.log.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d after a non-replica's fetch", hw)
	}
	ch := r.Changed()
	r.recordFollowerFetch(2, 2)
	if hw := r.log.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d, want the follower's 2", hw)
	}
	select {
	case <-ch:
	default:
		t.Fatal("an HW advance did not wake waiters")
	}
	r.recordFollowerFetch(2, 1) // a stale position never moves it back
	if hw := r.log.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d went back", hw)
	}
	// Out of the ISR, the follower no longer holds the HW.
	r.mu.Lock()
	r.isr = []int32{1}
	r.mu.Unlock()
	r.AdvanceHW()
	if hw := r.log.HighWatermark(); hw != 3 {
		t.Fatalf("HW %d with a single-member ISR, want the log end 3", hw)
	}
	// Not the leader: the leader path refuses, nothing moves.
	r.mu.Lock()
	r.leader = 2
	r.mu.Unlock()
	if _, _, err := r.AppendAsLeader(testBatch("x", 1, 1), LeaderAppend{}); err != kerr.NotLeaderForPartition {
		t.Fatalf("append on a follower: %v", err)
	}
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
	go func() { done <- AwaitHW(ctx, []HWWait{{P: r, Need: last + 1, ErrCode: &code}}, far) }()
	r.recordFollowerFetch(2, last+1)
	if err := <-done; err != nil || code != 0 {
		t.Fatalf("after the follower caught up: %v, %v", err, kerr.ErrorForCode(code))
	}

	last = appendTo(t, r, 1)
	code = 0
	if err := AwaitHW(ctx, []HWWait{{P: r, Need: last + 1, ErrCode: &code}}, time.Now().Add(20*time.Millisecond)); err != nil || kerr.ErrorForCode(code) != kerr.RequestTimedOut {
		t.Fatalf("without the follower: %v, %v", err, kerr.ErrorForCode(code))
	}

	// min.insync.replicas raised while waiting.
	r.setMinInsync(3)
	code = 0
	r.recordFollowerFetch(2, last+1)
	if err := AwaitHW(ctx, []HWWait{{P: r, Need: last + 1, ErrCode: &code}}, far); err != nil || kerr.ErrorForCode(code) != kerr.NotEnoughReplicasAfterAppend {
		t.Fatalf("ISR below min.insync.replicas: %v, %v", err, kerr.ErrorForCode(code))
	}
	r.setMinInsync(1)

	last = appendTo(t, r, 1)
	code = 0
	go func() { done <- AwaitHW(ctx, []HWWait{{P: r, Need: last + 1, ErrCode: &code}}, far) }()
	r.mu.Lock()
	r.leader = 2
	r.mu.Unlock()
	r.wake()
	if err := <-done; err != nil || kerr.ErrorForCode(code) != kerr.NotLeaderForPartition {
		t.Fatalf("leadership lost: %v, %v", err, kerr.ErrorForCode(code))
	}

	// A closing server ends the wait.
	r.mu.Lock()
	r.leader = 1
	r.mu.Unlock()
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- AwaitHW(cctx, []HWWait{{P: r, Need: 1 << 40, ErrCode: &code}}, far) }()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("no error after ctx ended")
	}
}
