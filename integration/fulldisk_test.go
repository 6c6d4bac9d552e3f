package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFullDiskBroker fills a real runnel process's log dir — a 32 MiB
// tmpfs (root only; skipped otherwise) — with franz-go and kcat producers,
// 2 times (20 with RUNNEL_SOAK_FULLDISK=1, `make soak-fulldisk`). Each
// time: the broker never dies of a signal and logs the failure; `runnel
// serve` exits non-zero on its own; /readyz's "log dir failed" is logged
// when a poll lands in the few milliseconds before the exit (not
// asserted: see readyzWatcher); restarted on the full disk it starts and
// still holds every record franz-go had acknowledged; once
// retention.bytes is lowered its segments are deleted and it takes and
// serves records again. etcd is an external process, so the tmpfs
// holds the partitions only.
func TestFullDiskBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("full-disk test in -short mode")
	}
	runs := 2
	if os.Getenv("RUNNEL_SOAK_FULLDISK") == "1" {
		runs = 20
	}
	const topic = "full"
	mnt := filepath.Join(t.TempDir(), "mnt")
	mountTmpfs(t, mnt, 32)
	etcdURL := testenv.StartEtcd(t)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	b := startBroker(t,
		withLogDir(filepath.Join(mnt, "logs")),
		withOverride("etcd.endpoints", etcdURL),
		withOverride("runnel.admin.listener", adminAddr),
		// Retention runs often and deletes at once, so that lowering it
		// frees the disk within the test's patience.
		withOverride("log.retention.check.interval.ms", "300"),
		withOverride("log.segment.delete.delay.ms", "0"),
	)
	b.createTopic(t, topic, 2, "segment.bytes", "1048576", "retention.bytes", "-1")

	for run := 0; run < runs; run++ {
		start := time.Now()
		fullDiskRun(t, b, adminAddr, mnt, topic, run)
		if t.Failed() {
			t.Fatalf("run %d failed", run)
		}
		t.Logf("run %d took %v", run, time.Since(start).Round(time.Millisecond))
	}
}

func fullDiskRun(t *testing.T, b *broker, adminAddr, mnt, topic string, run int) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	setRetention(t, ctx, b, topic, "-1")
	waitReadyz(t, adminAddr)
	logFrom := b.logLen()
	watch := watchReadyz(adminAddr)
	fillStart := time.Now()

	// Value sizes vary by run so the disk fills at different writes: a
	// .log write, a roll's index write, a checkpoint.
	valueBytes := 16<<10 + run*3001
	pctx, stopProducing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	acked := map[int32]map[int64]string{0: {}, 1: {}}
	var ackMu sync.Mutex
	cl := b.franz(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		// Records in flight when the broker dies would otherwise be
		// retried for ever: give up on them so the run ends.
		kgo.RecordDeliveryTimeout(5*time.Second))
	wg.Add(1)
	go func() {
		defer wg.Done()
		sem := make(chan struct{}, 16)
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for seq := 0; pctx.Err() == nil; seq++ {
			select {
			case sem <- struct{}{}:
			case <-pctx.Done():
				return
			}
			v := fmt.Sprintf("r%d-%08d-", run, seq)
			v += strings.Repeat("x", valueBytes-len(v))
			inflight.Add(1)
			cl.Produce(pctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer inflight.Done()
				defer func() { <-sem }()
				if err == nil {
					ackMu.Lock()
					acked[r.Partition][r.Offset] = string(r.Value)
					ackMu.Unlock()
				}
			})
		}
	}()
	// kcat (librdkafka) fills partition 1 from an endless stdin.
	kcatOut := &bytes.Buffer{}
	kcmd := exec.CommandContext(pctx, "kcat", "-P", "-b", b.addr(), "-t", topic, "-p", "1",
		"-X", "message.timeout.ms=5000", "-X", "linger.ms=5")
	kcmd.Stdin = &endlessLines{stop: pctx.Done(), line: []byte(strings.Repeat("k", valueBytes) + "\n")}
	kcmd.Stdout, kcmd.Stderr = kcatOut, kcatOut
	if err := kcmd.Start(); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = kcmd.Wait() }()

	b.waitExit(t, 2*time.Minute, logFrom)
	exitAfter := time.Since(fillStart)
	failedBody := watch.result()
	stopProducing()
	cl.Close() // fails what is still buffered, so the producer ends
	wg.Wait()
	if failedBody == "" {
		// Not an error: with no leadership to hand over, serve closes
		// the admin listener a few milliseconds after the failure (see
		// readyzWatcher). waitExit checked the logged failure.
		failedBody = fmt.Sprintf("(no 503 seen in %d polls before the exit)", watch.polls)
	}
	ackMu.Lock()
	n := len(acked[0])
	ackMu.Unlock()
	t.Logf("run %d: full after %v (%d records of %d bytes acknowledged by franz-go); /readyz said %q; %d bytes free",
		run, exitAfter.Round(time.Millisecond), n, valueBytes, failedBody, freeBytes(t, mnt))
	if n == 0 {
		t.Errorf("run %d: franz-go got no acknowledgement before the disk filled", run)
	}
	if t.Failed() {
		return
	}

	// Restart on the full disk — as the producers left it: less free than
	// the write that failed — it must start, and every record franz-go had
	// acknowledged must be readable.
	//
	// With RUNNEL_FULLDISK_LAST_BYTE=1 a filler file takes the last free
	// bytes first. That fails today: the restarted broker starts, but on
	// being elected leader again it writes the new epoch to
	// leader-epoch-checkpoint, meets ENOSPC and fails its log dir again
	// before retention can free anything (as Kafka's LeaderEpochFileCache
	// would). Left for the storage owner; see the faults report.
	var filler string
	if os.Getenv("RUNNEL_FULLDISK_LAST_BYTE") == "1" {
		filler = fillDisk(t, mnt)
	}
	b.start()
	waitReadyz(t, adminAddr)
	verifyFullDiskAcks(t, ctx, b, topic, acked[0])

	// Lower retention: segments are deleted, the disk has room, and the
	// broker takes and serves records again.
	setRetention(t, ctx, b, topic, "1048576")
	deadline := time.Now().Add(60 * time.Second)
	for freeBytes(t, mnt) < 8<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("run %d: retention.bytes lowered, but only %d bytes free after 60s\n%s", run, freeBytes(t, mnt), tail(b.logs(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := fmt.Sprintf("after-full-%d", run)
	pcl := b.franz(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 2; p++ {
		res := pcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(want)})
		if err := res.FirstErr(); err != nil {
			t.Fatalf("run %d: produce after lowering retention: %v\n%s", run, err, tail(b.logs(), 40))
		}
		r := res[0].Record
		got := consumeOne(t, ctx, b, topic, p, r.Offset)
		if got != want {
			t.Fatalf("run %d: p%d@%d reads %q, want %q", run, p, r.Offset, got, want)
		}
	}
	if filler != "" {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}
	if code, body, err := readyz(adminAddr); err != nil || code != http.StatusOK {
		t.Fatalf("run %d: /readyz after recovery: %d %q %v", run, code, body, err)
	}
}

// endlessLines is an io.Reader giving the same line forever, until stop.
type endlessLines struct {
	stop <-chan struct{}
	line []byte
	off  int
}

func (e *endlessLines) Read(p []byte) (int, error) {
	select {
	case <-e.stop:
		return 0, io.EOF
	default:
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.line[e.off:])
		n += c
		e.off = (e.off + c) % len(e.line)
	}
	return n, nil
}

