package replica

import (
	"testing"

	"github.com/runnel/runnel/storage"
)

// BenchmarkAppendAsLeader is the leader append path of one produce of a
// 1 KiB record on a single-replica ISR (role check, append, HW advance),
// beside storage's BenchmarkAppend, which measures the log alone.
func BenchmarkAppendAsLeader(b *testing.B) {
	m, err := storage.OpenManager(storage.ManagerOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	l, err := m.GetOrCreate("bench", 0, storage.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	p := &Partition{self: 1, topic: "bench", log: l, leader: 1, replicas: []int32{1}, isr: []int32{1}, minInsync: 1, visible: make(chan struct{})}
	var bb storage.BatchBuilder
	bb.Add(1, nil, make([]byte, 1024))
	batch := bb.Build()
	buf := make([]byte, len(batch))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, batch) // the leader patches the header in place
		if _, _, err := p.AppendAsLeader(buf, LeaderAppend{CheckMinISR: true}); err != nil {
			b.Fatal(err)
		}
	}
}
