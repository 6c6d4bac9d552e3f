package replica

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Follower replication
//
// For every partition this broker follows, a replica fetcher pulls the
// leader's log with the Fetch API (replica id = this broker), as Kafka's
// ReplicaFetcherThread does. There are num.replica.fetchers fetchers per
// leader broker; a partition goes to fetcher hash(topic, partition) mod n
// of its leader. Each fetcher owns one connection to the leader's
// inter-broker listener and sends one request at a time.
//
// Lifecycle follows the metadata: after every snapshot Manager.Apply
// has recorded the roles, fetchers.reconcile moves each follower
// partition to the fetcher of its leader (a new leader or a new leader
// epoch is a new fetch state that starts with truncation), and removes
// partitions this broker now leads, that have no leader, or that were
// deleted. Fetchers left without partitions stop. Close stops them all.
//
// Per partition a fetcher:
//
//  1. Truncates first (KIP-101, refined by KIP-279), never by the high
//     watermark alone: it sends OffsetForLeaderEpoch with its latest
//     leader epoch; the leader answers with the largest epoch <= that it
//     knows and where that epoch ends in its log. If the follower has that
//     epoch, it truncates to min(leader's end, its own end for the epoch);
//     if it does not, it truncates to the end of its own largest epoch
//     below the leader's answer and asks again with that epoch. Only when
//     the leader knows no epoch at all does it fall back to its high
//     watermark (Kafka's fallback for logs without epochs). A follower
//     without any epoch (an empty log) has nothing to truncate.
//  2. Fetches from its log end with the leader epoch it follows
//     (CurrentLeaderEpoch, so a stale or newer leader refuses it) and its
//     last fetched epoch (KIP-595's divergence check: a leader that sees
//     the follower diverged answers DivergingEpoch, and the follower goes
//     back to step 1).
//  3. Appends the batches as they are (storage.AppendOptions{AssignOffsets:
//     false}); the log records each new batch leader epoch in its
//     leader-epoch cache. Then it takes the leader's high watermark, capped
//     at its own log end, and the leader's log start offset.
//
// Every append and truncation goes through Partition.AppendAsFollower or
// TruncateAsFollower, which hold the partition's appendMu and check that
// it still follows the same leader and epoch (and that the fetch state is
// still current), so a fetch that was in flight when the role changed can
// never write into a log that now leads.

// fetchers is the set of fetchers of one broker.
type fetchers struct {
	m *Manager

	mu       sync.Mutex
	closed   bool
	paused   bool // tests: replicate nothing until resumed
	fetchers map[fetcherKey]*fetcher
	assigned map[*Partition]fetcherKey
	// reconciled: a full pass has run since the start or the last
	// pause; from then on reconcile looks only at the replicas whose
	// role changed (Manager.takeRoleChanges), so the snapshots of a
	// restart's elections do not each walk every partition.
	reconciled bool
}

type fetcherKey struct {
	leader int32
	index  int
}

func newFetchers(m *Manager) *fetchers {
	return &fetchers{m: m, fetchers: map[fetcherKey]*fetcher{}, assigned: map[*Partition]fetcherKey{}}
}

// reconcile brings the fetchers in line with the replicas' roles.
func (m *fetchers) reconcile() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.paused {
		return
	}
	n := max(int(m.m.cfg.NumReplicaFetchers), 1)
	self := m.m.brokerID
	changed := m.m.takeRoleChanges()
	if m.reconciled {
		for r := range changed {
			if m.m.Local(r.topic, r.index) != r {
				// Removed (its topic deleted, or moved away).
				if old, had := m.assigned[r]; had {
					m.fetchers[old].remove(r)
					delete(m.assigned, r)
				}
				continue
			}
			m.assignLocked(r, n, self)
		}
		m.dropEmptyLocked()
		return
	}
	m.reconciled = true
	seen := map[*Partition]bool{}
	for _, r := range m.m.All() {
		if m.assignLocked(r, n, self) {
			seen[r] = true
		}
	}
	for r, key := range m.assigned {
		if !seen[r] {
			m.fetchers[key].remove(r)
			delete(m.assigned, r)
		}
	}
	m.dropEmptyLocked()
}

