package broker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"go.uber.org/zap/zaptest"
)

// A topic deleted while the broker was down leaves a stray log on disk;
// the broker removes it when it starts and sees the metadata.
func TestStrayPartitionLogsAreDeletedAtStart(t *testing.T) {
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	logDir := filepath.Join(dir, "logs")
	cfg, _, err := config.Load("", nil, []string{"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + logDir, "runnel.admin.listener="})
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Broker {
		b, err := New(testCtx(t), Options{Config: cfg, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	b := open()
	for _, name := range []string{"keep", "stray"} {
		if _, rev, err := b.ctrl.CreateTopic(testCtx(t), controller.TopicSpec{Name: name, NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		} else if err := b.ctrl.WaitRevision(testCtx(t), rev); err != nil {
			t.Fatal(err)
		}
	}
	b.replicas.apply(b.ctrl.Snapshot())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"keep-0", "stray-0"} {
		if _, err := os.Stat(filepath.Join(logDir, d)); err != nil {
			t.Fatalf("%s should exist before the deletion: %v", d, err)
		}
	}

	// Delete "stray" with only the metadata store running, as another
	// broker would while this one is down.
	ctrl, err := controller.Open(testCtx(t), controller.Options{DataDir: filepath.Join(logDir, etcdDirName), BrokerID: 2, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.DeleteTopic(testCtx(t), "stray"); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Close(); err != nil {
		t.Fatal(err)
	}

	b = open()
	defer b.Close()
	if _, err := os.Stat(filepath.Join(logDir, "keep-0")); err != nil {
		t.Fatalf("keep-0 was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(logDir, "stray-0")); !os.IsNotExist(err) {
		t.Fatalf("stray-0 still there (%v)", err)
	}
}
