package txn

import (
	"context"
	"regexp"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// ProducerIDAndEpoch is what InitProducerId answers.
type ProducerIDAndEpoch struct {
	ID    int64
	Epoch int16
}

// InitProducerID serves InitProducerId for a transactional id (Kafka's
// TransactionCoordinator.handleInitProducerId). expected is the producer
// id and epoch a KIP-360 client sends (-1/-1 when it has none). The error
// is a *kerr.Error the client must see.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, expected ProducerIDAndEpoch) (ProducerIDAndEpoch, error) {
	none := ProducerIDAndEpoch{ID: -1, Epoch: -1}
	if id == "" {
		return none, kerr.InvalidRequest
	}
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return none, kerr.InvalidTransactionTimeout
	}
	p, t, err := c.lookup(id, true)
	if err != nil {
		return none, err
	}
	if err := p.lockTxn(id, t); err != nil {
		return none, err
	}
	defer t.mu.Unlock()
	timeout := time.Duration(timeoutMs) * time.Millisecond

	if t.m == nil || t.m.state == Dead {
		pid, err := c.ids.NextID(ctx)
		if err != nil {
			return none, kerr.CoordinatorNotAvailable
		}
		next := &meta{id: id, producerID: pid, prevProducer: noPID, nextProducer: noPID, epoch: 0, lastEpoch: noEpoch, timeout: timeout, state: Empty, parts: map[TopicPartition]struct{}{}}
		if err := c.apply(p, t, next); err != nil {
			return none, err
		}
		return ProducerIDAndEpoch{pid, 0}, nil
	}
	m := t.m
	if m.completing() {
		return none, kerr.ConcurrentTransactions
	}
	if expected.ID >= 0 && !m.validExpected(expected) {
		return none, kerr.ProducerFenced
	}
	switch m.state {
	case Ongoing:
		// A new producer instance fences the old one: abort its
		// transaction under a bumped epoch; the caller retries.
		if err := c.fenceAndAbort(p, t); err != nil {
			return none, err
		}
		return none, kerr.ConcurrentTransactions
	}
	// Empty, CompleteCommit, CompleteAbort: bump the epoch.
	if expected.ID >= 0 && expected.Epoch == m.lastEpoch && expected.Epoch != m.epoch && expected.ID == m.producerID {
		// A retry of the InitProducerId that already bumped: answer the
		// same again.
		return ProducerIDAndEpoch{m.producerID, m.epoch}, nil
	}
	next := m.clone()
	next.timeout = timeout
	next.state = Empty
	next.parts = map[TopicPartition]struct{}{}
	next.startTime = time.Time{}
	if m.epoch >= maxEpoch {
		pid, err := c.ids.NextID(ctx)
		if err != nil {
			return none, kerr.CoordinatorNotAvailable
		}
		next.prevProducer, next.producerID, next.epoch, next.lastEpoch = m.producerID, pid, 0, noEpoch
	} else {
		next.lastEpoch, next.epoch = m.epoch, m.epoch+1
	}
	if err := c.apply(p, t, next); err != nil {
		return none, err
	}
	return ProducerIDAndEpoch{next.producerID, next.epoch}, nil
}

// validExpected is Kafka's isValidProducerId for a KIP-360 caller: its
// producer id is the current (or, after an exhaustion move, the previous)
// one and its epoch the current or the one before the last bump.
func (m *meta) validExpected(e ProducerIDAndEpoch) bool {
	if e.ID == m.producerID {
		return e.Epoch == m.epoch || (m.lastEpoch != noEpoch && e.Epoch == m.lastEpoch)
	}
	return m.prevProducer >= 0 && e.ID == m.prevProducer && m.epoch == 0
}

// check validates a client's producer id and epoch against the id's state
// (Kafka: INVALID_PRODUCER_ID_MAPPING, then PRODUCER_FENCED).
func (m *meta) check(pid int64, epoch int16) error {
	if m == nil || m.state == Dead || m.producerID != pid {
		return kerr.InvalidProducerIDMapping
	}
	if m.epoch != epoch {
		return kerr.ProducerFenced
	}
	return nil
}