// assignLocked puts r in the fetcher of its leader (or takes it out of
// any when it leads or has no leader); it reports whether r follows.
func (m *fetchers) assignLocked(r *Partition, n int, self int32) bool {
	{
		leader, epoch := r.State()
		old, had := m.assigned[r]
		if leader < 0 || leader == self {
			if had {
				m.fetchers[old].remove(r)
				delete(m.assigned, r)
			}
			return false
		}
		key := fetcherKey{leader: leader, index: fetcherIndex(r.topic, r.index, n)}
		if had && old != key {
			m.fetchers[old].remove(r)
		}
		f := m.fetchers[key]
		if f == nil {
			f = newFetcher(m.m, leader)
			m.fetchers[key] = f
		}
		f.set(r, epoch)
		m.assigned[r] = key
		return true
	}
}

// dropEmptyLocked stops the fetchers left without partitions.
func (m *fetchers) dropEmptyLocked() {
	for key, f := range m.fetchers {
		if f.empty() {
			f.stop()
			delete(m.fetchers, key)
		}
	}
}

// setPaused stops every fetcher (true) or resumes replication (false);
// tests use it to make a follower fall behind.
func (m *fetchers) setPaused(p bool) {
	m.mu.Lock()
	m.paused = p
	fs := m.fetchers
	if p {
		m.fetchers = map[fetcherKey]*fetcher{}
		m.assigned = map[*Partition]fetcherKey{}
	}
	m.reconciled = false // resuming walks every replica again
	m.mu.Unlock()
	if p {
		for _, f := range fs {
			f.stop()
		}
		return
	}
	m.reconcile()
}

// close stops every fetcher and waits for them.
func (m *fetchers) close() {
	m.mu.Lock()
	m.closed = true
	fs := m.fetchers
	m.fetchers = map[fetcherKey]*fetcher{}
	m.assigned = map[*Partition]fetcherKey{}
	m.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
}

func fetcherIndex(topic string, partition int32, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	h.Write([]byte{byte(partition >> 24), byte(partition >> 16), byte(partition >> 8), byte(partition)})
	return int(h.Sum32() % uint32(n))
}

// fetchPart is one partition's fetch state under one leader epoch. A new
// epoch replaces the value, so a response to an older state is recognised
// by pointer identity and dropped.
type fetchPart struct {
	epoch     int32 // the leader epoch followed
	truncated bool  // step 1 done for this epoch
	// askEpoch is the epoch the next OffsetForLeaderEpoch asks about (-1:
	// the log's latest).
	askEpoch int32
	retryAt  time.Time // paused after a partition error until then
	// startAt, when above the log end, is where the next fetch starts: a
	// follower that fell below the leader's log start empties its log and
	// continues from there (the gap is allowed on the replication path).
	startAt int64
}

// fetcher replicates the partitions it holds from one leader broker.
type fetcher struct {
	m      *Manager
	leader int32
	log    *zap.Logger

	mu    sync.Mutex
	parts map[*Partition]*fetchPart
	wake  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	connMu sync.Mutex
	conn   *replicaConn
}

func newFetcher(m *Manager, leader int32) *fetcher {
	f := &fetcher{
		m:      m,
		leader: leader,
		log:    m.base.Named("fetcher").With(zap.Int32("leader", leader)),
		parts:  map[*Partition]*fetchPart{},
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	f.ctx, f.cancel = context.WithCancel(m.life)
	go f.run()
	return f
}

// set makes the fetcher follow r under leader epoch epoch (no-op when it
// already does).
func (f *fetcher) set(r *Partition, epoch int32) {
	f.mu.Lock()
	if fp := f.parts[r]; fp != nil && fp.epoch == epoch {
		f.mu.Unlock()
		return
	}
	f.parts[r] = &fetchPart{epoch: epoch, askEpoch: -1, startAt: -1}
	f.mu.Unlock()
	f.poke()
}

func (f *fetcher) remove(r *Partition) {
	f.mu.Lock()
	delete(f.parts, r)
	f.mu.Unlock()
}

func (f *fetcher) empty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts) == 0
}

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stop cancels the fetcher, aborts its request in flight and waits for it.
func (f *fetcher) stop() {
	f.cancel()
	f.connMu.Lock()
	if f.conn != nil {
		f.conn.close()
	}
	f.connMu.Unlock()
	<-f.done
}

