package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/storage"
	"go.uber.org/zap/zaptest"
)

// A second broker on a log dir in use fails at once with Kafka's message
// and touches nothing; once the first has stopped, the dir opens again.
func TestLogDirIsLocked(t *testing.T) {
	tb := startTestBroker(t)
	cfg, _, err := config.Load("", nil, []string{
		"broker.id=2",
		"listeners=PLAINTEXT://127.0.0.1:0",
		"log.dirs=" + tb.cfg.LogDirs[0],
		"runnel.admin.listener=",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t)}); err == nil {
		b.Close()
		t.Fatal("a second broker opened a log dir in use")
	} else if !strings.Contains(err.Error(), "failed to acquire lock on file .lock") {
		t.Fatalf("error %q does not name the lock", err)
	}

	// The first broker is unharmed, and after it stops the dir is free.
	if _, err := tb.admin(t).BrokerMetadata(ctx); err != nil {
		t.Fatalf("first broker after the refused second: %v", err)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.BrokerID = 1
	b, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("reopening after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// A broker registers with its log dir's directory.id, and keeps it across
// restarts.
func TestBrokerRegistersWithItsDirectoryID(t *testing.T) {
	tb := startTestBroker(t)
	logDir := tb.cfg.LogDirs[0]
	m, err := storage.ReadMetaProperties(logDir)
	if err != nil {
		t.Fatal(err)
	}
	if m.DirectoryID == "" || tb.ctrl.Snapshot().Brokers[1].DirectoryID != m.DirectoryID {
		t.Fatalf("registration %+v, meta.properties %+v", tb.ctrl.Snapshot().Brokers[1], m)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load("", nil, []string{"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + logDir, "runnel.admin.listener="})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.ctrl.Snapshot().Brokers[1].DirectoryID; got != m.DirectoryID {
		t.Fatalf("after a restart the broker registered with directory id %q, was %q", got, m.DirectoryID)
	}
	if reg := b.ctrl.Snapshot().Brokers[1]; reg.Host == "" || reg.BootID != bootID() || bootID() == "" {
		t.Fatalf("registration without host and boot id: %+v", reg)
	}
}
