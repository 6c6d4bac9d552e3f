package txn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memLog is an in-memory Log.
type memLog struct {
	mu   sync.Mutex
	recs []Record
	fail error
}

func (l *memLog) Append(_ context.Context, recs []Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.recs = append(l.recs, recs...)
	return nil
}

func (l *memLog) Replay(_ context.Context, fn func(k, v []byte) error) error {
	l.mu.Lock()
	recs := append([]Record(nil), l.recs...)
	l.mu.Unlock()
	for _, r := range recs {
		if err := fn(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

// fakeMarkers records markers; while block is set it fails every write.
type fakeMarkers struct {
	mu      sync.Mutex
	block   bool
	written []Marker
	done    chan Marker
}

func (f *fakeMarkers) WriteMarkers(_ context.Context, m Marker) []TopicPartition {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.block {
		return m.Partitions
	}
	f.written = append(f.written, m)
	if f.done != nil {
		f.done <- m
	}
	return nil
}

type seqIDs struct {
	mu   sync.Mutex
	next int64
}

func (s *seqIDs) NextID(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	return s.next, nil
}

type fixture struct {
	c   *Coordinator
	log *memLog
	mk  *fakeMarkers
	ids *seqIDs
	now time.Time
	mu  sync.Mutex
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{log: &memLog{}, mk: &fakeMarkers{done: make(chan Marker, 16)}, ids: &seqIDs{next: 999}, now: time.Unix(1000, 0)}
	f.start(t)
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) start(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NumPartitions = 1
	cfg.MarkerRetryBackoff = time.Millisecond
	f.c = New(cfg, Options{IDs: f.ids, Markers: f.mk, Now: f.clock})
	t.Cleanup(f.c.Close)
	if err := f.c.Load(context.Background(), 0, 7, f.log); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) waitState(t *testing.T, id string, want State) Description {
	t.Helper()
	for i := 0; i < 2000; i++ {
		d, err := f.c.Describe(id)
		if err == nil && d.State == want {
			return d
		}
		time.Sleep(time.Millisecond)
	}
	d, err := f.c.Describe(id)
	t.Fatalf("%s: state %v (err %v), want %v", id, d.State, err, want)
	return d
}

// beginTV2 gives id a producer id and a transaction version 2
// transaction holding partition t-0.
func (f *fixture) beginTV2(t *testing.T, id string) ProducerIDAndEpoch {
	t.Helper()
	pe, err := f.c.InitProducerID(ctx, id, 60000, none())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.AddPartitions(ctx, id, pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}, 2); err != nil {
		t.Fatal(err)
	}
	return pe
}

// blockMarkers makes every marker write fail (block) or succeed again.
func (f *fixture) blockMarkers(block bool) {
	f.mk.mu.Lock()
	f.mk.block = block
	f.mk.mu.Unlock()
}

// exhaustEpoch sets id's epoch to the last usable one.
func (f *fixture) exhaustEpoch(id string) {
	tt := f.c.parts[0].txns[id]
	tt.mu.Lock()
	tt.m.epoch = maxEpoch
	tt.mu.Unlock()
}

var ctx = context.Background()

func none() ProducerIDAndEpoch { return ProducerIDAndEpoch{-1, -1} }

func TestInitProducerIDTimeouts(t *testing.T) {
	f := newFixture(t)
	for _, ms := range []int32{0, -1, int32(16 * time.Minute / time.Millisecond)} {
		if _, err := f.c.InitProducerID(ctx, "a", ms, none()); !errors.Is(err, kerr.InvalidTransactionTimeout) {
			t.Fatalf("timeout %d: %v", ms, err)
		}
	}
	if _, err := f.c.InitProducerID(ctx, "", 1000, none()); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatal(err)
	}
}

func TestCommitFlowAndEpochBumps(t *testing.T) {
	f := newFixture(t)
	pe, err := f.c.InitProducerID(ctx, "a", 60000, none())
	if err != nil || pe.ID != 1000 || pe.Epoch != 0 {
		t.Fatal(pe, err)
	}
	parts := []TopicPartition{{"t", 0}, {"t", 1}}
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, parts, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch+1, parts, 0); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatal(err)
	}
	if err := f.c.AddPartitions(ctx, "a", pe.ID+1, pe.Epoch, parts, 0); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatal(err)
	}
	v, err := f.c.Verify("a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}, {"t", 2}})
	if err != nil || !v[TopicPartition{"t", 0}] || v[TopicPartition{"t", 2}] {
		t.Fatal(v, err)
	}
	if _, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true, 0); err != nil {
		t.Fatal(err)
	}
	m := <-f.mk.done
	if !m.Commit || m.ProducerID != pe.ID || m.CoordinatorEpoch != 7 || len(m.Partitions) != 2 {
		t.Fatalf("%+v", m)
	}
	f.waitState(t, "a", CompleteCommit)
	// A retried commit succeeds; an abort now is INVALID_TXN_STATE.
	if _, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, false, 0); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatal(err)
	}
	// Re-init bumps the epoch; KIP-360 retry with the old epoch gets the
	// same answer; a stale epoch is fenced.
	pe2, err := f.c.InitProducerID(ctx, "a", 60000, pe)
	if err != nil || pe2.ID != pe.ID || pe2.Epoch != 1 {
		t.Fatal(pe2, err)
	}
	pe3, err := f.c.InitProducerID(ctx, "a", 60000, pe)
	if err != nil || pe3 != pe2 {
		t.Fatal(pe3, err)
	}
	if _, err := f.c.InitProducerID(ctx, "a", 60000, ProducerIDAndEpoch{pe.ID, 5}); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatal(err)
	}
	// Empty state: EndTxn is INVALID_TXN_STATE.
	if _, err := f.c.EndTxn(ctx, "a", pe2.ID, pe2.Epoch, true, 0); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatal(err)
	}
}