// current returns the partitions and their states.
func (f *fetcher) current() map[*Partition]*fetchPart {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[*Partition]*fetchPart, len(f.parts))
	for r, fp := range f.parts {
		out[r] = fp
	}
	return out
}

// still reports whether fp is r's current state.
func (f *fetcher) still(r *Partition, fp *fetchPart) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parts[r] == fp
}

func (f *fetcher) backoff() time.Duration {
	d := time.Duration(f.m.cfg.ReplicaFetchBackoffMs) * time.Millisecond
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	// Jitter, so that fetchers do not retry in lockstep.
	return d/2 + rand.N(d/2+1)
}

func (f *fetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
		return false
	case <-t.C:
		return true
	case <-f.wake:
		return true
	}
}

func (f *fetcher) run() {
	defer close(f.done)
	defer f.dropConn()
	for f.ctx.Err() == nil {
		parts := f.current()
		if len(parts) == 0 {
			if !f.sleep(time.Second) {
				return
			}
			continue
		}
		rc, err := f.connect()
		if err != nil {
			f.log.Debug("connecting to leader", zap.Error(err))
			if !f.sleep(f.backoff()) {
				return
			}
			continue
		}
		if err := f.round(rc, parts); err != nil {
			if f.ctx.Err() != nil {
				return
			}
			f.log.Info("replica fetch failed; reconnecting", zap.Error(err))
			f.dropConn()
			if !f.sleep(f.backoff()) {
				return
			}
		}
	}
}

