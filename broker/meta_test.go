package broker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"go.uber.org/zap/zaptest"
)

// meta.properties round-trips the ids, keeps Kafka's keys, reads a file
// Kafka wrote, and refuses a directory.id that is not a Uuid.
func TestMetaPropertiesDirectoryID(t *testing.T) {
	dir := t.TempDir()
	fresh, err := logDirID(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := logDirID(dir)
	if len(fresh) != 22 || fresh == other {
		t.Fatalf("fresh directory ids %q and %q", fresh, other)
	}
	if err := writeMetaProperties(dir, "cluster-x", 7, fresh); err != nil {
		t.Fatal(err)
	}
	m, err := readMetaProperties(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.brokerID != 7 || !m.hasBrokerID || m.directoryID != fresh {
		t.Fatalf("read back %+v", m)
	}
	if again, _ := logDirID(dir); again != fresh {
		t.Fatalf("directory id changed from %q to %q", fresh, again)
	}
	body, _ := os.ReadFile(filepath.Join(dir, metaPropertiesFile))
	for _, want := range []string{"version=1\n", "cluster.id=cluster-x\n", "node.id=7\n", "directory.id=" + fresh + "\n"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("meta.properties lacks %q:\n%s", want, body)
		}
	}

	// As Kafka 3.7+ writes it (java.util.Properties: a date comment, keys
	// sorted).
	kafka := "#\n#Tue Nov 25 10:00:00 UTC 2026\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\ndirectory.id=J8aAPcfLQt2bqs1JT_rMgQ\nnode.id=3\nversion=1\n"
	if err := os.WriteFile(filepath.Join(dir, metaPropertiesFile), []byte(kafka), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := readMetaProperties(dir); err != nil || m.brokerID != 3 || m.directoryID != "J8aAPcfLQt2bqs1JT_rMgQ" {
		t.Fatalf("Kafka's meta.properties read as %+v, %v", m, err)
	}

	if err := os.WriteFile(filepath.Join(dir, metaPropertiesFile), []byte("node.id=1\ndirectory.id=not-a-uuid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := logDirID(dir); err == nil || !strings.Contains(err.Error(), "directory.id") {
		t.Fatalf("bad directory.id accepted: %v", err)
	}
}

// A broker registers with its log dir's directory.id, and keeps it across
// restarts.
func TestBrokerRegistersWithItsDirectoryID(t *testing.T) {
	tb := startTestBroker(t)
	logDir := tb.cfg.LogDirs[0]
	m, err := readMetaProperties(logDir)
	if err != nil {
		t.Fatal(err)
	}
	if m.directoryID == "" || tb.ctrl.Snapshot().Brokers[1].DirectoryID != m.directoryID {
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
	if got := b.ctrl.Snapshot().Brokers[1].DirectoryID; got != m.directoryID {
		t.Fatalf("after a restart the broker registered with directory id %q, was %q", got, m.directoryID)
	}
}
