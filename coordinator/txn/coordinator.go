package txn

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/runnel/runnel/coordinator/placement"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Config holds the broker settings the coordinator follows.
type Config struct {
	NumPartitions      int32         // transaction.state.log.num.partitions
	MaxTimeout         time.Duration // transaction.max.timeout.ms
	AbortCheckInterval time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	IDExpiration       time.Duration // transactional.id.expiration.ms
	RemoveExpiredCheck time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	WriteTimeout       time.Duration // how long a state write may wait for the log (acks=all)
	MarkerRetryBackoff time.Duration // pause between marker attempts that failed
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:      50,
		MaxTimeout:         15 * time.Minute,
		AbortCheckInterval: 10 * time.Second,
		IDExpiration:       7 * 24 * time.Hour,
		RemoveExpiredCheck: time.Hour,
		WriteTimeout:       5 * time.Second,
		MarkerRetryBackoff: 100 * time.Millisecond,
	}
}

// Record is one __transaction_state record; a nil Value is a tombstone.
type Record struct {
	Key, Value []byte
}

// Log is one __transaction_state partition as the coordinator uses it.
type Log interface {
	// Append writes records durably (acks=all) or fails; errors are
	// *kerr.Error values where the client must see one.
	Append(ctx context.Context, recs []Record) error
	// Replay calls fn for every record of the partition, in order.
	Replay(ctx context.Context, fn func(key, value []byte) error) error
}

// Marker is a transaction's outcome to write to each of its partitions.
type Marker struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TopicPartition
	// TransactionVersion is the client's transaction version (2: the
	// epoch was bumped by the EndTxn), sent in WriteTxnMarkers v2.
	TransactionVersion int16
}

// MarkerWriter writes markers to partition leaders. It returns the
// partitions that did not take the marker yet (to retry); partitions that
// no longer exist count as done.
type MarkerWriter interface {
	WriteMarkers(ctx context.Context, m Marker) (failed []TopicPartition)
}

// ProducerIDs hands out fresh producer ids, unique across the cluster.
type ProducerIDs interface {
	NextID(ctx context.Context) (int64, error)
}

// Options are the coordinator's collaborators.
type Options struct {
	Logger  *zap.Logger
	IDs     ProducerIDs
	Markers MarkerWriter
	Now     func() time.Time // time source; time.Now by default
	// TransactionVersion is the cluster's finalized transaction.version
	// (KIP-890): from 1 the state records are written as value version 1;
	// at 2 the coordinator's own aborts (timeouts, fencing) bump the
	// epoch as a TV2 EndTxn does. Nil is level 0.
	TransactionVersion func() int16
}

// Coordinator is the transaction coordinator of one broker.
type Coordinator struct {
	cfg     Config
	lg      *zap.Logger
	ids     ProducerIDs
	markers MarkerWriter
	now     func() time.Time
	tv      func() int16

	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu    sync.RWMutex
	parts map[int32]*partition
}

// partition is one loaded __transaction_state partition.
type partition struct {
	idx        int32
	coordEpoch int32 // the partition's leader epoch when loaded
	log        Log
	ctx        context.Context // ends on unload
	cancel     context.CancelFunc

	mu      sync.Mutex
	loading bool
	txns    map[string]*txn
}

// txn is one transactional id: its mutex and state.
type txn struct {
	mu sync.Mutex
	m  *meta
}

// New starts a coordinator with no partitions loaded.
func New(cfg Config, o Options) *Coordinator {
	def := DefaultConfig()
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = def.NumPartitions
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = def.MaxTimeout
	}
	if cfg.AbortCheckInterval <= 0 {
		cfg.AbortCheckInterval = def.AbortCheckInterval
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = def.IDExpiration
	}
	if cfg.RemoveExpiredCheck <= 0 {
		cfg.RemoveExpiredCheck = def.RemoveExpiredCheck
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = def.WriteTimeout
	}
	if cfg.MarkerRetryBackoff <= 0 {
		cfg.MarkerRetryBackoff = def.MarkerRetryBackoff
	}
	lg := o.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	tv := o.TransactionVersion
	if tv == nil {
		tv = func() int16 { return 0 }
	}
	c := &Coordinator{cfg: cfg, lg: lg, ids: o.IDs, markers: o.Markers, now: now, tv: tv, parts: make(map[int32]*partition)}
	c.life, c.stop = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.background()
	return c
}

