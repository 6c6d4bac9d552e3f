package storage

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

var writeOps = []string{"write", "writeat", "sync", "truncate", "rename"}

// callMark is how many calls of each op fs had seen.
func callMark(fs *faultFS) map[string]int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	m := map[string]int{}
	for _, op := range writeOps {
		m[op] = len(fs.calls[op])
	}
	return m
}

// fileWrites lists the calls since mark (nil: all) that change or sync
// files under a partition dir of topic (the clean-shutdown marker and the
// log dir itself are the Manager's).
func fileWrites(fs *faultFS, topic string, mark map[string]int) []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []string
	for _, op := range writeOps {
		for _, p := range fs.calls[op][mark[op]:] {
			if strings.Contains(p, "/"+topic+"-") {
				out = append(out, op+" "+p)
			}
		}
	}
	return out
}

// TestIdleCloseWritesNothing: closing partitions that nothing changed
// since a clean open (or since they were created empty) costs no write
// and no fsync — a broker with 100k idle partitions stops in seconds —
// while a partition appended to is flushed as before, and every record
// is there after a clean reopen.
func TestIdleCloseWritesNothing(t *testing.T) {
	dir := t.TempDir()
	const parts = 40
	leader := AppendOptions{AssignOffsets: true, LeaderEpoch: 1}
	want := map[int32][]byte{}

	// Created and closed: the empty ones write nothing at close.
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	for p := int32(0); p < parts; p++ {
		l, err := m.GetOrCreate("idle", p, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if p%4 == 0 {
			if _, err := l.Append(mkBatch(3, 1000), leader); err != nil {
				t.Fatal(err)
			}
			want[p] = readAll(t, l, 0)
		}
	}
	mark := callMark(fs)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range fileWrites(fs, "idle", mark) {
		var p int32
		fmt.Sscanf(w[strings.Index(w, "/idle-")+len("/idle-"):], "%d", &p)
		if p%4 != 0 {
			t.Errorf("closing a partition created empty: %s", w)
		}
	}
	if fs.count("sync", "00000000000000000000.log") == 0 {
		t.Error("the partitions appended to were closed without an fsync of their .log")
	}

	// Reopened clean and closed at once: nothing at all.
	fs = newFaultFS()
	m = openFaultManager(t, dir, fs)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if w := fileWrites(fs, "idle", nil); len(w) != 0 {
		t.Errorf("closing partitions unchanged since a clean open: %d writes: %q", len(w), w)
	}

	// Reopened clean again: every record there; one more append is
	// flushed at close, alone.
	fs = newFaultFS()
	m = openFaultManager(t, dir, fs)
	for p := int32(0); p < parts; p++ {
		l := m.Get("idle", p)
		if l == nil {
			t.Fatalf("partition %d gone", p)
		}
		if got := readAll(t, l, 0); !bytes.Equal(got, want[p]) {
			t.Fatalf("partition %d: %d bytes after reopen, want %d", p, len(got), len(want[p]))
		}
	}
	if _, err := m.Get("idle", 1).Append(mkBatch(2, 2000), leader); err != nil {
		t.Fatal(err)
	}
	grown := readAll(t, m.Get("idle", 1), 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range fileWrites(fs, "idle", nil) {
		if !strings.Contains(w, "/idle-1/") && !strings.HasSuffix(w, "/idle-1") {
			t.Errorf("closing after an append to idle-1: %s", w)
		}
	}
	if fs.count("sync", "idle-1/00000000000000000000.log") != 1 {
		t.Errorf("idle-1's .log fsynced %d times at close, want 1", fs.count("sync", "idle-1/00000000000000000000.log"))
	}
	m = openFaultManager(t, dir, newFaultFS())
	defer m.Close()
	if got := readAll(t, m.Get("idle", 1), 0); !bytes.Equal(got, grown) {
		t.Fatalf("idle-1 after the last reopen: %d bytes, want %d", len(got), len(grown))
	}
}