func TestFencingAbortsOngoing(t *testing.T) {
	f := newFixture(t)
	pe, _ := f.c.InitProducerID(ctx, "a", 60000, none())
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}, 0); err != nil {
		t.Fatal(err)
	}
	f.blockMarkers(true)
	if _, err := f.c.InitProducerID(ctx, "a", 60000, none()); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatal(err)
	}
	if _, err := f.c.InitProducerID(ctx, "a", 60000, none()); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatal(err)
	}
	// The zombie is fenced.
	if _, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true, 0); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatal(err)
	}
	f.blockMarkers(false)
	m := <-f.mk.done
	if m.Commit || m.ProducerEpoch != 1 {
		t.Fatalf("%+v", m)
	}
	f.waitState(t, "a", CompleteAbort)
	pe2, err := f.c.InitProducerID(ctx, "a", 60000, none())
	if err != nil || pe2.Epoch != 2 {
		t.Fatal(pe2, err)
	}
}

func TestTimeoutAbort(t *testing.T) {
	f := newFixture(t)
	pe, _ := f.c.InitProducerID(ctx, "a", 1000, none())
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}, 0); err != nil {
		t.Fatal(err)
	}
	f.c.AbortTimedOut()
	if d, _ := f.c.Describe("a"); d.State != Ongoing {
		t.Fatal(d.State)
	}
	f.advance(2 * time.Second)
	f.c.AbortTimedOut()
	m := <-f.mk.done
	if m.Commit || m.ProducerEpoch != pe.Epoch+1 {
		t.Fatalf("%+v", m)
	}
	f.waitState(t, "a", CompleteAbort)
	if _, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true, 0); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatal(err)
	}
}

func TestReloadCompletesPrepared(t *testing.T) {
	f := newFixture(t)
	pe, _ := f.c.InitProducerID(ctx, "a", 60000, none())
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}, 0); err != nil {
		t.Fatal(err)
	}
	pb, _ := f.c.InitProducerID(ctx, "b", 60000, none())
	if err := f.c.AddPartitions(ctx, "b", pb.ID, pb.Epoch, []TopicPartition{{"u", 3}}, 0); err != nil {
		t.Fatal(err)
	}
	f.blockMarkers(true)
	if _, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true, 0); err != nil {
		t.Fatal(err)
	}
	f.c.Close()

	// A new coordinator replays the log: a is still PrepareCommit and gets
	// its markers, b stays Ongoing.
	f.blockMarkers(false)
	f.start(t)
	m := <-f.mk.done
	if !m.Commit || m.ProducerID != pe.ID || m.Partitions[0] != (TopicPartition{"t", 0}) {
		t.Fatalf("%+v", m)
	}
	f.waitState(t, "a", CompleteCommit)
	d := f.waitState(t, "b", Ongoing)
	if len(d.Partitions) != 1 || d.ProducerID != pb.ID {
		t.Fatalf("%+v", d)
	}
	ls := f.c.List(ListFilter{States: []State{Ongoing}})
	if len(ls) != 1 || ls[0].ID != "b" {
		t.Fatalf("%+v", ls)
	}
}

func TestWriteFailureLeavesStateUnchanged(t *testing.T) {
	f := newFixture(t)
	pe, _ := f.c.InitProducerID(ctx, "a", 60000, none())
	f.log.mu.Lock()
	f.log.fail = kerr.NotLeaderForPartition
	f.log.mu.Unlock()
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}, 0); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatal(err)
	}
	if d, _ := f.c.Describe("a"); d.State != Empty {
		t.Fatal(d.State)
	}
}