// AddPartitions adds partitions to the id's transaction, starting one if
// none is ongoing (AddPartitionsToTxn, AddOffsetsToTxn). tv is the
// transaction version of the caller, recorded with the transaction as
// Kafka's prepareAddPartitions does: a client's AddPartitionsToTxn or
// AddOffsetsToTxn is 0, a partition leader adding the partition of a
// Produce v12+ (or the offsets partition of a TxnOffsetCommit v5+) on a
// TV2 producer's behalf is 2. The error applies to every partition.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition, tv int16) error {
	p, t, err := c.lookup(id, false)
	if err != nil {
		return err
	}
	if t == nil {
		return kerr.InvalidProducerIDMapping
	}
	if err := p.lockTxn(id, t); err != nil {
		return err
	}
	defer t.mu.Unlock()
	m := t.m
	if m.completing() {
		return kerr.ConcurrentTransactions
	}
	if err := m.check(pid, epoch); err != nil {
		return err
	}
	switch m.state {
	case Ongoing:
		all := true
		for _, tp := range parts {
			if _, ok := m.parts[tp]; !ok {
				all = false
				break
			}
		}
		if all {
			return nil
		}
	}
	next := m.clone()
	if m.state != Ongoing {
		next.parts = map[TopicPartition]struct{}{}
		next.startTime = c.now()
	}
	next.state = Ongoing
	next.tv = tv
	for _, tp := range parts {
		next.parts[tp] = struct{}{}
	}
	return c.apply(p, t, next)
}

// Verify answers whether each partition is part of the id's ongoing
// transaction under pid/epoch (KIP-890 part 1: the partition leader asks
// before accepting a transactional write). A nil error with a false entry
// is INVALID_TXN_STATE for that partition.
func (c *Coordinator) Verify(id string, pid int64, epoch int16, parts []TopicPartition) (map[TopicPartition]bool, error) {
	p, t, err := c.lookup(id, false)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, kerr.InvalidProducerIDMapping
	}
	if err := p.lockTxn(id, t); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	m := t.m
	if err := m.check(pid, epoch); err != nil {
		return nil, err
	}
	if m.state == PrepareCommit || m.state == PrepareAbort {
		return nil, kerr.ConcurrentTransactions
	}
	out := make(map[TopicPartition]bool, len(parts))
	for _, tp := range parts {
		_, in := m.parts[tp]
		out[tp] = in && m.state == Ongoing
	}
	return out, nil
}

// EndTxn commits or aborts the id's transaction (Kafka's
// handleEndTransaction from a client). The answer comes once the Prepare*
// state is written; markers and the Complete* state follow. tv is the
// client's transaction version: 2 for EndTxn v5+ (KIP-890 part 2), where
// every EndTxn bumps the epoch and the answer carries the producer id and
// epoch for the next transaction; below 2 the epoch is left alone and the
// returned id and epoch are the current ones.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool, tv int16) (ProducerIDAndEpoch, error) {
	none := ProducerIDAndEpoch{ID: -1, Epoch: -1}
	if id == "" {
		return none, kerr.InvalidRequest
	}
	p, t, err := c.lookup(id, false)
	if err != nil {
		return none, err
	}
	if t == nil {
		return none, kerr.InvalidProducerIDMapping
	}
	if err := p.lockTxn(id, t); err != nil {
		return none, err
	}
	defer t.mu.Unlock()
	if tv >= 2 {
		return c.endTxnV2(ctx, p, t, pid, epoch, commit)
	}
	// Transaction version 0 and 1 check the producer first, as Kafka's
	// endTransactionWithTV1 does: the client's epoch never moves here.
	m := t.m
	if err := m.check(pid, epoch); err != nil {
		return none, err
	}
	if m.completing() {
		return none, kerr.ConcurrentTransactions
	}
	current := ProducerIDAndEpoch{m.producerID, m.epoch}
	switch m.state {
	case Ongoing:
		next := m.clone()
		next.state = PrepareAbort
		if commit {
			next.state = PrepareCommit
		}
		next.tv = tv
		if err := c.apply(p, t, next); err != nil {
			return none, err
		}
		c.startMarkers(p, t)
		return current, nil
	case CompleteCommit:
		if commit {
			return current, nil // a retry of a commit that went through
		}
	case CompleteAbort:
		if !commit {
			return current, nil
		}
	}
	return none, kerr.InvalidTxnState
}

