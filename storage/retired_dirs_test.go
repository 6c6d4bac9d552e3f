package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openRetireManager(t *testing.T, dir string, clock *testClock) *Manager {
	t.Helper()
	m, err := OpenManager(ManagerOptions{Dir: dir, Clock: clock.now, RetentionCheckInterval: time.Hour,
		ProducerIDExpiration: 100 * 365 * 24 * time.Hour, DirDeleteDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// retiredDirs lists dir's entries with suffix.
func retiredDirs(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Delete renames at once (the name is free for a new partition at once)
// and removes only after the delay; a -delete directory left by a Manager
// closed before the delay is removed after the delay counted from the next
// start, and is never loaded as a partition.
func TestDeleteIsDelayed(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: time.Unix(1_000_000, 0)}
	m := openRetireManager(t, dir, clock)
	l, err := m.GetOrCreate("t", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(mkBatch(3, 1), leader); err != nil {
		t.Fatal(err)
	}
	data := readAll(t, l, 0)
	if err := m.Delete("t", 0); err != nil {
		t.Fatal(err)
	}
	gone := retiredDirs(t, dir, "-delete")
	if len(gone) != 1 || !strings.HasPrefix(gone[0], "t-0.") || len(gone[0]) != len("t-0.")+32+len("-delete") {
		t.Fatalf("after Delete: %v", gone)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, gone[0], "00000000000000000000.log")); !bytes.Equal(got, data) {
		t.Fatal("the -delete directory does not hold the log")
	}
	// The name is free at once: a new, empty partition.
	l2, err := m.GetOrCreate("t", 0, DefaultConfig())
	if err != nil || l2.LogEndOffset() != 0 {
		t.Fatalf("re-created partition: %v, LEO %d", err, l2.LogEndOffset())
	}
	clock.t = clock.t.Add(59 * time.Second)
	m.runDeletes(false)
	if len(retiredDirs(t, dir, "-delete")) != 1 {
		t.Fatal("removed before file.delete.delay.ms")
	}
	clock.t = clock.t.Add(time.Second)
	m.runDeletes(false)
	if d := retiredDirs(t, dir, "-delete"); len(d) != 0 {
		t.Fatalf("still there after the delay: %v", d)
	}

	// Closed before the delay: kept by Close, removed after the delay from
	// the next start.
	materialise(t, l2) // (a new log has nothing on disk until written: lazy.go)
	if err := m.Delete("t", 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if len(retiredDirs(t, dir, "-delete")) != 1 {
		t.Fatal("Close removed a -delete directory before its delay")
	}
	clock.t = clock.t.Add(time.Hour)
	m = openRetireManager(t, dir, clock)
	defer m.Close()
	if len(m.All()) != 0 {
		t.Fatalf("a -delete directory loaded as a partition: %v", m.All())
	}
	m.runDeletes(false)
	if len(retiredDirs(t, dir, "-delete")) != 1 {
		t.Fatal("removed at start, without the delay")
	}
	clock.t = clock.t.Add(time.Minute)
	m.runDeletes(false)
	if d := retiredDirs(t, dir, "-delete"); len(d) != 0 {
		t.Fatalf("still there after the delay: %v", d)
	}
}

// A stray is renamed, counted, never loaded and never removed.
func TestRenameStrayKeepsTheData(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: time.Unix(1_000_000, 0)}
	m := openRetireManager(t, dir, clock)
	l, err := m.GetOrCreate("orders", 3, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(mkBatch(5, 1), leader); err != nil {
		t.Fatal(err)
	}
	data := readAll(t, l, 0)
	path, err := m.RenameStray("orders", 3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(path), "orders-3.") || !strings.HasSuffix(path, "-stray") || m.Strays() != 1 || m.Get("orders", 3) != nil {
		t.Fatalf("stray at %q, count %d", path, m.Strays())
	}
	if p, err := m.RenameStray("orders", 3); p != "" || err != nil {
		t.Fatalf("renaming an absent partition: %q, %v", p, err)
	}
	clock.t = clock.t.Add(24 * time.Hour)
	m.runDeletes(false)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openRetireManager(t, dir, clock)
	defer m.Close()
	if len(m.All()) != 0 || m.Strays() != 1 {
		t.Fatalf("after reopen: logs %v, strays %d", m.All(), m.Strays())
	}
	clock.t = clock.t.Add(24 * time.Hour)
	m.runDeletes(false)
	if got, _ := os.ReadFile(filepath.Join(path, "00000000000000000000.log")); !bytes.Equal(got, data) {
		t.Fatal("the stray's log is not intact")
	}
	if pd, err := PartitionDirs(dir); err != nil || len(pd) != 0 {
		t.Fatalf("PartitionDirs lists %v, %v", pd, err)
	}
}

func TestRetiredKind(t *testing.T) {
	for name, want := range map[string]string{
		"t-0.0123456789abcdef0123456789abcdef-delete":        "-delete",
		"t-0.0123456789abcdef-delete":                        "-delete",
		"my.topic-12.0123456789abcdef0123456789abcdef-stray": "-stray",
		"x-delete-0":                 "",
		"t-0-delete":                 "",
		"t-0.xyz-delete":             "",
		"etcd":                       "",
		"t-x.0123456789abcdef-stray": "",
	} {
		if got := retiredKind(name); got != want {
			t.Errorf("retiredKind(%q) = %q, want %q", name, got, want)
		}
	}
}
