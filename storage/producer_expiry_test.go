package storage

import (
	"testing"
	"time"
)

const expiryTestMs = 60_000 // producer.id.expiration.ms in these tests

// idemBatchAt is idemBatch with the records' timestamp: a producer's last
// timestamp is what expiration measures.
func idemBatchAt(pid int64, seq int32, n int, txn bool, ts int64) []byte {
	b := BatchBuilder{ProducerID: pid, BaseSequence: seq, Idempotent: true, Transactional: txn}
	for range n {
		b.Add(ts, []byte("k"), []byte("v"))
	}
	return b.Build()
}

func producerIDs(l *Log) []int64 {
	var out []int64
	for _, p := range l.Producers() {
		out = append(out, p.ProducerID)
	}
	return out
}

func openExpiryManager(t *testing.T, dir string, clock *testClock) *Manager {
	t.Helper()
	m, err := OpenManager(ManagerOptions{Dir: dir, Clock: clock.now, RetentionCheckInterval: time.Hour,
		ProducerIDExpiration: expiryTestMs * time.Millisecond, ProducerIDExpirationCheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProducerExpiration(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	m := openExpiryManager(t, t.TempDir(), clock)
	defer m.Close()
	l, err := m.GetOrCreate("pe", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := clock.t.UnixMilli()
	first := mustApp(t, l, idemBatchAt(7, 0, 3, false, now), leader)
	mustApp(t, l, idemBatchAt(8, 0, 1, true, now), leader) // transaction left open
	mustApp(t, l, idemBatchAt(9, 0, 1, false, now), leader)

	// Just short of the expiration nothing goes.
	clock.t = clock.t.Add(expiryTestMs*time.Millisecond - time.Millisecond)
	mustApp(t, l, idemBatchAt(9, 1, 1, false, clock.t.UnixMilli()), leader) // 9 stays active
	if n := m.ExpireProducers(); n != 0 {
		t.Fatalf("expired %d producers early", n)
	}
	// At the expiration, 7 goes; 8 has an ongoing transaction, 9 wrote lately.
	clock.t = clock.t.Add(time.Millisecond)
	if n := m.ExpireProducers(); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	if got := producerIDs(l); len(got) != 2 || got[0] != 8 || got[1] != 9 {
		t.Fatalf("producers after expiry %v", got)
	}
	// 7 is now unknown: a retry of its old batch is no longer a
	// duplicate but a new write, after which 7 is known again.
	again := mustApp(t, l, idemBatchAt(7, 0, 3, false, clock.t.UnixMilli()), leader)
	if again.Duplicate || again.BaseOffset == first.BaseOffset {
		t.Fatalf("retry after expiry taken as duplicate: %+v", again)
	}
	if _, err := l.Append(idemBatchAt(7, 50, 1, false, clock.t.UnixMilli()), leader); err == nil {
		t.Fatal("known again, 7 must keep its sequence")
	}
	// An expired producer may resume at any sequence.
	mustApp(t, l, idemBatchAt(11, 0, 1, false, clock.t.UnixMilli()), leader)
	clock.t = clock.t.Add(expiryTestMs * time.Millisecond)
	m.ExpireProducers()
	mustApp(t, l, idemBatchAt(11, 77, 1, false, clock.t.UnixMilli()), leader)

	// Record time, not arrival, is what counts (as in Kafka): a batch
	// whose timestamps are already older than the expiration leaves a
	// producer that the next check drops.
	mustApp(t, l, idemBatchAt(10, 0, 1, false, clock.t.UnixMilli()-2*expiryTestMs), leader)
	m.ExpireProducers()
	for _, id := range producerIDs(l) {
		if id == 10 {
			t.Fatal("producer 10 kept despite its old timestamps")
		}
	}
}

// An expired producer does not come back when the log reopens, neither
// from a snapshot taken before it expired nor from replaying its batches
// after a crash.
func TestExpiredProducerStaysGoneAfterRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		dir := t.TempDir()
		clock := &testClock{t: time.UnixMilli(1_700_000_000_000)}
		m := openExpiryManager(t, dir, clock)
		l, err := m.GetOrCreate("pe", 0, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		mustApp(t, l, idemBatchAt(7, 0, 2, false, clock.t.UnixMilli()), leader)
		mustApp(t, l, idemBatchAt(8, 0, 1, true, clock.t.UnixMilli()), leader)
		if crash {
			m.abandon()
		} else if err := m.Close(); err != nil { // writes a snapshot holding 7 and 8
			t.Fatal(err)
		}

		// Reopened within the expiration: both are back.
		m = openExpiryManager(t, dir, clock)
		l = m.Get("pe", 0)
		if got := producerIDs(l); len(got) != 2 {
			t.Fatalf("crash=%v: producers after reopen %v", crash, got)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}

		// Reopened after it: 7 stays gone, 8's transaction keeps it.
		clock.t = clock.t.Add(2 * expiryTestMs * time.Millisecond)
		m = openExpiryManager(t, dir, clock)
		l = m.Get("pe", 0)
		if got := producerIDs(l); len(got) != 1 || got[0] != 8 {
			t.Fatalf("crash=%v: producers after reopen past expiry %v", crash, got)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// The Manager's loop runs the check on its own, with the expiration set
// at run time.
func TestManagerExpiresProducersInBackground(t *testing.T) {
	clock := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	m, err := OpenManager(ManagerOptions{Dir: t.TempDir(), Clock: clock.now, RetentionCheckInterval: time.Hour,
		ProducerIDExpirationCheckInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.GetOrCreate("pe", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustApp(t, l, idemBatchAt(7, 0, 1, false, clock.t.UnixMilli()-time.Hour.Milliseconds()), leader)
	// The default (one day) keeps an hour-old producer.
	if m.ExpireProducers() != 0 {
		t.Fatal("hour-old producer expired under the one-day default")
	}
	m.SetProducerIDExpiration(time.Minute)
	deadline := time.Now().Add(30 * time.Second)
	for len(l.Producers()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("background check never expired the producer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