// endTxnV2 is EndTxn for transaction version 2 (Kafka's endTransaction
// for TV2). The client's epoch is the one the transaction ran at; the
// coordinator bumps it (or, when it is exhausted, moves to a fresh
// producer id at epoch 0 once the markers are written) and writes the
// markers at the bumped epoch, so a late write of the old epoch is refused
// by every partition of the transaction: the hanging-transaction defence
// of KIP-890. A retry (the client's epoch is one below the current) of
// an EndTxn that went through answers NONE; aborting with no transaction
// ongoing is allowed and also bumps the epoch. While the markers of the
// previous EndTxn are being written (PrepareCommit, PrepareAbort) every
// EndTxn is CONCURRENT_TRANSACTIONS (meta.completing); then:
//
//	state           abort: retry / current   commit: retry / current
//	Empty           PRODUCER_FENCED / bump   PRODUCER_FENCED / INVALID_TXN_STATE
//	CompleteAbort   NONE / bump              INVALID_TXN_STATE / INVALID_TXN_STATE
//	CompleteCommit  INVALID_TXN_STATE / bump NONE / INVALID_TXN_STATE
//
// t is locked.
func (c *Coordinator) endTxnV2(ctx context.Context, p *partition, t *txn, pid int64, epoch int16, commit bool) (ProducerIDAndEpoch, error) {
	none := ProducerIDAndEpoch{ID: -1, Epoch: -1}
	m := t.m
	if m == nil || m.state == Dead {
		return none, kerr.InvalidProducerIDMapping
	}
	if m.completing() {
		return none, kerr.ConcurrentTransactions
	}
	retryOnOverflow := m.prevProducer == pid && epoch == maxEpoch && m.epoch == 0
	retryOnBump := m.epoch == epoch+1
	if m.producerID != pid && !retryOnOverflow {
		return none, kerr.InvalidProducerIDMapping
	}
	var valid bool
	switch m.state {
	case Ongoing, Empty:
		valid = epoch == m.epoch
	case CompleteCommit, CompleteAbort:
		valid = retryOnBump || retryOnOverflow || epoch == m.epoch
	}
	if !valid {
		return none, kerr.ProducerFenced
	}
	retry := retryOnBump || retryOnOverflow
	current := ProducerIDAndEpoch{m.producerID, m.epoch}
	switch m.state {
	case Ongoing:
		return c.prepareEndV2(ctx, p, t, commit, false)
	case CompleteCommit:
		switch {
		case commit && retry:
			return current, nil
		case !commit && !retry:
			return c.prepareEndV2(ctx, p, t, false, true)
		}
	case CompleteAbort:
		switch {
		case !commit && retry:
			return current, nil
		case !commit:
			return c.prepareEndV2(ctx, p, t, false, true)
		}
	case Empty:
		if !commit {
			return c.prepareEndV2(ctx, p, t, false, true)
		}
	}
	return none, kerr.InvalidTxnState
}

