package coordinator

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactional offset commits (KIP-98, KIP-447)
//
// TxnOffsetCommit stages offsets for a transactional producer: they are
// written to the group's __consumer_offsets partition as one transactional
// batch of ordinary offset-commit records (the producer's id and epoch in
// the batch header; the broker's write function does that), and kept
// pending per producer. They become the group's committed offsets only
// when the transaction's commit marker is written to that partition
// (CompleteTxn with commit) and are dropped by an abort marker. Replay
// does the same from the log: records of a transactional batch are staged
// (ReplayTxnRecord) and resolved by the marker that follows (CompleteTxn);
// what has no marker yet at the end of the log stays pending, to be
// resolved when the coordinator finishes the transaction.
//
// The pending offsets live in txnOffsetState, one field of Coordinator,
// keyed by the loaded partition object so a reload starts clean.

// txnOffsetState holds the pending transactional offsets.
type txnOffsetState struct {
	mu sync.Mutex
	// pending: partition → producer id → group → topic → partition → entry.
	pending map[*partition]map[int64]map[string]map[string]map[int32]offsetEntry
}

// stage records pending offsets of producer pid for group in p.
func (s *txnOffsetState) stage(p *partition, pid int64, group, topic string, part int32, e offsetEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = make(map[*partition]map[int64]map[string]map[string]map[int32]offsetEntry)
	}
	byPID := s.pending[p]
	if byPID == nil {
		byPID = make(map[int64]map[string]map[string]map[int32]offsetEntry)
		s.pending[p] = byPID
	}
	byGroup := byPID[pid]
	if byGroup == nil {
		byGroup = make(map[string]map[string]map[int32]offsetEntry)
		byPID[pid] = byGroup
	}
	byTopic := byGroup[group]
	if byTopic == nil {
		byTopic = make(map[string]map[int32]offsetEntry)
		byGroup[group] = byTopic
	}
	ps := byTopic[topic]
	if ps == nil {
		ps = make(map[int32]offsetEntry)
		byTopic[topic] = ps
	}
	ps[part] = e
}

// take removes and returns producer pid's pending offsets in p, and forgets
// partitions that are no longer loaded.
func (s *txnOffsetState) take(c *Coordinator, p *partition, pid int64) map[string]map[string]map[int32]offsetEntry {
	c.mu.RLock()
	live := make(map[*partition]bool, len(c.parts))
	for _, lp := range c.parts {
		live[lp] = true
	}
	c.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for q := range s.pending {
		if !live[q] {
			delete(s.pending, q)
		}
	}
	out := s.pending[p][pid]
	delete(s.pending[p], pid)
	return out
}

// pendingFor reports whether any producer has offsets pending for group.
func (s *txnOffsetState) pendingFor(group string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, byPID := range s.pending {
		for _, byGroup := range byPID {
			if _, ok := byGroup[group]; ok {
				return true
			}
		}
	}
	return false
}

// loadedPartition returns the partition object for idx (loaded or loading).
func (c *Coordinator) loadedPartition(idx int32) *partition {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.parts[idx]
}

// TxnOffsetCommit handles TxnOffsetCommit (v0–v4): it checks the group
// member (v3+, KIP-447: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// FENCED_INSTANCE_ID), writes the offsets with write — which must append
// them as one transactional batch of the request's producer — and stages
// them until the transaction's marker. A group that does not exist is
// created empty, as Kafka does.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest, write func(ctx context.Context, recs []Record) error) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(code int16) *kmsg.TxnOffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return resp
	}
	g, err := c.lookup(req.Group, true)
	if err != nil {
		return setAll(err.(*kerr.Error).Code)
	}
	defer g.mu.Unlock()
	if e := g.validateTxnCommit(req); e != nil {
		return setAll(e.Code)
	}
	now := c.clock.Now().UnixMilli()
	type staged struct {
		topic string
		part  int32
		e     offsetEntry
	}
	var recs []Record
	var entries []staged
	for ti, t := range req.Topics {
		for pi, p := range t.Partitions {
			md := deref(p.Metadata)
			if len(md) > c.cfg.OffsetMetadataMaxBytes {
				resp.Topics[ti].Partitions[pi].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			e := offsetEntry{offset: p.Offset, leaderEpoch: p.LeaderEpoch, metadata: md, commitMs: now, expireMs: -1}
			if req.Version < 2 {
				e.leaderEpoch = -1
			}
			recs = append(recs, Record{Key: offsetKey(g.id, t.Topic, p.Partition), Value: offsetValue(e)})
			entries = append(entries, staged{t.Topic, p.Partition, e})
		}
	}
	if len(recs) == 0 {
		return resp
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CommitTimeout)
	defer cancel()
	if err := write(wctx, recs); err != nil {
		code := appendError(err).Code // the producer's own errors pass through
		for ti, t := range req.Topics {
			for pi := range t.Partitions {
				if resp.Topics[ti].Partitions[pi].ErrorCode == 0 {
					resp.Topics[ti].Partitions[pi].ErrorCode = code
				}
			}
		}
		return resp
	}
	for _, s := range entries {
		c.txnOffsets.stage(g.p, req.ProducerID, g.id, s.topic, s.part, s.e)
	}
	return resp
}