func TestRemoveExpired(t *testing.T) {
	f := newFixture(t)
	if _, err := f.c.InitProducerID(ctx, "a", 60000, none()); err != nil {
		t.Fatal(err)
	}
	f.advance(8 * 24 * time.Hour)
	f.c.RemoveExpired()
	if _, err := f.c.Describe("a"); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatal(err)
	}
	f.c.Close()
	f.start(t)
	if _, err := f.c.Describe("a"); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatal(err)
	}
}

func TestLoadOrderByEpoch(t *testing.T) {
	f := newFixture(t) // loaded at coordinator epoch 7
	if _, err := f.c.InitProducerID(ctx, "a", 60000, none()); err != nil {
		t.Fatal(err)
	}
	// A load for an older epoch that arrives late is ignored.
	if err := f.c.Load(ctx, 0, 3, &memLog{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Describe("a"); err != nil {
		t.Fatalf("stale load replaced the partition: %v", err)
	}
	// UnloadEpoch only unloads the epoch it names.
	f.c.UnloadEpoch(0, 3)
	if got := f.c.Loaded(); len(got) != 1 {
		t.Fatal(got)
	}
	f.c.UnloadEpoch(0, 7)
	if _, err := f.c.Describe("a"); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatal(err)
	}
}

// TestTransactionVersion2: EndTxn under TV2 (KIP-890 part 2) bumps the
// epoch at every commit and abort, writes the markers at the bumped epoch
// and answers it; a retry with the old epoch answers NONE once complete
// and CONCURRENT_TRANSACTIONS before; aborting with nothing ongoing is
// allowed (and bumps), committing it is INVALID_TXN_STATE; a stale epoch is
// PRODUCER_FENCED; an exhausted epoch moves to a fresh producer id once the
// markers are written, and the state survives a reload (value version 1).
func TestTransactionVersion2(t *testing.T) {
	f := newFixture(t)
	pe := f.beginTV2(t, "a")
	next, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true, 2)
	if err != nil || next != (ProducerIDAndEpoch{pe.ID, pe.Epoch + 1}) {
		t.Fatalf("commit: %v %v", next, err)
	}
	if m := <-f.mk.done; !m.Commit || m.ProducerEpoch != pe.Epoch+1 {
		t.Fatalf("marker %+v, want the bumped epoch", m)
	}
	f.waitState(t, "a", CompleteCommit)
	// Retry of the commit: NONE with the current id and epoch.
	if again, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true, 2); err != nil || again != next {
		t.Fatalf("retried commit: %v %v", again, err)
	}
	// The retry as an abort: INVALID_TXN_STATE; a stale epoch: fenced.
	if _, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, false, 2); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("abort retry after commit: %v", err)
	}
	if _, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch-1, true, 2); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("stale epoch: %v", err)
	}
	// The old epoch can no longer add partitions.
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}, 2); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("old epoch adds: %v", err)
	}
	// Committing nothing is INVALID_TXN_STATE; aborting nothing bumps.
	if _, err := f.c.EndTxn(ctx, "a", next.ID, next.Epoch, true, 2); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("empty commit: %v", err)
	}
	after, err := f.c.EndTxn(ctx, "a", next.ID, next.Epoch, false, 2)
	if err != nil || after.Epoch != next.Epoch+1 {
		t.Fatalf("empty abort: %v %v", after, err)
	}
	f.waitState(t, "a", CompleteAbort)

	// Exhaustion: at the last usable epoch the bump moves the id to a
	// fresh producer id at epoch 0, after the markers.
	f.exhaustEpoch("a")
	if err := f.c.AddPartitions(ctx, "a", next.ID, maxEpoch, []TopicPartition{{"t", 1}}, 2); err != nil {
		t.Fatal(err)
	}
	moved, err := f.c.EndTxn(ctx, "a", next.ID, maxEpoch, false, 2)
	if err != nil || moved.ID == next.ID || moved.Epoch != 0 {
		t.Fatalf("exhausted abort: %v %v", moved, err)
	}
	if m := <-f.mk.done; m.Commit || m.ProducerID != next.ID || m.ProducerEpoch != maxEpoch+1 {
		t.Fatalf("marker %+v", m)
	}
	d := f.waitState(t, "a", CompleteAbort)
	if d.ProducerID != moved.ID || d.Epoch != 0 {
		t.Fatalf("after the move: %+v", d)
	}
	// A retry with the old id and the exhausted epoch is recognised.
	if again, err := f.c.EndTxn(ctx, "a", next.ID, maxEpoch, false, 2); err != nil || again != moved {
		t.Fatalf("retry across the move: %v %v", again, err)
	}

	// A new coordinator replaying the log (value version 1 when the
	// cluster finalizes TV >= 1) sees the same state.
	cfg := DefaultConfig()
	cfg.NumPartitions = 1
	c2 := New(cfg, Options{IDs: f.ids, Markers: f.mk, Now: f.clock, TransactionVersion: func() int16 { return 2 }})
	defer c2.Close()
	if err := c2.Load(ctx, 0, 8, f.log); err != nil {
		t.Fatal(err)
	}
	if d2, err := c2.Describe("a"); err != nil || d2.ProducerID != moved.ID || d2.Epoch != 0 || d2.State != CompleteAbort {
		t.Fatalf("replayed: %+v %v", d2, err)
	}
	if err := c2.AddPartitions(ctx, "a", moved.ID, 0, []TopicPartition{{"t", 0}}, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.EndTxn(ctx, "a", moved.ID, 0, true, 2); err != nil {
		t.Fatal(err)
	}
	<-f.mk.done
	c3 := New(cfg, Options{IDs: f.ids, Markers: f.mk, Now: f.clock})
	defer c3.Close()
	// Wait for c2's completion record before replaying.
	for i := 0; i < 2000; i++ {
		if d, _ := c2.Describe("a"); d.State == CompleteCommit {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := c3.Load(ctx, 0, 9, f.log); err != nil {
		t.Fatal(err)
	}
	if d3, err := c3.Describe("a"); err != nil || d3.Epoch != 1 || d3.State != CompleteCommit {
		t.Fatalf("replayed v1 records: %+v %v", d3, err)
	}
	// The TV2 retry of that commit is still recognised after the move.
	if again, err := c3.EndTxn(ctx, "a", moved.ID, 0, true, 2); err != nil || again.Epoch != 1 {
		t.Fatalf("retry after reload: %v %v", again, err)
	}
}

// TestTransactionVersion2WhileMarkersAreWritten: a TV2 client holds the
// bumped epoch as soon as its EndTxn is answered, while the markers are
// still being written. Whatever it sends next in that window — the next
// transaction's EndTxn (franz-go aborts an empty transaction whose produce
// never went out), a partition, a KIP-360 InitProducerId — answers
// CONCURRENT_TRANSACTIONS, which it retries, never PRODUCER_FENCED, which
// is fatal to it. Past an exhausted epoch the same holds for the next
// producer id. Once the completion is written the same requests succeed.
func TestTransactionVersion2WhileMarkersAreWritten(t *testing.T) {
	f := newFixture(t)
	pe := f.beginTV2(t, "a")
	f.blockMarkers(true)
	next, err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true, 2)
	if err != nil || next.Epoch != pe.Epoch+1 {
		t.Fatalf("commit: %v %v", next, err)
	}
	if _, err := f.c.EndTxn(ctx, "a", next.ID, next.Epoch, false, 2); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("next transaction's abort while markers are written: %v", err)
	}
	if err := f.c.AddPartitions(ctx, "a", next.ID, next.Epoch, []TopicPartition{{"t", 1}}, 2); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("next transaction's partition while markers are written: %v", err)
	}
	if _, err := f.c.InitProducerID(ctx, "a", 60000, next); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("KIP-360 InitProducerId while markers are written: %v", err)
	}
	f.blockMarkers(false)
	<-f.mk.done
	f.waitState(t, "a", CompleteCommit)
	after, err := f.c.EndTxn(ctx, "a", next.ID, next.Epoch, false, 2)
	if err != nil || after != (ProducerIDAndEpoch{next.ID, next.Epoch + 1}) {
		t.Fatalf("abort after the completion: %v %v", after, err)
	}
	f.waitState(t, "a", CompleteAbort)

	// Past an exhausted epoch the client holds a producer id the stored
	// state names only once the markers are written.
	f.exhaustEpoch("a")
	if err := f.c.AddPartitions(ctx, "a", after.ID, maxEpoch, []TopicPartition{{"t", 0}}, 2); err != nil {
		t.Fatal(err)
	}
	f.blockMarkers(true)
	moved, err := f.c.EndTxn(ctx, "a", after.ID, maxEpoch, true, 2)
	if err != nil || moved.ID == after.ID || moved.Epoch != 0 {
		t.Fatalf("exhausted commit: %v %v", moved, err)
	}
	if err := f.c.AddPartitions(ctx, "a", moved.ID, 0, []TopicPartition{{"t", 0}}, 2); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("the next producer id's partition while markers are written: %v", err)
	}
	f.blockMarkers(false)
	<-f.mk.done
	f.waitState(t, "a", CompleteCommit)
	if err := f.c.AddPartitions(ctx, "a", moved.ID, 0, []TopicPartition{{"t", 0}}, 2); err != nil {
		t.Fatalf("the next producer id's partition after the completion: %v", err)
	}
}