// prepareEndV2 moves t to PrepareCommit or PrepareAbort with the epoch
// bumped (Kafka's prepareAbortOrCommit for TV2) and answers the producer
// id and epoch the client runs its next transaction with. empty is an
// abort with no transaction ongoing: no partition gets a marker. t is
// locked.
func (c *Coordinator) prepareEndV2(ctx context.Context, p *partition, t *txn, commit, empty bool) (ProducerIDAndEpoch, error) {
	none := ProducerIDAndEpoch{ID: -1, Epoch: -1}
	m := t.m
	next := m.clone()
	next.nextProducer = noPID
	if m.epoch >= maxEpoch {
		// The bump reaches the last epoch: the markers go out at it
		// and the id moves to a fresh producer id when they are done.
		npid, err := c.ids.NextID(ctx)
		if err != nil {
			return none, kerr.CoordinatorNotAvailable
		}
		next.nextProducer = npid
	}
	if m.epoch < maxEpoch+1 {
		next.epoch = m.epoch + 1
	}
	next.lastEpoch = m.epoch
	next.tv = 2
	next.state = PrepareAbort
	if commit {
		next.state = PrepareCommit
	}
	if empty {
		next.parts = map[TopicPartition]struct{}{}
		next.startTime = c.now()
	}
	if err := c.apply(p, t, next); err != nil {
		return none, err
	}
	c.startMarkers(p, t)
	if next.nextProducer >= 0 {
		return ProducerIDAndEpoch{next.nextProducer, 0}, nil
	}
	return ProducerIDAndEpoch{next.producerID, next.epoch}, nil
}

// fenceAndAbort bumps the epoch of an Ongoing transaction (unless it is
// exhausted) and moves it to PrepareAbort under the new epoch, so the old
// producer is fenced by the markers. t is locked.
func (c *Coordinator) fenceAndAbort(p *partition, t *txn) error {
	m := t.m
	next := m.clone()
	if m.epoch < maxEpoch {
		// As Kafka's prepareFenceProducerEpoch: the previous epoch is
		// forgotten, so the fenced producer cannot claim a retry.
		next.lastEpoch, next.epoch = noEpoch, m.epoch+1
	}
	if m.tv >= 2 && next.epoch < maxEpoch+1 {
		// A transaction begun under TV2 is aborted as a TV2 EndTxn:
		// one more bump, the fenced epoch kept as the last one. A TV1
		// client's transaction is not, even when the cluster finalizes
		// TV2: Kafka 4.1 writes its abort markers at the fenced epoch + 1
		// and the retried InitProducerId hands out + 2 (seen through the
		// recording proxy with librdkafka 2.0.2, conformance_record_test.go).
		next.lastEpoch, next.epoch = next.epoch, next.epoch+1
	}
	next.nextProducer = noPID
	next.state = PrepareAbort
	if err := c.apply(p, t, next); err != nil {
		return err
	}
	c.startMarkers(p, t)
	return nil
}

// startMarkers starts writing the markers of t's Prepare* state. t is
// locked.
func (c *Coordinator) startMarkers(p *partition, t *txn) {
	m := t.m
	if m.markersInFlow {
		return
	}
	m.markersInFlow = true
	mk := Marker{
		TransactionalID:    m.id,
		ProducerID:         m.producerID,
		ProducerEpoch:      m.epoch,
		Commit:             m.state == PrepareCommit,
		CoordinatorEpoch:   p.coordEpoch,
		TransactionVersion: m.tv,
	}
	for tp := range m.parts {
		mk.Partitions = append(mk.Partitions, tp)
	}
	sort.Slice(mk.Partitions, func(i, j int) bool {
		a, b := mk.Partitions[i], mk.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	c.wg.Add(1)
	go c.completeMarkers(p, t, mk)
}

// completeMarkers writes mk until every partition took it, then writes the
// Complete* state. It stops when the partition is unloaded: the next
// coordinator finishes the job from the Prepare* record.
func (c *Coordinator) completeMarkers(p *partition, t *txn, mk Marker) {
	defer c.wg.Done()
	pending := mk.Partitions
	for len(pending) > 0 {
		if p.ctx.Err() != nil {
			return
		}
		try := mk
		try.Partitions = pending
		pending = c.markers.WriteMarkers(p.ctx, try)
		if len(pending) > 0 {
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(c.cfg.MarkerRetryBackoff):
			}
		}
	}
	for {
		if p.ctx.Err() != nil {
			return
		}
		t.mu.Lock()
		m := t.m
		if m == nil || m.producerID != mk.ProducerID || m.epoch != mk.ProducerEpoch || (m.state != PrepareCommit && m.state != PrepareAbort) {
			t.mu.Unlock()
			return
		}
		next := m.clone()
		next.state = CompleteAbort
		if m.state == PrepareCommit {
			next.state = CompleteCommit
		}
		next.parts = map[TopicPartition]struct{}{}
		next.startTime = m.startTime
		if m.tv >= 2 && m.nextProducer >= 0 {
			// The epoch was exhausted: the markers went out at the
			// last one; the id now moves to its next producer id.
			next.prevProducer, next.producerID, next.epoch, next.nextProducer = m.producerID, m.nextProducer, 0, noPID
		}
		err := c.apply(p, t, next)
		if err != nil {
			m.markersInFlow = true // still this writer's job
		}
		t.mu.Unlock()
		if err == nil {
			return
		}
		c.lg.Warn("writing transaction completion failed; retrying", zap.String("transactional_id", mk.TransactionalID), zap.Error(err))
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(c.cfg.MarkerRetryBackoff):
		}
	}
}

