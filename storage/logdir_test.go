package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// meta.properties round-trips, keeps Kafka's keys, reads a file Kafka
// wrote, refuses a directory.id that is not a Uuid, and is rewritten only
// when its content changes.
func TestMetaProperties(t *testing.T) {
	dir := t.TempDir()
	if m, err := ReadMetaProperties(dir); err != nil || m != (MetaProperties{}) {
		t.Fatalf("missing file read as %+v, %v", m, err)
	}
	fresh, other := NewDirectoryID(), NewDirectoryID()
	if len(fresh) != 22 || fresh == other {
		t.Fatalf("fresh directory ids %q and %q", fresh, other)
	}
	want := MetaProperties{ClusterID: "cluster-x", BrokerID: 7, HasBrokerID: true, DirectoryID: fresh}
	if wrote, err := WriteMetaProperties(dir, want); err != nil || !wrote {
		t.Fatalf("first write: %v, %v", wrote, err)
	}
	m, err := ReadMetaProperties(dir)
	if err != nil || m != want {
		t.Fatalf("read back %+v, %v", m, err)
	}
	body, _ := os.ReadFile(filepath.Join(dir, MetaPropertiesFile))
	for _, w := range []string{"version=1\n", "cluster.id=cluster-x\n", "node.id=7\n", "broker.id=7\n", "directory.id=" + fresh + "\n"} {
		if !strings.Contains(string(body), w) {
			t.Fatalf("meta.properties lacks %q:\n%s", w, body)
		}
	}
	if wrote, err := WriteMetaProperties(dir, want); err != nil || wrote {
		t.Fatalf("unchanged content rewritten: %v, %v", wrote, err)
	}
	want.ClusterID = "cluster-y"
	if wrote, err := WriteMetaProperties(dir, want); err != nil || !wrote {
		t.Fatalf("changed content not written: %v, %v", wrote, err)
	}
	if m, _ := ReadMetaProperties(dir); m != want {
		t.Fatalf("after the change read %+v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, MetaPropertiesFile+".tmp")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}

	// As Kafka 3.7+ writes it (java.util.Properties: a date comment, keys
	// sorted).
	kafka := "#\n#Tue Nov 25 10:00:00 UTC 2026\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\ndirectory.id=J8aAPcfLQt2bqs1JT_rMgQ\nnode.id=3\nversion=1\n"
	if err := os.WriteFile(filepath.Join(dir, MetaPropertiesFile), []byte(kafka), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadMetaProperties(dir); err != nil || m.BrokerID != 3 || m.DirectoryID != "J8aAPcfLQt2bqs1JT_rMgQ" || m.ClusterID != "MkU3OEVBNTcwNTJENDM2Qk" {
		t.Fatalf("Kafka's meta.properties read as %+v, %v", m, err)
	}

	if err := os.WriteFile(filepath.Join(dir, MetaPropertiesFile), []byte("node.id=1\ndirectory.id=not-a-uuid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMetaProperties(dir); err == nil || !strings.Contains(err.Error(), "directory.id") {
		t.Fatalf("bad directory.id accepted: %v", err)
	}
}

// A log dir's lock is exclusive, fails at once with Kafka's message, and
// is free again once its holder closes it.
func TestLockLogDir(t *testing.T) {
	dir := t.TempDir()
	f, err := LockLogDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := LockLogDir(dir); err == nil {
		g.Close()
		t.Fatal("second lock taken")
	} else if !strings.Contains(err.Error(), "failed to acquire lock on file .lock") {
		t.Fatalf("error %q does not name the lock", err)
	}
	f.Close()
	g, err := LockLogDir(dir)
	if err != nil {
		t.Fatalf("relock after close: %v", err)
	}
	g.Close()
}
