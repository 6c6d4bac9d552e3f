package sharepart

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var testLimits = Limits{DeliveryCountLimit: 3, MaxInFlight: 100, LockDuration: 10 * time.Second}

func batches(ranges ...[2]int64) []Batch {
	var out []Batch
	for _, r := range ranges {
		out = append(out, Batch{First: r[0], Last: r[1]})
	}
	return out
}

func TestAcquireAcknowledgeAdvance(t *testing.T) {
	p := NewPartition(0)
	now := time.Unix(1000, 0)
	runs, used := p.Acquire("a", batches([2]int64{0, 4}, [2]int64{5, 9}), 7, now, testLimits)
	if want := []AcquiredRun{{0, 6, 1}}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("runs = %v, want %v", runs, want)
	}
	if !used[0] || !used[1] {
		t.Fatalf("used = %v", used)
	}
	// Another member gets the rest of the read batches.
	runs, _ = p.Acquire("b", batches([2]int64{5, 9}), 10, now, testLimits)
	if want := []AcquiredRun{{7, 9, 1}}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("b runs = %v, want %v", runs, want)
	}
	// b may not acknowledge a's records, and nothing changes.
	if err := p.Acknowledge("b", 0, 7, []int8{AckAccept}, now, testLimits); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("foreign ack: %v", err)
	}
	// a accepts 0-2, releases 3, rejects 4; per-offset types for 5-6.
	if err := p.Acknowledge("a", 0, 4, []int8{AckAccept, AckAccept, AckAccept, AckRelease, AckReject}, now, testLimits); err != nil {
		t.Fatal(err)
	}
	if p.StartOffset() != 3 {
		t.Fatalf("start = %d, want 3", p.StartOffset())
	}
	off, ok := p.FetchOffset(now, testLimits)
	if !ok || off != 3 {
		t.Fatalf("fetch offset = %d %v, want 3", off, ok)
	}
	// The released record is redelivered with delivery count 2.
	runs, _ = p.Acquire("b", batches([2]int64{0, 4}), 10, now, testLimits)
	if want := []AcquiredRun{{3, 3, 2}}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("redelivery = %v, want %v", runs, want)
	}
	if c := p.Counts(); c.Acquired != 6 || c.Archived != 1 {
		t.Fatalf("counts = %+v", c)
	}
}

func TestLockExpiryAndDeliveryLimit(t *testing.T) {
	p := NewPartition(10)
	now := time.Unix(1000, 0)
	for d := int16(1); d <= testLimits.DeliveryCountLimit; d++ {
		runs, _ := p.Acquire("a", batches([2]int64{10, 10}), 10, now, testLimits)
		if want := []AcquiredRun{{10, 10, d}}; !reflect.DeepEqual(runs, want) {
			t.Fatalf("delivery %d: runs = %v, want %v", d, runs, want)
		}
		if got := p.NextLockExpiry(); !got.Equal(now.Add(testLimits.LockDuration)) {
			t.Fatalf("lock expiry = %v", got)
		}
		now = now.Add(testLimits.LockDuration) // the lock runs out
	}
	// Delivered DeliveryCountLimit times: archived, never offered again.
	runs, _ := p.Acquire("b", batches([2]int64{10, 10}), 10, now, testLimits)
	if len(runs) != 0 {
		t.Fatalf("record past the delivery limit acquired: %v", runs)
	}
	if p.StartOffset() != 11 {
		t.Fatalf("start = %d, want 11 (archived record passed)", p.StartOffset())
	}
	// Releasing at the limit archives too.
	p.Acquire("a", batches([2]int64{11, 11}), 1, now, testLimits)
	p.ReleaseMember("a", testLimits)
	if r, _ := p.Acquire("a", batches([2]int64{11, 11}), 1, now, testLimits); !reflect.DeepEqual(r, []AcquiredRun{{11, 11, 2}}) {
		t.Fatalf("after release: %v", r)
	}
}

func TestRenewAndGapAndSkip(t *testing.T) {
	p := NewPartition(0)
	now := time.Unix(1000, 0)
	// A control batch at 3 is never delivered; 5-6 are missing from the
	// log (compaction).
	b := []Batch{{First: 0, Last: 2}, {First: 3, Last: 3, Skip: true}, {First: 4, Last: 4}, {First: 7, Last: 8}}
	runs, used := p.Acquire("a", b, 100, now, testLimits)
	if want := []AcquiredRun{{0, 2, 1}, {4, 4, 1}, {7, 8, 1}}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("runs = %v, want %v", runs, want)
	}
	if used[1] {
		t.Fatal("control batch sent")
	}
	later := now.Add(testLimits.LockDuration - time.Second)
	if err := p.Acknowledge("a", 0, 2, []int8{AckRenew}, later, testLimits); err != nil {
		t.Fatal(err)
	}
	// The renewed records outlive their first lock; 4, 7, 8 do not.
	after := now.Add(testLimits.LockDuration + time.Second)
	runs, _ = p.Acquire("b", b, 100, after, testLimits)
	if want := []AcquiredRun{{4, 4, 2}, {7, 8, 2}}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("after expiry = %v, want %v", runs, want)
	}
	// Acknowledging across the gap with gap types is fine.
	if err := p.Acknowledge("b", 4, 8, []int8{AckAccept, AckGap, AckGap, AckAccept, AckAccept}, after, testLimits); err != nil {
		t.Fatal(err)
	}
	if err := p.Acknowledge("a", 0, 2, []int8{AckAccept}, after, testLimits); err != nil {
		t.Fatal(err)
	}
	if p.StartOffset() != 9 || p.EndOffset() != 9 {
		t.Fatalf("window = [%d,%d), want [9,9)", p.StartOffset(), p.EndOffset())
	}
	if err := p.Acknowledge("a", 3, 2, []int8{AckAccept}, after, testLimits); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("backwards batch: %v", err)
	}
	if err := p.Acknowledge("a", 9, 10, []int8{1, 1, 1}, after, testLimits); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("types count mismatch: %v", err)
	}
}

