package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// Crash tests. The child mode (RUNNEL_STORAGE_CRASH_DIR set) appends
// deterministic batches in a loop and prints each acknowledged log end on
// stdout; the parent SIGKILLs it mid-stream and checks what survived.

const crashDirEnv = "RUNNEL_STORAGE_CRASH_DIR"

func crashConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.SegmentIndexBytes = 4 << 10
	cfg.IndexIntervalBytes = 512
	return cfg
}

// crashBatch is the batch whose first offset is base: record i has value
// "<base+i>" padded, so content can be checked after recovery.
func crashBatch(base int64, n int) []byte {
	var b BatchBuilder
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%d:%s", base+int64(i), bytes.Repeat([]byte{'p'}, int(base%97)))
		b.Add(1000+base, nil, []byte(v))
	}
	return b.Build()
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	code := m.Run()
	if code == 0 {
		// No goroutine (Manager loops) may outlive its Manager.Close.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func crashChild(dir string) {
	m, err := OpenManager(ManagerOptions{Dir: dir, MaxOpenFiles: 8})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l, err := m.GetOrCreate("crash", 0, crashConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for {
		leo := l.LogEndOffset()
		n := int(leo%7) + 1
		if _, err := l.Append(crashBatch(leo, n), AppendOptions{AssignOffsets: true}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Fprintln(w, l.LogEndOffset())
		w.Flush()
	}
}

// verifyCrashLog checks that the log is a dense, valid sequence of the
// deterministic batches and returns its end offset.
func verifyCrashLog(t *testing.T, l *Log) int64 {
	t.Helper()
	data := readAll(t, l, l.LogStartOffset())
	next := l.LogStartOffset()
	for len(data) > 0 {
		h, err := checkBatchFrame(data)
		if err != nil {
			t.Fatalf("invalid batch served at %d: %v", next, err)
		}
		if h.BaseOffset != next {
			t.Fatalf("batch at %d, want %d", h.BaseOffset, next)
		}
		if want := crashBatch(next, int(h.LastOffsetDelta)+1); !bytes.Equal(want[offAttributes:], data[offAttributes:h.Size()]) {
			t.Fatalf("batch %d content differs", next)
		}
		next = h.LastOffset() + 1
		data = data[h.Size():]
	}
	if next != l.LogEndOffset() {
		t.Fatalf("read ends at %d, LEO %d", next, l.LogEndOffset())
	}
	return next
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	var acked int64
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		want := 200 + rng.Intn(2000)
		for i := 0; i < want && sc.Scan(); i++ {
			v, err := strconv.ParseInt(sc.Text(), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if v < acked {
				t.Fatalf("round %d: child restarted at %d below acknowledged %d", round, v, acked)
			}
			acked = v
		}
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
		if stderr.Len() > 0 {
			t.Logf("child stderr: %s", stderr.String())
		}
		m := openTestManager(t, dir, nil)
		l := m.Get("crash", 0)
		if l == nil {
			t.Fatal("log missing")
		}
		end := verifyCrashLog(t, l)
		if end < acked {
			t.Fatalf("round %d: lost acknowledged writes: end %d < acked %d", round, end, acked)
		}
		// Appends continue at the right offset.
		res, err := l.Append(crashBatch(end, 1), AppendOptions{AssignOffsets: true})
		if err != nil || res.BaseOffset != end {
			t.Fatalf("append after crash: %+v %v", res, err)
		}
		acked = end + 1
		if round%2 == 0 {
			m.abandon() // the next child recovers from an unclean state too
		} else if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// buildCrashLog writes n deterministic batches cleanly and returns the dir.
func buildCrashLog(t *testing.T, n int) string {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	l, err := m.GetOrCreate("crash", 0, crashConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		leo := l.LogEndOffset()
		if _, err := l.Append(crashBatch(leo, int(leo%7)+1), AppendOptions{AssignOffsets: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

type segBatch struct{ seg, pos, size, base int64 }

func listBatches(t *testing.T, pdir string) (segs []string, batches []segBatch) {
	ents, _ := os.ReadDir(pdir)
	for _, e := range ents {
		if _, ok := parseSegmentBase(e.Name()); ok {
			segs = append(segs, filepath.Join(pdir, e.Name()))
		}
	}
	for si, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for pos := int64(0); pos < int64(len(b)); {
			size := int64(binary.BigEndian.Uint32(b[pos+8:])) + 12
			batches = append(batches, segBatch{int64(si), pos, size, int64(binary.BigEndian.Uint64(b[pos:]))})
			pos += size
		}
	}
	return segs, batches
}

func copyDir(t *testing.T, src, dst string) {
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dst, 0o755)
	for _, e := range ents {
		s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if e.IsDir() {
			copyDir(t, s, d)
			continue
		}
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTornAndCorruptTails cuts or corrupts segments at random byte
// positions, then reopens as after a crash with the recovery point at 0:
// exactly the batches before the damage must remain.
func TestTornAndCorruptTails(t *testing.T) {
	src := buildCrashLog(t, 600)
	segs, batches := listBatches(t, filepath.Join(src, "crash-0"))
	if len(segs) < 3 {
		t.Fatalf("want several segments, have %d", len(segs))
	}
	rng := rand.New(rand.NewSource(2))
	for iter := 0; iter < 40; iter++ {
		dir := t.TempDir()
		copyDir(t, src, dir)
		pdir := filepath.Join(dir, "crash-0")
		os.Remove(filepath.Join(dir, cleanShutdownFile))
		// Recovery point 0: every segment is re-read.
		if err := writePartitionCheckpoint(pdir, partitionCheckpoint{0, 0, 0, noEnd, noEnd}, false); err != nil {
			t.Fatal(err)
		}
		victim := batches[rng.Intn(len(batches))]
		segPath := filepath.Join(pdir, filepath.Base(segs[victim.seg]))
		var off int64
		mode := iter % 3
		switch mode {
		case 0: // torn write: cut inside the batch
			off = victim.pos + 1 + rng.Int63n(victim.size-1)
			if err := os.Truncate(segPath, off); err != nil {
				t.Fatal(err)
			}
		case 1, 2: // flipped byte in a CRC- or length-covered part
			for {
				off = victim.pos + rng.Int63n(victim.size)
				rel := off - victim.pos
				if (rel >= 8 && rel < 12) || rel >= 16 {
					break
				}
			}
			b, _ := os.ReadFile(segPath)
			b[off] ^= byte(1 + rng.Intn(255))
			os.WriteFile(segPath, b, 0o644)
		}
		if mode == 2 {
			// Also lose the index files: they must be rebuilt.
			for _, s := range segs {
				os.Remove(filepath.Join(pdir, filepath.Base(s[:len(s)-4])+".index"))
			}
		}
		m := openTestManager(t, dir, nil)
		l := m.Get("crash", 0)
		end := verifyCrashLog(t, l)
		if end != victim.base {
			t.Fatalf("iter %d mode %d: damage at batch %d (seg %d pos %d off %d) left log end %d", iter, mode, victim.base, victim.seg, victim.pos, off, end)
		}
		res, err := l.Append(crashBatch(end, 2), AppendOptions{AssignOffsets: true})
		if err != nil || res.BaseOffset != end {
			t.Fatalf("append after recovery: %+v %v", res, err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		// And it stays that way across a clean reopen.
		m = openTestManager(t, dir, nil)
		if got := verifyCrashLog(t, m.Get("crash", 0)); got != end+2 {
			t.Fatalf("after clean reopen: end %d want %d", got, end+2)
		}
		m.Close()
	}
}

// TestRecoveryGrowsSmallIndex: a segment written with a large
// segment.index.bytes and recovered under a smaller one keeps all its data.
func TestRecoveryGrowsSmallIndex(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 0 // an index entry for (almost) every batch
	l, _ := m.GetOrCreate("g", 0, cfg)
	for i := 0; i < 300; i++ {
		if _, err := l.Append(mkBatch(1, int64(i)), AppendOptions{AssignOffsets: true}); err != nil {
			t.Fatal(err)
		}
	}
	m.abandon()
	small := DefaultConfig()
	small.SegmentIndexBytes = 240 // 30 offset entries, 20 time entries
	l2, err := openLog(logOptions{dir: filepath.Join(dir, "g-0"), topic: "g", cfg: small, clean: false})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.close()
	if l2.LogEndOffset() != 300 {
		t.Fatalf("recovered to %d, want 300", l2.LogEndOffset())
	}
	if n := len(batchOffsets(t, readAll(t, l2, 0))); n != 300 {
		t.Fatalf("read %d batches", n)
	}
}

// TestCrashRecoversOnlyPastRecoveryPoint: after a crash, a log with data
// past its recovery point is re-read and cut at its last complete batch,
// while a log flushed to its end is not re-read (a corrupted byte in its
// payload, which a re-read would cut at, stays unnoticed) yet serves every
// offset through its rebuilt index, and an empty log is not even opened.
func TestCrashRecoversOnlyPastRecoveryPoint(t *testing.T) {
	dir := t.TempDir()
	m := openTestManager(t, dir, nil)
	cfg := crashConfig()
	appendN := func(l *Log, n int) {
		for range n {
			leo := l.LogEndOffset()
			if _, err := l.Append(crashBatch(leo, int(leo%7)+1), AppendOptions{AssignOffsets: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	idle, _ := m.GetOrCreate("idle", 0, cfg)
	busy, _ := m.GetOrCreate("busy", 0, cfg)
	mustOnDisk(t, m, "empty", 0, cfg)
	appendN(idle, 300) // several segments; the last one is active
	appendN(busy, 300)
	for _, l := range []*Log{idle, busy} {
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	appendN(busy, 25) // past its recovery point
	idleEnd, busyEnd := idle.LogEndOffset(), busy.LogEndOffset()
	if idle.Segments() < 3 {
		t.Fatalf("idle log has %d segments, want several", idle.Segments())
	}
	m.abandon() // kill -9: no clean-shutdown marker, nothing flushed since

	// The busy log's last write was torn: half a batch at its end.
	segs, _ := listBatches(t, filepath.Join(dir, "busy-0"))
	torn := crashBatch(busyEnd, 3)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(torn[:len(torn)/2])
	f.Close()
	// The idle log's last batch gets a flipped payload byte: only a
	// re-read (CRC check) would notice.
	segs, batches := listBatches(t, filepath.Join(dir, "idle-0"))
	lastB := batches[len(batches)-1]
	b, _ := os.ReadFile(segs[lastB.seg])
	b[lastB.pos+lastB.size-1] ^= 0xff
	os.WriteFile(segs[lastB.seg], b, 0o644)
	// Stale entries in the active segment's index files are ignored.
	for _, ext := range []string{".index", ".timeindex"} {
		p := segs[len(segs)-1][:len(segs[len(segs)-1])-4] + ext
		os.WriteFile(p, bytes.Repeat([]byte{0x7f}, 48), 0o644)
	}

	m = openTestManager(t, dir, nil)
	defer m.Close()
	if got := m.Get("busy", 0); verifyCrashLog(t, got) != busyEnd {
		t.Fatalf("busy log recovered to %d, want %d", got.LogEndOffset(), busyEnd)
	}
	l := m.Get("idle", 0)
	if l.LogEndOffset() != idleEnd {
		t.Fatalf("idle log ends at %d, want %d", l.LogEndOffset(), idleEnd)
	}
	if st, _ := os.Stat(segs[lastB.seg]); st.Size() != int64(len(b)) {
		t.Fatalf("idle log's segment was cut to %d bytes (re-read), want %d", st.Size(), len(b))
	}
	// Every offset of the idle log's active segment is found through the
	// rebuilt index, and what is read is the batches as written (up to
	// the one corrupted on purpose).
	active := segs[len(segs)-1]
	base, _ := parseSegmentBase(filepath.Base(active))
	for off := base; off < lastB.base; off++ {
		r, err := l.Read(off, idleEnd, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		r.WriteTo(&buf)
		r.Release()
		h, err := checkBatchFrame(buf.Bytes())
		if err != nil || h.BaseOffset > off || h.LastOffset() < off {
			t.Fatalf("read at %d: batch %d..%d, %v", off, h.BaseOffset, h.LastOffset(), err)
		}
	}
	if l.Segments() != len(segs) {
		t.Fatalf("idle log has %d segments, want %d", l.Segments(), len(segs))
	}
	if e := m.Get("empty", 0); e.segs[0].file != nil {
		t.Fatal("the empty log's segment was opened")
	}
	// Appends go on at the end of each.
	for _, name := range []string{"idle", "busy", "empty"} {
		l := m.Get(name, 0)
		end := l.LogEndOffset()
		if res, err := l.Append(crashBatch(end, 1), AppendOptions{AssignOffsets: true}); err != nil || res.BaseOffset != end {
			t.Fatalf("%s: append after the crash: %+v %v", name, res, err)
		}
	}
}