// connect returns the connection to the leader, dialing it if needed on
// the inter-broker listener the metadata advertises.
func (f *fetcher) connect() (*replicaConn, error) {
	f.connMu.Lock()
	rc := f.conn
	f.connMu.Unlock()
	if rc != nil && rc.expired() {
		f.dropConn() // the leader's SASL session ends soon: start a new one
		rc = nil
	}
	if rc != nil {
		return rc, nil
	}
	addr, err := f.m.interBrokerAddr(f.m.md.Snapshot(), f.leader)
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(f.m.cfg.ReplicaSocketTimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	rc, err = dialReplica(f.ctx, addr, "runnel-replica-"+strconv.Itoa(int(f.m.brokerID)), timeout, f.m.tls, f.m.sasl, f.m.saslUser)
	if err != nil {
		return nil, err
	}
	f.connMu.Lock()
	defer f.connMu.Unlock()
	if f.ctx.Err() != nil {
		rc.close()
		return nil, f.ctx.Err()
	}
	f.conn = rc
	return rc, nil
}

func (f *fetcher) dropConn() {
	f.connMu.Lock()
	if f.conn != nil {
		f.conn.close()
		f.conn = nil
	}
	f.connMu.Unlock()
}

// interBrokerAddr is the host:port of broker id's inter-broker listener
// (inter.broker.listener.name), or its first endpoint.
func (m *Manager) interBrokerAddr(snap *controller.Snapshot, id int32) (string, error) {
	bi, ok := snap.Brokers[id]
	if !ok || len(bi.Endpoints) == 0 {
		return "", fmt.Errorf("broker %d is not registered", id)
	}
	ep := bi.Endpoints[0]
	for _, e := range bi.Endpoints {
		if e.Listener == m.cfg.InterBrokerListenerName {
			ep = e
			break
		}
	}
	return netJoin(ep.Host, ep.Port), nil
}

func netJoin(host string, port int32) string {
	if len(host) > 0 && host[0] != '[' {
		for i := 0; i < len(host); i++ {
			if host[i] == ':' {
				return "[" + host + "]:" + strconv.Itoa(int(port))
			}
		}
	}
	return host + ":" + strconv.Itoa(int(port))
}

// round does one step: truncation for partitions that need it, then one
// fetch for the partitions ready to fetch. An error is a connection error.
func (f *fetcher) round(rc *replicaConn, parts map[*Partition]*fetchPart) error {
	now := time.Now()
	var trunc, ready []*Partition
	var next time.Time
	for r, fp := range parts {
		if now.Before(fp.retryAt) {
			if next.IsZero() || fp.retryAt.Before(next) {
				next = fp.retryAt
			}
			continue
		}
		if !fp.truncated {
			trunc = append(trunc, r)
		} else {
			ready = append(ready, r)
		}
	}
	if len(trunc) > 0 {
		if err := f.truncate(rc, trunc, parts); err != nil {
			return err
		}
		// Truncated partitions fetch in the next round.
		return nil
	}
	if len(ready) == 0 {
		f.sleep(max(time.Until(next), 10*time.Millisecond))
		return nil
	}
	return f.fetch(rc, ready, parts)
}

// truncate runs one OffsetForLeaderEpoch round for rs (step 1).
func (f *fetcher) truncate(rc *replicaConn, rs []*Partition, parts map[*Partition]*fetchPart) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = 4
	req.ReplicaID = f.m.brokerID
	type ask struct {
		r     *Partition
		fp    *fetchPart
		epoch int32
	}
	asks := map[string]map[int32]ask{}
	for _, r := range rs {
		fp := parts[r]
		e := fp.askEpoch
		if e < 0 {
			e = r.log.LatestEpoch()
		}
		if e < 0 {
			// No epochs: an empty log (or one written without
			// epochs) has nothing the leader could disown. Not
			// logged: every new follower of an empty partition
			// passes here, thousands at once after a restart.
			f.finishTruncation(r, fp, -1, "")
			continue
		}
		if asks[r.topic] == nil {
			asks[r.topic] = map[int32]ask{}
		}
		asks[r.topic][r.index] = ask{r: r, fp: fp, epoch: e}
	}
	if len(asks) == 0 {
		return nil
	}
	for topic, ps := range asks {
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic = topic
		for idx, a := range ps {
			p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = idx, a.fp.epoch, a.epoch
			t.Partitions = append(t.Partitions, p)
		}
		req.Topics = append(req.Topics, t)
	}
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	if err := rc.request(req, resp, 0); err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			a, ok := asks[t.Topic][p.Partition]
			if !ok {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				f.partitionError(a.r, a.fp, err)
				continue
			}
			f.resolveTruncation(a.r, a.fp, a.epoch, p.LeaderEpoch, p.EndOffset)
		}
	}
	return nil
}

// resolveTruncation applies the leader's OffsetForLeaderEpoch answer
// (leaderEpoch, leaderEnd) to a question about asked.
func (f *fetcher) resolveTruncation(r *Partition, fp *fetchPart, asked, leaderEpoch int32, leaderEnd int64) {
	l := r.log
	leo := l.LogEndOffset()
	if leaderEpoch < 0 || leaderEnd < 0 {
		// The leader knows no epoch <= asked: Kafka's fallback is the
		// high watermark, everything below which the leader has.
		f.finishTruncation(r, fp, min(l.HighWatermark(), leo), "leader has no epoch at or below ours; truncating to the high watermark")
		return
	}
	myEpoch, myEnd := l.EndOffsetForEpoch(leaderEpoch)
	switch {
	case myEnd < 0:
		// We track no epoch at or below the leader's answer.
		f.finishTruncation(r, fp, min(leaderEnd, leo), "")
	case myEpoch != leaderEpoch:
		// We never saw the leader's epoch: cut back to the end of our
		// largest epoch below it and ask again about that one (KIP-279).
		if !f.truncateTo(r, fp, min(myEnd, leo)) {
			return
		}
		f.mu.Lock()
		if f.parts[r] == fp {
			fp.askEpoch = myEpoch
		}
		f.mu.Unlock()
	default:
		f.finishTruncation(r, fp, min(leaderEnd, myEnd, leo), "")
	}
}