// validateTxnCommit is Kafka's check of a transactional offset commit.
func (g *group) validateTxnCommit(req *kmsg.TxnOffsetCommitRequest) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if req.Version < 3 {
		return nil
	}
	if g.kind == consumerKind {
		if req.MemberID == "" && req.Generation < 0 {
			return nil
		}
		return g.cg.validateCommit(req.MemberID, req.Generation)
	}
	if id := deref(req.InstanceID); id != "" {
		if cur, ok := g.static[id]; ok && cur != req.MemberID {
			return kerr.FencedInstanceID
		}
	}
	if req.MemberID != "" && g.members[req.MemberID] == nil {
		return kerr.UnknownMemberID
	}
	if req.Generation >= 0 && req.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	return nil
}

// ReplayTxnRecord stages one record of a transactional batch of producer
// pid met while partition idx replays (called from the partition's
// Log.Replay). Records that are not offset commits are ignored.
func (c *Coordinator) ReplayTxnRecord(idx int32, pid int64, key, value []byte) {
	p := c.loadedPartition(idx)
	if p == nil {
		return
	}
	rec, ok, err := decodeRecord(key, value)
	if err != nil || !ok || rec.offset == nil {
		return
	}
	k := rec.offset.key
	if rec.offset.value == nil {
		return
	}
	v := rec.offset.value
	c.txnOffsets.stage(p, pid, k.Group, k.Topic, k.Partition, offsetEntry{
		offset: v.Offset, leaderEpoch: v.LeaderEpoch, metadata: v.Metadata,
		commitMs: v.CommitTimestamp, expireMs: v.ExpireTimestamp,
	})
}

// CompleteTxn resolves producer pid's pending offsets in partition idx
// when its transaction marker is written there (or met on replay): a
// commit makes them the groups' committed offsets, an abort drops them.
func (c *Coordinator) CompleteTxn(idx int32, pid int64, commit bool) {
	p := c.loadedPartition(idx)
	if p == nil {
		return
	}
	pending := c.txnOffsets.take(c, p, pid)
	if !commit || len(pending) == 0 {
		return
	}
	for id, byTopic := range pending {
		p.mu.Lock()
		if p.unloaded {
			p.mu.Unlock()
			return
		}
		g := p.groups[id]
		if g == nil {
			g = c.newGroup(p, id)
			p.groups[id] = g
		}
		p.mu.Unlock()
		g.mu.Lock()
		if g.state != Dead {
			for topic, ps := range byTopic {
				for part, e := range ps {
					g.setOffset(topic, part, e)
				}
			}
		}
		g.mu.Unlock()
	}
}

// HasPendingTxnOffsets reports whether a transaction has offsets for group
// not yet committed or aborted (KIP-447: OffsetFetch with RequireStable
// answers UNSTABLE_OFFSET_COMMIT meanwhile).
func (c *Coordinator) HasPendingTxnOffsets(group string) bool {
	return c.txnOffsets.pendingFor(group)
}

// pendingAt reports whether a transaction has a pending offset for
// group's topic/partition.
func (s *txnOffsetState) pendingAt(group, topic string, part int32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, byPID := range s.pending {
		for _, byGroup := range byPID {
			if _, ok := byGroup[group][topic][part]; ok {
				return true
			}
		}
	}
	return false
}

// markUnstableOffsets is KIP-447's RequireStable for OffsetFetch (v7+):
// a partition with a transactional offset awaiting its marker answers
// UNSTABLE_OFFSET_COMMIT (offset -1), which the consumer retries, instead
// of an offset about to change. OffsetFetch calls it on its response.
func (c *Coordinator) markUnstableOffsets(req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse) {
	if !req.RequireStable {
		return
	}
	mark := func(group, topic string, p *int32, off *int64, code *int16) {
		if *code == 0 && topic != "" && c.txnOffsets.pendingAt(group, topic, *p) {
			*off, *code = -1, kerr.UnstableOffsetCommit.Code
		}
	}
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			mark(req.Group, t.Topic, &p.Partition, &p.Offset, &p.ErrorCode)
		}
	}
	for i := range resp.Groups {
		g := &resp.Groups[i]
		for j := range g.Topics {
			t := &g.Topics[j]
			for k := range t.Partitions {
				p := &t.Partitions[k]
				mark(g.Group, t.Topic, &p.Partition, &p.Offset, &p.ErrorCode)
			}
		}
	}
}
