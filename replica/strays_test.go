package replica

import (
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"go.uber.org/zap/zaptest"
)

// A topic deleted while the broker was down leaves a stray log on disk;
// the manager sets it aside (renamed -stray, its bytes kept) when it
// applies its first snapshot, and keeps the logs the metadata places on
// this broker.
func TestStrayPartitionLogsAreSetAsideAtStart(t *testing.T) {
	cfg, _, err := config.Load("", nil, []string{"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	logs, err := storage.OpenManager(storage.ManagerOptions{Dir: cfg.LogDirs[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	for _, name := range []string{"keep", "stray"} {
		l, err := logs.GetOrCreate(name, 0, storage.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		// Written to, so that it is on disk (a new log is created lazily).
		var bb storage.BatchBuilder
		bb.Add(1, nil, []byte("v"))
		if _, err := l.Append(bb.Build(), storage.AppendOptions{AssignOffsets: true}); err != nil {
			t.Fatal(err)
		}
	}
	md := newFakeMetadata(1)
	md.setPartition("keep", controller.Partition{Index: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderBrokerEpoch: 7}, nil)

	m := NewManager(Options{ID: 1, Config: cfg, Logs: logs, Metadata: md, Logger: zaptest.NewLogger(t)})
	m.Start()
	defer m.Close()
	var names []string
	for _, l := range logs.All() {
		names = append(names, l.Topic())
	}
	if len(names) != 1 || names[0] != "keep" {
		t.Fatalf("logs after the first snapshot: %v, want [keep]", names)
	}
	if m.Local("keep", 0) == nil {
		t.Fatal("no replica of keep-0")
	}
	kept, err := filepath.Glob(filepath.Join(cfg.LogDirs[0], "stray-0.*-stray"))
	if err != nil || len(kept) != 1 {
		t.Fatalf("stray-0 set aside as %v (%v), want one -stray dir", kept, err)
	}
	if logs.Strays() != 1 {
		t.Errorf("Strays() = %d, want 1", logs.Strays())
	}
}
