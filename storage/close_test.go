package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
// since a clean open (or since they were created empty) costs no write —
// a broker with 100k idle partitions stops in seconds —, a partition
// appended to has its files written but not fsynced one by one (the
// Manager's one syncfs does it), and every record is there after a clean
// reopen.
func TestIdleCloseWritesNothing(t *testing.T) {
	dir := t.TempDir()
	const parts = 40
	leader := AppendOptions{AssignOffsets: true, LeaderEpoch: 1}
	want := map[int32][]byte{}

	// Created and closed: the empty ones write nothing at close.
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	for p := int32(0); p < parts; p++ {
		l := mustOnDisk(t, m, "idle", p, DefaultConfig())
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
	for _, w := range fileWrites(fs, "idle", mark) {
		if strings.HasPrefix(w, "sync ") {
			t.Errorf("an fsync at close (one syncfs covers them all): %s", w)
		}
	}

	// Reopened clean and closed at once: nothing is written, not even
	// the checkpoints of the partitions appended to before — the close
	// that wrote their batches wrote their checkpoints after its syncfs,
	// recording their ends as fsynced (checkpoint.go), so that a crash
	// after the next start does not re-read them. Once more: the same.
	for range 2 {
		fs = newFaultFS()
		m = openFaultManager(t, dir, fs)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if w := fileWrites(fs, "idle", nil); len(w) != 0 {
			t.Errorf("closing partitions unchanged since a clean open: %d writes: %q", len(w), w)
		}
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
	m = openFaultManager(t, dir, newFaultFS())
	defer m.Close()
	if got := readAll(t, m.Get("idle", 1), 0); !bytes.Equal(got, grown) {
		t.Fatalf("idle-1 after the last reopen: %d bytes, want %d", len(got), len(grown))
	}
}

// TestNewLeaderEpochWrittenLazily: a new leader's epoch is written without
// an fsync (becoming leader of thousands of partitions costs none); it is
// made durable before the recovery point passes it, and if a crash loses
// it, recovery derives it again from the batches that carry it.
func TestNewLeaderEpochWrittenLazily(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	m := openFaultManager(t, dir, fs)
	l, err := m.GetOrCreate("lazy", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(mkBatch(2, 1000), AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	staleEpochs, err := os.ReadFile(filepath.Join(l.Dir(), epochCheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	synced := fs.count("sync", epochCheckpointFile+".tmp")
	if err := l.AssignEpoch(2, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if n := fs.count("sync", epochCheckpointFile+".tmp"); n != synced {
		t.Fatalf("AssignEpoch fsynced the leader-epoch-checkpoint (%d fsyncs)", n-synced)
	}
	if _, err := l.Append(mkBatch(3, 2000), AppendOptions{AssignOffsets: true, LeaderEpoch: 2}); err != nil {
		t.Fatal(err)
	}

	// A crash loses the unsynced file: it holds epoch 1 only again.
	m.abandon()
	if err := os.WriteFile(filepath.Join(dir, "lazy-0", epochCheckpointFile), staleEpochs, 0o644); err != nil {
		t.Fatal(err)
	}
	m = openFaultManager(t, dir, newFaultFS())
	l = m.Get("lazy", 0)
	if e, end := l.EndOffsetForEpoch(1); e != 1 || end != 2 {
		t.Errorf("after recovery, EndOffsetForEpoch(1) = %d, %d; want 1, 2", e, end)
	}
	if e, end := l.EndOffsetForEpoch(2); e != 2 || end != 5 {
		t.Errorf("after recovery, EndOffsetForEpoch(2) = %d, %d; want 2, 5", e, end)
	}

	// A flush that moves the recovery point makes a lazy epoch durable.
	fs = newFaultFS()
	m.Close()
	m = openFaultManager(t, dir, fs)
	defer m.Close()
	l = m.Get("lazy", 0)
	if err := l.AssignEpoch(3, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(mkBatch(1, 3000), AppendOptions{AssignOffsets: true, LeaderEpoch: 3}); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if fs.count("sync", epochCheckpointFile) == 0 {
		t.Error("a flush past a lazily written epoch left the leader-epoch-checkpoint unsynced")
	}
}

// TestRestartEpochsInOneFile: the new leader epochs a restart's elections
// give every partition (at the log end, no batch yet) are written at a
// clean close to the dir's one pending-epochs file, not to each
// partition's leader-epoch-checkpoint, and come back at the next open.
func TestRestartEpochsInOneFile(t *testing.T) {
	dir := t.TempDir()
	const parts = 20
	m := openTestManager(t, dir, nil)
	for p := int32(0); p < parts; p++ {
		l := mustOnDisk(t, m, "ep", p, DefaultConfig())
		if p%2 == 0 {
			if _, err := l.Append(mkBatch(2, 1000), AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// (The appended partitions record their fsynced end once: see
	// TestIdleCloseWritesNothing.)
	m = openTestManager(t, dir, nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	fs := newFaultFS()
	m = openFaultManager(t, dir, fs)
	for _, l := range m.All() {
		if err := l.AssignEpoch(5, l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if w := fileWrites(fs, "ep", nil); len(w) != 0 {
		t.Errorf("a partition's files written at close: %q", w)
	}
	if _, err := os.Stat(filepath.Join(dir, pendingEpochsFile)); err != nil {
		t.Fatal(err)
	}
	if got := PendingLeaderEpochs(dir)[PartitionDir{"ep", 3}]; got != 5 {
		t.Errorf("PendingLeaderEpochs: ep-3 at %d, want 5", got)
	}

	m = openTestManager(t, dir, nil)
	if _, err := os.Stat(filepath.Join(dir, pendingEpochsFile)); !os.IsNotExist(err) {
		t.Errorf("pending-epochs file still there after the open: %v", err)
	}
	for _, l := range m.All() {
		if e := l.LatestEpoch(); e != 5 {
			t.Fatalf("%s-%d: latest epoch %d after reopen, want 5", l.Topic(), l.Partition(), e)
		}
		if e, end := l.EndOffsetForEpoch(1); l.Partition()%2 == 0 && (e != 1 || end != 2) {
			t.Errorf("%s-%d: EndOffsetForEpoch(1) = %d, %d; want 1, 2", l.Topic(), l.Partition(), e, end)
		}
	}
	// A batch of the epoch writes the partition's own file; a close
	// then leaves nothing pending for it.
	l := m.Get("ep", 0)
	if _, err := l.Append(mkBatch(1, 2000), AppendOptions{AssignOffsets: true, LeaderEpoch: 5}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	pending := PendingLeaderEpochs(dir)
	if _, ok := pending[PartitionDir{"ep", 0}]; ok || len(pending) != parts-1 {
		t.Errorf("pending after the append: %v", pending)
	}
	if es, err := readEpochs(filepath.Join(dir, "ep-0", epochCheckpointFile)); err != nil || len(es) != 2 || es[1] != (epochEntry{5, 2}) {
		t.Errorf("ep-0's leader-epoch-checkpoint: %v %v", es, err)
	}
	m = openTestManager(t, dir, nil)
	defer m.Close()
	for _, l := range m.All() {
		if e := l.LatestEpoch(); e != 5 {
			t.Fatalf("%s-%d: latest epoch %d after the second reopen, want 5", l.Topic(), l.Partition(), e)
		}
	}
}