// finishTruncation truncates r to end (-1: nothing to do) and marks the
// state ready to fetch.
func (f *fetcher) finishTruncation(r *Partition, fp *fetchPart, end int64, why string) {
	if end >= 0 && !f.truncateTo(r, fp, end) {
		return
	}
	if why != "" {
		f.log.Info(why, zap.String("topic", r.topic), zap.Int32("partition", r.index), zap.Int64("offset", end))
	}
	f.mu.Lock()
	if f.parts[r] == fp {
		fp.truncated, fp.askEpoch = true, -1
	}
	f.mu.Unlock()
}

// truncateTo truncates r's log to end if r still follows this fetcher's
// leader in fp's epoch; it reports whether the state is still current.
func (f *fetcher) truncateTo(r *Partition, fp *fetchPart, end int64) bool {
	from, err := r.TruncateAsFollower(f.leader, fp.epoch, end, func() bool { return f.still(r, fp) })
	switch {
	case errors.Is(err, errNotFollowing):
		return false
	case err != nil:
		f.log.Error("truncating follower log", zap.String("topic", r.topic), zap.Int32("partition", r.index), zap.Error(err))
		f.pause(r, fp)
		return false
	}
	if end < from {
		f.log.Info("truncating follower log", zap.String("topic", r.topic), zap.Int32("partition", r.index),
			zap.Int64("from", from), zap.Int64("to", end), zap.Int32("leader_epoch", fp.epoch))
	}
	return true
}

// pause makes fp wait a backoff before its next step.
func (f *fetcher) pause(r *Partition, fp *fetchPart) {
	f.mu.Lock()
	if f.parts[r] == fp {
		fp.retryAt = time.Now().Add(f.backoff())
	}
	f.mu.Unlock()
}

// partitionError handles an error the leader returned for one partition.
func (f *fetcher) partitionError(r *Partition, fp *fetchPart, err error) {
	switch {
	case errors.Is(err, kerr.FencedLeaderEpoch), errors.Is(err, kerr.UnknownLeaderEpoch),
		errors.Is(err, kerr.NotLeaderForPartition), errors.Is(err, kerr.UnknownTopicOrPartition):
		// Our metadata or the leader's is behind; the next snapshot
		// moves us on. Retry after a pause meanwhile.
		f.log.Debug("leader refused partition", zap.String("topic", r.topic), zap.Int32("partition", r.index), zap.Error(err))
	default:
		f.log.Warn("replica fetch partition error", zap.String("topic", r.topic), zap.Int32("partition", r.index), zap.Error(err))
	}
	f.pause(r, fp)
}

// fetch sends one Fetch for rs and applies the response (steps 2 and 3).
func (f *fetcher) fetch(rc *replicaConn, rs []*Partition, parts map[*Partition]*fetchPart) error {
	cfg := f.m.cfg
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = f.m.brokerID
	req.MaxWaitMillis = max(cfg.ReplicaFetchWaitMaxMs, 0)
	req.MinBytes = max(cfg.ReplicaFetchMinBytes, 1)
	req.MaxBytes = cfg.ReplicaFetchResponseMax
	if req.MaxBytes <= 0 {
		req.MaxBytes = 10 << 20
	}
	req.SessionID, req.SessionEpoch = 0, -1 // full fetches, no session
	type sent struct {
		r      *Partition
		fp     *fetchPart
		offset int64
		leo    int64
	}
	byKey := map[string]map[int32]sent{}
	topicIdx := map[string]int{}
	for _, r := range rs {
		fp := parts[r]
		leo := r.log.LogEndOffset()
		off := max(leo, fp.startAt)
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = r.index
		p.CurrentLeaderEpoch = fp.epoch
		p.FetchOffset = off
		p.LastFetchedEpoch = r.log.LatestEpoch()
		p.LogStartOffset = r.log.LogStartOffset()
		p.PartitionMaxBytes = cfg.ReplicaFetchMaxBytes
		if p.PartitionMaxBytes <= 0 {
			p.PartitionMaxBytes = 1 << 20
		}
		i, ok := topicIdx[r.topic]
		if !ok {
			i = len(req.Topics)
			topicIdx[r.topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = r.topic
			req.Topics = append(req.Topics, t)
			byKey[r.topic] = map[int32]sent{}
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
		byKey[r.topic][r.index] = sent{r: r, fp: fp, offset: off, leo: leo}
	}
	resp := kmsg.NewPtrFetchResponse()
	if err := rc.request(req, resp, time.Duration(req.MaxWaitMillis)*time.Millisecond); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	for _, t := range resp.Topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			s, ok := byKey[t.Topic][p.Partition]
			if !ok {
				continue
			}
			f.applyFetched(s.r, s.fp, s.offset, s.leo, p)
		}
	}
	return nil
}