// Close unloads every partition and stops background work.
func (c *Coordinator) Close() {
	c.stop()
	c.mu.Lock()
	parts := c.parts
	c.parts = make(map[int32]*partition)
	c.mu.Unlock()
	for _, p := range parts {
		p.cancel()
	}
	c.wg.Wait()
}

// PartitionFor is the id's __transaction_state partition (package
// placement) with the configured count.
func (c *Coordinator) PartitionFor(id string) int32 {
	return placement.Partition(id, c.cfg.NumPartitions)
}

// Load makes the coordinator the owner of partition idx at coordinator
// epoch coordEpoch (its leader epoch): it replays log, then completes the
// transactions left in Prepare* states. Requests for its ids get
// COORDINATOR_LOAD_IN_PROGRESS meanwhile. Loading a loaded partition
// replaces it.
func (c *Coordinator) Load(ctx context.Context, idx, coordEpoch int32, log Log) error {
	pctx, cancel := context.WithCancel(c.life)
	p := &partition{idx: idx, coordEpoch: coordEpoch, log: log, ctx: pctx, cancel: cancel, loading: true, txns: make(map[string]*txn)}
	c.mu.Lock()
	if old := c.parts[idx]; old != nil {
		if old.coordEpoch > coordEpoch {
			// A load for a newer leader epoch got here first.
			c.mu.Unlock()
			cancel()
			return nil
		}
		old.cancel()
	}
	c.parts[idx] = p
	c.mu.Unlock()

	metas := make(map[string]*meta)
	err := log.Replay(ctx, func(key, value []byte) error {
		id, m, ok, err := decodeRecord(key, value)
		if err != nil || !ok {
			return err
		}
		if m == nil {
			delete(metas, id)
		} else {
			metas[id] = m
		}
		return nil
	})
	if err != nil {
		c.mu.Lock()
		if c.parts[idx] == p {
			delete(c.parts, idx)
		}
		c.mu.Unlock()
		cancel()
		return fmt.Errorf("txn: loading partition %d: %w", idx, err)
	}
	p.mu.Lock()
	for id, m := range metas {
		p.txns[id] = &txn{m: m}
	}
	p.loading = false
	var pending []*txn
	for _, t := range p.txns {
		if t.m.state == PrepareCommit || t.m.state == PrepareAbort {
			pending = append(pending, t)
		}
	}
	p.mu.Unlock()
	for _, t := range pending {
		t.mu.Lock()
		c.startMarkers(p, t)
		t.mu.Unlock()
	}
	c.lg.Info("loaded transaction state partition", zap.Int32("partition", idx), zap.Int32("coordinator_epoch", coordEpoch), zap.Int("transactional_ids", len(metas)), zap.Int("completing", len(pending)))
	return nil
}

// Unload gives up partition idx (leadership moved away).
func (c *Coordinator) Unload(idx int32) {
	c.mu.Lock()
	p := c.parts[idx]
	delete(c.parts, idx)
	c.mu.Unlock()
	if p != nil {
		p.cancel()
	}
}

// UnloadEpoch gives up partition idx only if it was loaded at coordEpoch
// (a load that finished after leadership had already moved on).
func (c *Coordinator) UnloadEpoch(idx, coordEpoch int32) {
	c.mu.Lock()
	p := c.parts[idx]
	if p == nil || p.coordEpoch != coordEpoch {
		c.mu.Unlock()
		return
	}
	delete(c.parts, idx)
	c.mu.Unlock()
	p.cancel()
}

