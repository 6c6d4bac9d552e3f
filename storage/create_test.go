package storage

import (
	"bytes"
	"testing"
)

// TestGetOrCreateLogs creates a batch of new logs (lazily: nothing on disk)
// and an already open one in the same batch, refuses a bad name, and
// checks that the new logs take appends and are found again, with their
// records, after a crash (no clean shutdown) and after a clean one, while
// those never written to left nothing behind (the metadata creates them
// lazily again).
func TestGetOrCreateLogs(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	open, err := m.GetOrCreate("t", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	specs := []NewLog{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}, {Topic: "bad/name", Partition: 0}}
	for p := int32(2); p < 50; p++ {
		specs = append(specs, NewLog{Topic: "t", Partition: p})
	}
	for i := range specs {
		specs[i].Config = DefaultConfig()
	}
	logs, errs := m.GetOrCreateLogs(specs)
	if logs[0] != open || errs[0] != nil {
		t.Fatalf("an open log: got %p, %v; want %p", logs[0], errs[0], open)
	}
	if logs[2] != nil || errs[2] == nil {
		t.Fatalf("bad name: got %v, %v", logs[2], errs[2])
	}
	want := map[int32][]byte{}
	for i, l := range logs {
		if i == 2 {
			continue
		}
		if errs[i] != nil {
			t.Fatalf("%v: %v", specs[i], errs[i])
		}
		if l.LogEndOffset() != 0 || l.LogStartOffset() != 0 || l.HighWatermark() != 0 {
			t.Fatalf("%v: log end %d, start %d, HW %d; want an empty log at 0", specs[i], l.LogEndOffset(), l.LogStartOffset(), l.HighWatermark())
		}
		if m.Get("t", specs[i].Partition) != l {
			t.Fatalf("%v: Get returns another log", specs[i])
		}
		if specs[i].Partition%2 == 0 {
			if _, err := l.Append(mkBatch(3, 1000), AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			want[specs[i].Partition] = readAll(t, l, 0)
		}
	}
	check := func(m *Manager) {
		t.Helper()
		for p := int32(0); p < 50; p++ {
			l := m.Get("t", p)
			if want[p] == nil {
				if l != nil {
					t.Fatalf("t-%d, never written, found after a reopen", p)
				}
				continue
			}
			if l == nil {
				t.Fatalf("t-%d not found after a reopen", p)
			}
			if got := readAll(t, l, 0); !bytes.Equal(got, want[p]) {
				t.Fatalf("t-%d: read %d bytes after a reopen, want %d", p, len(got), len(want[p]))
			}
		}
	}
	m.abandon()
	m = openTestManager(t, dir, nil)
	check(m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openTestManager(t, dir, nil)
	check(m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// A closed manager creates nothing.
	if _, errs := m.GetOrCreateLogs([]NewLog{{Topic: "u", Partition: 0, Config: DefaultConfig()}}); errs[0] == nil {
		t.Fatal("a closed manager created a log")
	}
}

// BenchmarkCreateLogs creates 1,000 new partition logs a round, one
// GetOrCreate each or one GetOrCreateLogs batch (both lazily: no I/O).
func BenchmarkCreateLogs(b *testing.B) {
	const n = 1000
	for _, batch := range []bool{false, true} {
		name := "GetOrCreate"
		if batch {
			name = "GetOrCreateLogs"
		}
		b.Run(name, func(b *testing.B) {
			m := openTestManager(b, b.TempDir(), nil)
			defer m.Close()
			round := 0
			for b.Loop() {
				round++
				specs := make([]NewLog, n)
				for i := range specs {
					specs[i] = NewLog{Topic: "r" + string(rune('a'+round%26)) + string(rune('a'+round/26%26)), Partition: int32(i), Config: DefaultConfig()}
				}
				if batch {
					if _, errs := m.GetOrCreateLogs(specs); errs[0] != nil {
						b.Fatal(errs[0])
					}
					continue
				}
				for _, s := range specs {
					if _, err := m.GetOrCreate(s.Topic, s.Partition, s.Config); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/partition")
		})
	}
}