func TestMaxInFlight(t *testing.T) {
	lim := testLimits
	lim.MaxInFlight = 4
	p := NewPartition(0)
	now := time.Unix(1000, 0)
	runs, _ := p.Acquire("a", batches([2]int64{0, 9}), 100, now, lim)
	if want := []AcquiredRun{{0, 3, 1}}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("runs = %v, want %v", runs, want)
	}
	if _, ok := p.FetchOffset(now, lim); ok {
		t.Fatal("full window offered a fetch offset")
	}
	if err := p.Acknowledge("a", 0, 0, []int8{AckAccept}, now, lim); err != nil {
		t.Fatal(err)
	}
	runs, _ = p.Acquire("a", batches([2]int64{0, 9}), 100, now, lim)
	if want := []AcquiredRun{{4, 4, 1}}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("after one ack = %v, want %v", runs, want)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	p := NewPartition(5)
	now := time.Unix(1000, 0)
	p.Acquire("a", batches([2]int64{5, 14}), 100, now, testLimits)
	if err := p.Acknowledge("a", 6, 8, []int8{AckAccept, AckReject, AckRelease}, now, testLimits); err != nil {
		t.Fatal(err)
	}
	q, err := Restore(p.Snapshot(), testLimits.MaxInFlight)
	if err != nil {
		t.Fatal(err)
	}
	if q.StartOffset() != 5 || q.EndOffset() != 15 {
		t.Fatalf("restored window [%d,%d)", q.StartOffset(), q.EndOffset())
	}
	// Locks are not durable: everything acquired is available again with
	// its delivery count; the accepted and rejected records are done.
	runs, _ := q.Acquire("b", batches([2]int64{5, 14}), 100, now, testLimits)
	if want := []AcquiredRun{{5, 5, 2}, {8, 14, 2}}; !reflect.DeepEqual(runs, want) {
		t.Fatalf("after restore = %v, want %v", runs, want)
	}
	for _, bad := range [][]byte{nil, {0, 1}, append(EncodeSnapshot(0, nil), 1)} {
		if _, err := Restore(bad, 100); err == nil {
			t.Errorf("corrupt snapshot %x restored", bad)
		}
	}
	huge := EncodeSnapshot(0, []StateBatch{{First: 0, Last: 1 << 40, State: Available}})
	if _, err := Restore(huge, 100); err == nil {
		t.Error("a snapshot past the in-flight bound restored")
	}
}

func TestSessions(t *testing.T) {
	s := NewSessions(1, time.Minute)
	now := time.Unix(1000, 0)
	k := SessionKey{"g", "m"}
	tp := func(p int32) TopicPartition { return TopicPartition{Partition: p} }
	if _, _, e := s.Fetch(k, 7, 1, nil, nil, now); e != SessionNotFound {
		t.Fatalf("epoch 1 without a session: %v", e)
	}
	parts, _, e := s.Fetch(k, 7, 0, []TopicPartition{tp(0), tp(1)}, nil, now)
	if e != SessionOK || len(parts) != 2 {
		t.Fatalf("open: %v %v", parts, e)
	}
	if _, _, e := s.Fetch(SessionKey{"g", "other"}, 8, 0, nil, nil, now); e != SessionLimitReached {
		t.Fatalf("second session over the limit: %v", e)
	}
	if _, _, e := s.Fetch(k, 7, 2, nil, nil, now); e != SessionInvalidEpoch {
		t.Fatalf("wrong epoch: %v", e)
	}
	parts, _, e = s.Fetch(k, 7, 1, []TopicPartition{tp(2)}, []TopicPartition{tp(0)}, now)
	if e != SessionOK || !reflect.DeepEqual(parts, []TopicPartition{tp(1), tp(2)}) {
		t.Fatalf("incremental: %v %v", parts, e)
	}
	if _, e := s.Acknowledge(k, 0, now); e != SessionInvalidEpoch {
		t.Fatalf("ack with epoch 0: %v", e)
	}
	if _, e := s.Acknowledge(k, 2, now); e != SessionOK {
		t.Fatalf("ack epoch 2: %v", e)
	}
	if closed, e := s.Acknowledge(k, -1, now); !closed || e != SessionOK {
		t.Fatalf("close: %v %v", closed, e)
	}
	// A session ends with its connection, not with another one.
	s.Fetch(k, 7, 0, nil, nil, now)
	if s.CloseConn(k, 9) || !s.CloseConn(k, 7) {
		t.Fatal("CloseConn closed the wrong session")
	}
	// An idle session is evicted for a new one.
	s.Fetch(k, 7, 0, nil, nil, now)
	if _, _, e := s.Fetch(SessionKey{"g", "other"}, 8, 0, nil, nil, now.Add(2*time.Minute)); e != SessionOK {
		t.Fatalf("eviction: %v", e)
	}
}