// Loaded lists the loaded partitions.
func (c *Coordinator) Loaded() []int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]int32, 0, len(c.parts))
	for idx := range c.parts {
		out = append(out, idx)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// lookup finds the txn of id, creating an empty entry when create is set.
// Errors: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) lookup(id string, create bool) (*partition, *txn, error) {
	c.mu.RLock()
	p := c.parts[c.PartitionFor(id)]
	c.mu.RUnlock()
	if p == nil {
		return nil, nil, kerr.NotCoordinator
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loading {
		return nil, nil, kerr.CoordinatorLoadInProgress
	}
	if p.ctx.Err() != nil {
		return nil, nil, kerr.NotCoordinator
	}
	t := p.txns[id]
	if t == nil && create {
		t = &txn{}
		p.txns[id] = t
	}
	return p, t, nil
}

// lockTxn locks t and checks it is still the partition's entry for id
// (an unload or expiry may have replaced it meanwhile).
func (p *partition) lockTxn(id string, t *txn) error {
	t.mu.Lock()
	p.mu.Lock()
	cur, live := p.txns[id], p.ctx.Err() == nil
	p.mu.Unlock()
	if !live {
		t.mu.Unlock()
		return kerr.NotCoordinator
	}
	if cur != t {
		t.mu.Unlock()
		return kerr.ConcurrentTransactions
	}
	return nil
}

// write appends recs within the write timeout and maps failures to what a
// client is told, as Kafka's TransactionStateManager does.
func (c *Coordinator) write(p *partition, recs ...Record) error {
	ctx, cancel := context.WithTimeout(p.ctx, c.cfg.WriteTimeout)
	defer cancel()
	return appendError(p.log.Append(ctx, recs))
}

func appendError(err error) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
			return kerr.CoordinatorNotAvailable
		case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
			return kerr.NotCoordinator
		case kerr.MessageTooLarge, kerr.RecordListTooLarge:
			return kerr.UnknownServerError
		}
		return ke
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return kerr.CoordinatorNotAvailable
	}
	if errors.Is(err, context.Canceled) {
		return kerr.NotCoordinator
	}
	return kerr.UnknownServerError
}

// apply writes next as the id's state and installs it on success.
func (c *Coordinator) apply(p *partition, t *txn, next *meta) error {
	next.lastUpdate = c.now()
	valueVersion := int16(0)
	if c.tv() >= 1 {
		valueVersion = 1
	}
	if err := c.write(p, next.record(valueVersion)); err != nil {
		return err
	}
	t.m = next
	return nil
}

// clone copies m (nil for a new id).
func (m *meta) clone() *meta {
	n := *m
	n.parts = make(map[TopicPartition]struct{}, len(m.parts))
	for tp := range m.parts {
		n.parts[tp] = struct{}{}
	}
	n.markersInFlow = false
	return &n
}

// background aborts timed-out transactions and removes expired ids.
func (c *Coordinator) background() {
	defer c.wg.Done()
	abort := time.NewTicker(c.cfg.AbortCheckInterval)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.RemoveExpiredCheck)
	defer expire.Stop()
	for {
		select {
		case <-c.life.Done():
			return
		case <-abort.C:
			c.AbortTimedOut()
		case <-expire.C:
			c.RemoveExpired()
		}
	}
}

// partitions returns the loaded partitions.
func (c *Coordinator) partitions() []*partition {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		out = append(out, p)
	}
	return out
}

// entries returns the txns of p (not locked).
func (p *partition) entries() map[string]*txn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loading {
		return nil
	}
	out := make(map[string]*txn, len(p.txns))
	for id, t := range p.txns {
		out[id] = t
	}
	return out
}

// AbortTimedOut aborts every Ongoing transaction older than its timeout,
// fencing its producer with an epoch bump first (Kafka's
// abortTimedOutTransactions). It runs every AbortCheckInterval.
func (c *Coordinator) AbortTimedOut() {
	now := c.now()
	for _, p := range c.partitions() {
		for id, t := range p.entries() {
			if err := p.lockTxn(id, t); err != nil {
				continue
			}
			m := t.m
			if m != nil && m.state == Ongoing && !m.startTime.IsZero() && now.Sub(m.startTime) > m.timeout {
				c.lg.Info("aborting timed out transaction", zap.String("transactional_id", id), zap.Int64("producer_id", m.producerID), zap.Int16("epoch", m.epoch))
				if err := c.fenceAndAbort(p, t); err != nil {
					c.lg.Warn("aborting timed out transaction failed", zap.String("transactional_id", id), zap.Error(err))
				}
			}
			t.mu.Unlock()
		}
	}
}

// RemoveExpired writes tombstones for ids that have been idle (no
// transaction running) for longer than transactional.id.expiration.ms.
func (c *Coordinator) RemoveExpired() {
	now := c.now()
	for _, p := range c.partitions() {
		for id, t := range p.entries() {
			if err := p.lockTxn(id, t); err != nil {
				continue
			}
			m := t.m
			idle := m != nil && (m.state == Empty || m.state == CompleteCommit || m.state == CompleteAbort)
			if idle && now.Sub(m.lastUpdate) > c.cfg.IDExpiration {
				if err := c.write(p, tombstone(id)); err == nil {
					p.mu.Lock()
					if p.txns[id] == t {
						delete(p.txns, id)
					}
					p.mu.Unlock()
					t.m = &meta{id: id, state: Dead}
				}
			}
			t.mu.Unlock()
		}
	}
}