// Description is one transactional id's state (DescribeTransactions).
type Description struct {
	ID         string
	State      State
	Timeout    time.Duration
	StartTime  time.Time // zero when no transaction started
	ProducerID int64
	Epoch      int16
	Partitions []TopicPartition
}

// Describe returns the state of id. Errors: NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS, TRANSACTIONAL_ID_NOT_FOUND.
func (c *Coordinator) Describe(id string) (Description, error) {
	p, t, err := c.lookup(id, false)
	if err != nil {
		return Description{}, err
	}
	if t == nil {
		return Description{}, kerr.TransactionalIDNotFound
	}
	if err := p.lockTxn(id, t); err != nil {
		return Description{}, err
	}
	defer t.mu.Unlock()
	m := t.m
	if m == nil || m.state == Dead {
		return Description{}, kerr.TransactionalIDNotFound
	}
	return m.describe(), nil
}

func (m *meta) describe() Description {
	d := Description{ID: m.id, State: m.state, Timeout: m.timeout, StartTime: m.startTime, ProducerID: m.producerID, Epoch: m.epoch}
	for tp := range m.parts {
		d.Partitions = append(d.Partitions, tp)
	}
	sort.Slice(d.Partitions, func(i, j int) bool {
		a, b := d.Partitions[i], d.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return d
}

// ListFilter selects transactions for List; zero values select all.
type ListFilter struct {
	States      []State
	ProducerIDs []int64
	MinDuration time.Duration  // only transactions running at least this long
	IDPattern   *regexp.Regexp // only ids matching it
}

// List returns the transactional ids of the loaded partitions that match f,
// sorted by id (ListTransactions).
func (c *Coordinator) List(f ListFilter) []Description {
	now := c.now()
	var out []Description
	for _, p := range c.partitions() {
		for id, t := range p.entries() {
			if err := p.lockTxn(id, t); err != nil {
				continue
			}
			m := t.m
			if m == nil || m.state == Dead || !f.matches(m, now) {
				t.mu.Unlock()
				continue
			}
			out = append(out, m.describe())
			t.mu.Unlock()
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (f ListFilter) matches(m *meta, now time.Time) bool {
	if len(f.States) > 0 {
		ok := false
		for _, s := range f.States {
			ok = ok || s == m.state
		}
		if !ok {
			return false
		}
	}
	if len(f.ProducerIDs) > 0 {
		ok := false
		for _, id := range f.ProducerIDs {
			ok = ok || id == m.producerID
		}
		if !ok {
			return false
		}
	}
	if f.MinDuration > 0 {
		if m.state != Ongoing || m.startTime.IsZero() || now.Sub(m.startTime) < f.MinDuration {
			return false
		}
	}
	if f.IDPattern != nil && !f.IDPattern.MatchString(m.id) {
		return false
	}
	return true
}