// applyFetched applies one partition of a fetch response.
func (f *fetcher) applyFetched(r *Partition, fp *fetchPart, offset, leo int64, p *kmsg.FetchResponseTopicPartition) {
	err := kerr.ErrorForCode(p.ErrorCode)
	switch {
	case errors.Is(err, kerr.OffsetOutOfRange):
		f.outOfRange(r, fp, offset, p)
		return
	case err != nil:
		f.partitionError(r, fp, err)
		return
	}
	if p.DivergingEpoch.EndOffset >= 0 && p.DivergingEpoch.Epoch >= 0 {
		// The leader says our log diverged from its own: truncate again.
		// The lag is the leader's HW less our log end here too, so that a
		// follower that keeps diverging does not read as caught up.
		r.followerLag.Store(max(p.HighWatermark-leo, 0))
		f.mu.Lock()
		if f.parts[r] == fp {
			fp.truncated, fp.askEpoch = false, -1
		}
		f.mu.Unlock()
		return
	}
	batches := wholeBatches(p.RecordBatches)
	ok, err := r.AppendAsFollower(FollowerAppend{
		Leader: f.leader, LeaderEpoch: fp.epoch, LogEnd: leo, Batches: batches,
		LeaderHW: p.HighWatermark, LeaderLogStart: p.LogStartOffset,
	}, func() bool { return f.still(r, fp) })
	if err != nil {
		f.log.Warn("appending replicated batches", zap.String("topic", r.topic), zap.Int32("partition", r.index), zap.Int64("offset", offset), zap.Error(err))
		f.pause(r, fp)
		return
	}
	if ok && len(batches) > 0 {
		f.mu.Lock()
		fp.startAt = -1
		f.mu.Unlock()
	}
}

// outOfRange handles OFFSET_OUT_OF_RANGE: below the leader's log start the
// follower starts over at it; otherwise its log end is past the leader's,
// which only epochs can settle, so it truncates again.
func (f *fetcher) outOfRange(r *Partition, fp *fetchPart, offset int64, p *kmsg.FetchResponseTopicPartition) {
	if p.LogStartOffset >= 0 && offset < p.LogStartOffset {
		_, err := r.TruncateAsFollower(f.leader, fp.epoch, -1, func() bool { return f.still(r, fp) })
		switch {
		case errors.Is(err, errNotFollowing):
		case err != nil:
			f.log.Error("restarting follower log", zap.String("topic", r.topic), zap.Int32("partition", r.index), zap.Error(err))
		default:
			f.log.Info("follower behind the leader's log start; starting over", zap.String("topic", r.topic), zap.Int32("partition", r.index),
				zap.Int64("offset", offset), zap.Int64("leader_log_start", p.LogStartOffset))
			f.mu.Lock()
			fp.startAt = p.LogStartOffset
			f.mu.Unlock()
		}
		return
	}
	f.mu.Lock()
	if f.parts[r] == fp {
		fp.truncated, fp.askEpoch = false, -1
	}
	f.mu.Unlock()
	f.pause(r, fp)
}

// wholeBatches trims a trailing partial batch (a leader may cut a response
// at its byte limit) and returns the complete batches.
func wholeBatches(b []byte) []byte {
	n := 0
	for len(b)-n >= storage.BatchLogOverhead {
		size := int64(int32(binary.BigEndian.Uint32(b[n+storage.BatchLengthAt:]))) + storage.BatchLogOverhead
		if size <= storage.BatchLogOverhead || int64(len(b)-n) < size {
			break
		}
		n += int(size)
	}
	return b[:n]
}
