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
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, parts); err != nil {
		t.Fatal(err)
	}
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch+1, parts); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatal(err)
	}
	if err := f.c.AddPartitions(ctx, "a", pe.ID+1, pe.Epoch, parts); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatal(err)
	}
	v, err := f.c.Verify("a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}, {"t", 2}})
	if err != nil || !v[TopicPartition{"t", 0}] || v[TopicPartition{"t", 2}] {
		t.Fatal(v, err)
	}
	if err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true); err != nil {
		t.Fatal(err)
	}
	m := <-f.mk.done
	if !m.Commit || m.ProducerID != pe.ID || m.CoordinatorEpoch != 7 || len(m.Partitions) != 2 {
		t.Fatalf("%+v", m)
	}
	f.waitState(t, "a", CompleteCommit)
	// A retried commit succeeds; an abort now is INVALID_TXN_STATE.
	if err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true); err != nil {
		t.Fatal(err)
	}
	if err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, false); !errors.Is(err, kerr.InvalidTxnState) {
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
	if err := f.c.EndTxn(ctx, "a", pe2.ID, pe2.Epoch, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatal(err)
	}
}

func TestFencingAbortsOngoing(t *testing.T) {
	f := newFixture(t)
	pe, _ := f.c.InitProducerID(ctx, "a", 60000, none())
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}); err != nil {
		t.Fatal(err)
	}
	f.mk.mu.Lock()
	f.mk.block = true
	f.mk.mu.Unlock()
	if _, err := f.c.InitProducerID(ctx, "a", 60000, none()); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatal(err)
	}
	if _, err := f.c.InitProducerID(ctx, "a", 60000, none()); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatal(err)
	}
	// The zombie is fenced.
	if err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatal(err)
	}
	f.mk.mu.Lock()
	f.mk.block = false
	f.mk.mu.Unlock()
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
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}); err != nil {
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
	if err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatal(err)
	}
}

func TestReloadCompletesPrepared(t *testing.T) {
	f := newFixture(t)
	pe, _ := f.c.InitProducerID(ctx, "a", 60000, none())
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}); err != nil {
		t.Fatal(err)
	}
	pb, _ := f.c.InitProducerID(ctx, "b", 60000, none())
	if err := f.c.AddPartitions(ctx, "b", pb.ID, pb.Epoch, []TopicPartition{{"u", 3}}); err != nil {
		t.Fatal(err)
	}
	f.mk.mu.Lock()
	f.mk.block = true
	f.mk.mu.Unlock()
	if err := f.c.EndTxn(ctx, "a", pe.ID, pe.Epoch, true); err != nil {
		t.Fatal(err)
	}
	f.c.Close()

	// A new coordinator replays the log: a is still PrepareCommit and gets
	// its markers, b stays Ongoing.
	f.mk.mu.Lock()
	f.mk.block = false
	f.mk.mu.Unlock()
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
	if err := f.c.AddPartitions(ctx, "a", pe.ID, pe.Epoch, []TopicPartition{{"t", 0}}); !errors.Is(err, kerr.NotCoordinator) {
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
