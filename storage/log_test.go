package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestAppendReadBasic(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	l, err := m.GetOrCreate("t", 0, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r, err := l.Append(mkBatch(3, 1000+int64(i)), AppendOptions{AssignOffsets: true, LeaderEpoch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if r.BaseOffset != int64(i*3) || r.LastOffset != int64(i*3+2) {
			t.Fatalf("append %d: %+v", i, r)
		}
	}
	if l.LogEndOffset() != 30 {
		t.Fatal(l.LogEndOffset())
	}
	got := batchOffsets(t, readAll(t, l, 4))
	if len(got) != 9 || got[0] != [2]int64{3, 5} {
		t.Fatalf("read from 4: %v", got)
	}
	if _, err := l.Read(31, 100, 100, true); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = openTestManager(t, dir, nil)
	defer m.Close()
	l = m.Get("t", 0)
	if l == nil || l.LogEndOffset() != 30 {
		t.Fatalf("reopen: %v", l)
	}
	if len(batchOffsets(t, readAll(t, l, 0))) != 10 {
		t.Fatal("reopen read")
	}
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 30 {
		t.Fatal(e, off)
	}
	_ = time.Now
}
