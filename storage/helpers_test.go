package storage

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// testClock is a settable clock.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// openTestManager opens a Manager on dir. Its producer.id.expiration is a
// century: most tests write records stamped in 1970 and expect their
// producers' state to survive a reopen (producer_expiry_test.go tests
// expiration).
func openTestManager(t testing.TB, dir string, clock func() time.Time) *Manager {
	t.Helper()
	m, err := OpenManager(ManagerOptions{Dir: dir, Clock: clock, RetentionCheckInterval: time.Hour,
		ProducerIDExpiration: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mkBatch builds an uncompressed batch of n records with values
// "v<i>" and timestamps ts+i.
func mkBatch(n int, ts int64) []byte {
	var b BatchBuilder
	for i := 0; i < n; i++ {
		b.Add(ts+int64(i), []byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("v%d", i)))
	}
	return b.Build()
}

func readAll(t testing.TB, l *Log, from int64) []byte {
	t.Helper()
	r, err := l.Read(from, l.LogEndOffset(), 1<<30, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// batchOffsets decodes the (base,last) offsets of consecutive batches.
func batchOffsets(t testing.TB, b []byte) [][2]int64 {
	t.Helper()
	var out [][2]int64
	for len(b) > 0 {
		h, err := checkBatchFrame(b)
		if err != nil {
			t.Fatalf("bad batch in read: %v", err)
		}
		out = append(out, [2]int64{h.BaseOffset, h.LastOffset()})
		b = b[h.Size():]
	}
	return out
}

// abandon simulates a process crash for in-process tests: the background
// loop stops and handles close, but nothing is flushed, trimmed or marked.
func (m *Manager) abandon() {
	m.mu.Lock()
	m.closed = true
	logs := m.logs
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	for _, l := range logs {
		l.mu.Lock()
		l.closed = true
		l.closeHandles()
		l.mu.Unlock()
	}
}

// mustOnDisk is GetOrCreate plus materialisation (lazy.go): the log has its
// directory and its empty active segment on disk, as a log written to and
// truncated back to empty has, so that it is found by the next open.
func mustOnDisk(t testing.TB, m *Manager, topic string, p int32, cfg Config) *Log {
	t.Helper()
	l, err := m.GetOrCreate(topic, p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	materialise(t, l)
	return l
}

// materialise creates a lazily created log's directory, active segment
// and partition checkpoint (what creating a log wrote before lazy.go).
func materialise(t testing.TB, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.segs[len(l.segs)-1]
	s.mu.Lock()
	err := s.openLocked()
	s.mu.Unlock()
	if err == nil {
		err = l.writeCheckpointFile(true)
	}
	if err != nil {
		t.Fatal(err)
	}
}
