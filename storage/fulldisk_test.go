package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sys/unix"
)

// TestFullDisk fills a real, small tmpfs log dir (root only; skipped
// otherwise) 20 times: the append that meets ENOSPC fails with
// KAFKA_STORAGE_ERROR and fails the dir — no SIGBUS, which is what the
// old MAP_SHARED stores into sparse index files gave in 7 of 12 runs —
// a new Manager opens on the completely full disk, and once retention
// has deleted segments the log takes appends again.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	if testing.Short() {
		t.Skip("short")
	}
	for run := 0; run < 20; run++ {
		fullDiskRun(t, run)
		if t.Failed() {
			t.Fatalf("run %d failed", run)
		}
	}
}

func fullDiskRun(t *testing.T, run int) {
	mnt := t.TempDir()
	// Sizes and batch sizes vary by run, so the disk fills at different
	// writes: a .log write, a roll's index write, a snapshot, a checkpoint.
	sizeK, valueBytes := 6144, 8<<10 // fills at a roll's index write
	if run%2 == 1 {
		sizeK, valueBytes = 4096+run*211, 5000+run*997 // at a .log write
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%dk", sizeK)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	}()
	dir := filepath.Join(mnt, "logs")
	cfg := DefaultConfig()
	cfg.SegmentBytes = 512 << 10
	cfg.IndexIntervalBytes = 1024
	cfg.FileDeleteDelayMs = 0
	value := bytes.Repeat([]byte{byte('a' + run)}, valueBytes)
	batch := func() []byte {
		var b BatchBuilder
		for i := 0; i < 2; i++ {
			b.Add(1000, []byte("k"), value)
		}
		return b.Build()
	}

	m := openFaultManager(t, dir, nil)
	// Two partitions, so that the disk fills during rolls and index and
	// checkpoint writes too, not only in .log writes.
	var logs []*Log
	for p := int32(0); p < 2; p++ {
		l, err := m.GetOrCreate("t", p, cfg)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	var failErr error
	acked := map[int32]int64{}
	for i := 0; failErr == nil; i++ {
		l := logs[i%2]
		r, err := l.Append(batch(), leader)
		if err != nil {
			failErr = err
			break
		}
		acked[l.Partition()] = r.LastOffset + 1
		if i > 10000 {
			t.Fatal("the disk never filled")
		}
	}
	if !errors.Is(failErr, kerr.KafkaStorageError) {
		t.Fatalf("append on a full disk: %v, want KAFKA_STORAGE_ERROR", failErr)
	}
	if err := m.Failed(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Failed() = %v, want ENOSPC", err)
	}
	t.Logf("run %d: %v", run, m.Failed())
	for _, l := range logs {
		if l.LogEndOffset() != acked[l.Partition()] {
			t.Fatalf("partition %d: log end %d, acknowledged %d", l.Partition(), l.LogEndOffset(), acked[l.Partition()])
		}
		if _, err := l.Append(batch(), leader); !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("append after the failure: %v", err)
		}
	}
	_ = m.Close()

	// Take what is left, so the next open has no byte to write with.
	fillDisk(t, filepath.Join(mnt, "filler"))

	m2 := openFaultManager(t, dir, nil)
	defer m2.Close()
	if m2.Failed() != nil {
		t.Fatalf("reopen on a full disk: %v", m2.Failed())
	}
	for _, l := range m2.All() {
		if l.LogEndOffset() != acked[l.Partition()] {
			t.Fatalf("reopened partition %d: log end %d, acknowledged %d", l.Partition(), l.LogEndOffset(), acked[l.Partition()])
		}
		got := batchOffsets(t, readAll(t, l, l.LogStartOffset()))
		if len(got) == 0 || got[len(got)-1][1]+1 != acked[l.Partition()] {
			t.Fatalf("reopened partition %d reads %v", l.Partition(), got)
		}
	}
	// Retention frees the disk (retention.bytes 0: every inactive segment).
	small := cfg
	small.RetentionBytes = 0
	for p := int32(0); p < 2; p++ {
		if _, err := m2.GetOrCreate("t", p, small); err != nil {
			t.Fatal(err)
		}
	}
	if n := m2.RunRetention(); n == 0 {
		t.Fatal("retention deleted nothing")
	}
	for _, l := range m2.All() {
		if _, err := l.Append(batch(), leader); err != nil {
			t.Fatalf("append after retention freed space: %v (dir: %v)", err, m2.Failed())
		}
	}
	if m2.Failed() != nil {
		t.Fatal(m2.Failed())
	}
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return
		}
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}