func setRetention(t *testing.T, ctx context.Context, b *broker, topic, bytes string) {
	t.Helper()
	resp, err := b.admin(t).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: &bytes}}, topic)
	for _, r := range resp {
		if err == nil && r.Err != nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatalf("set retention.bytes=%s: %v", bytes, err)
	}
}

// waitReadyz waits until /readyz answers 200.
func waitReadyz(t *testing.T, adminAddr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := readyz(adminAddr)
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not ready after 30s: %d %q %v", code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// verifyFullDiskAcks reads partition 0 from its first acknowledged offset
// and checks that each acknowledged record is there.
func verifyFullDiskAcks(t *testing.T, ctx context.Context, b *broker, topic string, acked map[int64]string) {
	t.Helper()
	first, last := int64(-1), int64(-1)
	for o := range acked {
		if first < 0 || o < first {
			first = o
		}
		if o > last {
			last = o
		}
	}
	cons := b.franz(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(first)}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	found := 0
	for next := first; next <= last; {
		fs := cons.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read p0 up to %d of %d acknowledged records (offsets %d..%d) after the restart: %v", found, len(acked), first, last, rctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch p%d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < next {
				return
			}
			next = r.Offset + 1
			if v, ok := acked[r.Offset]; ok {
				if v != string(r.Value) {
					t.Errorf("p0@%d: acknowledged %.20q, read %.20q", r.Offset, v, r.Value)
				}
				found++
			}
		})
	}
	cons.Close()
	if found != len(acked) {
		t.Errorf("after the restart %d of %d acknowledged records are in the log", found, len(acked))
	}
}

// consumeOne reads the record at offset o of partition p.
func consumeOne(t *testing.T, ctx context.Context, b *broker, topic string, p int32, o int64) string {
	t.Helper()
	cons := b.franz(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(o)}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cons.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		fs := cons.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("reading p%d@%d: %v", p, o, rctx.Err())
		}
		var v *string
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset == o && v == nil {
				s := string(r.Value)
				v = &s
			}
		})
		if v != nil {
			return *v
		}
	}
}
