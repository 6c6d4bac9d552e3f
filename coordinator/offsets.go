package coordinator

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// OffsetCommit handles OffsetCommit (v2+). A group that does not exist is
// created as a "simple" group when the request carries no generation
// (generation -1: a consumer that assigns partitions itself, or an admin).
// topicName resolves v10 topic ids; it may be nil for older versions.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest, topicName func([16]byte) string) *kmsg.OffsetCommitResponse {
	version := req.GetVersion()
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.SetVersion(version)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(err *kerr.Error) *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = err.Code
			}
		}
		return resp
	}
	g, err := c.lookup(req.Group, false)
	if err != nil {
		return setAll(err.(*kerr.Error))
	}
	if g == nil {
		if req.Generation >= 0 {
			if version >= 9 {
				return setAll(kerr.GroupIDNotFound)
			}
			return setAll(kerr.IllegalGeneration)
		}
		if g, err = c.lookup(req.Group, true); err != nil {
			return setAll(err.(*kerr.Error))
		}
	}
	defer g.mu.Unlock()
	if e := g.validateCommit(req); e != nil {
		return setAll(e)
	}
	now := c.clock.Now().UnixMilli()
	var recs []Record
	type pos struct{ ti, pi int }
	var positions []pos
	var entries []offsetEntry
	for ti, t := range req.Topics {
		name := t.Topic
		if version >= 10 {
			if topicName != nil {
				name = topicName(t.TopicID)
			}
			if name == "" {
				for pi := range t.Partitions {
					resp.Topics[ti].Partitions[pi].ErrorCode = kerr.UnknownTopicID.Code
				}
				continue
			}
		}
		for pi, p := range t.Partitions {
			md := deref(p.Metadata)
			if len(md) > c.cfg.OffsetMetadataMaxBytes {
				resp.Topics[ti].Partitions[pi].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			e := offsetEntry{offset: p.Offset, leaderEpoch: p.LeaderEpoch, metadata: md, commitMs: now, expireMs: -1}
			if version < 6 {
				e.leaderEpoch = -1
			}
			recs = append(recs, Record{Key: offsetKey(g.id, name, p.Partition), Value: offsetValue(e)})
			positions = append(positions, pos{ti, pi})
			entries = append(entries, e)
		}
	}
	if len(recs) == 0 {
		return resp
	}
	if err := g.p.append(ctx, c, recs); err != nil {
		e := appendError(err)
		for _, ps := range positions {
			resp.Topics[ps.ti].Partitions[ps.pi].ErrorCode = e.Code
		}
		return resp
	}
	for i, ps := range positions {
		t := req.Topics[ps.ti]
		name := t.Topic
		if version >= 10 && topicName != nil {
			name = topicName(t.TopicID)
		}
		g.setOffset(name, t.Partitions[ps.pi].Partition, entries[i])
	}
	return resp
}

// validateCommit is Kafka's check of who may commit to a group.
func (g *group) validateCommit(req *kmsg.OffsetCommitRequest) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if g.kind == consumerKind {
		if e := g.cg.validateCommit(req.MemberID, req.Generation); e != nil {
			return e
		}
		return g.cg.validateCommitVersion(req.MemberID, req.GetVersion())
	}
	if req.Generation < 0 && g.state == Empty {
		return nil
	}
	instanceID := deref(req.InstanceID)
	if req.Generation >= 0 || req.MemberID != "" || instanceID != "" {
		if instanceID != "" {
			cur, ok := g.static[instanceID]
			if !ok {
				return kerr.UnknownMemberID
			}
			if cur != req.MemberID {
				return kerr.FencedInstanceID
			}
		} else if g.members[req.MemberID] == nil {
			return kerr.UnknownMemberID
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration
		}
	} else if g.state != Empty {
		return kerr.UnknownMemberID
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress
	}
	if m := g.members[req.MemberID]; m != nil {
		g.scheduleSession(m)
	}
	return nil
}

// OffsetFetch handles OffsetFetch: one group (v1–v7) or several (v8+). A
// group that does not exist has offset -1 for every partition asked for,
// and no error. topicName/topicID translate for v10 topic ids; either may
// be nil before v10.
func (c *Coordinator) OffsetFetch(_ context.Context, req *kmsg.OffsetFetchRequest, topicName func([16]byte) string, topicID func(string) [16]byte) *kmsg.OffsetFetchResponse {
	version := req.GetVersion()
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.SetVersion(version)
	defer c.markUnstableOffsets(req, resp) // KIP-447 RequireStable (txn_offsets.go)
	if version < 8 {
		rg := c.fetchGroup(req.Group, "", -1, req.Topics != nil || version < 2, convertTopics(req.Topics), version, topicName, topicID)
		resp.ErrorCode = rg.ErrorCode
		for _, t := range rg.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				if version < 2 && rg.ErrorCode != 0 {
					rp.ErrorCode = rg.ErrorCode
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, rg := range req.Groups {
		var topics []fetchTopic
		for _, t := range rg.Topics {
			topics = append(topics, fetchTopic{name: t.Topic, id: t.TopicID, partitions: t.Partitions})
		}
		resp.Groups = append(resp.Groups, c.fetchGroup(rg.Group, deref(rg.MemberID), rg.MemberEpoch, rg.Topics != nil, topics, version, topicName, topicID))
	}
	return resp
}

type fetchTopic struct {
	name       string
	id         [16]byte
	partitions []int32
}

func convertTopics(ts []kmsg.OffsetFetchRequestTopic) []fetchTopic {
	out := make([]fetchTopic, 0, len(ts))
	for _, t := range ts {
		out = append(out, fetchTopic{name: t.Topic, partitions: t.Partitions})
	}
	return out
}

func (c *Coordinator) fetchGroup(groupID, memberID string, memberEpoch int32, some bool, topics []fetchTopic, version int16, topicName func([16]byte) string, topicID func(string) [16]byte) kmsg.OffsetFetchResponseGroup {
	rg := kmsg.NewOffsetFetchResponseGroup()
	rg.Group = groupID
	g, err := c.lookup(groupID, false)
	if err != nil {
		rg.ErrorCode = err.(*kerr.Error).Code
		// Partitions still get -1 so that v0/v1 clients see the error.
		g = nil
	}
	var offsets map[string]map[int32]offsetEntry
	if g != nil {
		if g.kind == consumerKind && memberEpoch >= 0 {
			if e := g.cg.validateFetch(memberID, memberEpoch); e != nil {
				rg.ErrorCode = e.Code
				g.mu.Unlock()
				return rg
			}
		}
		offsets = g.offsets
		defer g.mu.Unlock()
	}
	addPartition := func(rt *kmsg.OffsetFetchResponseGroupTopic, p int32, o offsetEntry, ok bool) {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition = p
		rp.Offset, rp.LeaderEpoch = -1, -1
		if ok {
			rp.Offset, rp.LeaderEpoch = o.offset, o.leaderEpoch
			if version < 5 {
				rp.LeaderEpoch = -1
			}
			md := o.metadata
			rp.Metadata = &md
		} else {
			empty := ""
			rp.Metadata = &empty
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	if some {
		for _, t := range topics {
			name := t.name
			if version >= 10 && topicName != nil {
				name = topicName(t.id)
			}
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic, rt.TopicID = t.name, t.id
			for _, p := range t.partitions {
				o, ok := offsets[name][p]
				addPartition(&rt, p, o, ok)
				if version >= 10 && name == "" {
					rt.Partitions[len(rt.Partitions)-1].ErrorCode = kerr.UnknownTopicID.Code
				}
			}
			rg.Topics = append(rg.Topics, rt)
		}
		return rg
	}
	names := make([]string, 0, len(offsets))
	for name := range offsets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = name
		if version >= 10 && topicID != nil {
			rt.TopicID = topicID(name)
		}
		ps := make([]int32, 0, len(offsets[name]))
		for p := range offsets[name] {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		for _, p := range ps {
			addPartition(&rt, p, offsets[name][p], true)
		}
		rg.Topics = append(rg.Topics, rt)
	}
	return rg
}

// OffsetDelete handles OffsetDelete: committed offsets of topics the group
// is not subscribed to are deleted (tombstones).
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.SetVersion(req.GetVersion())
	g, err := c.lookup(req.Group, false)
	if err != nil {
		resp.ErrorCode = err.(*kerr.Error).Code
		return resp
	}
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	defer g.mu.Unlock()
	if g.state == Dead {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	subscribed, known := g.subscribedTopics()
	if !g.isEmpty() && !known {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp
	}
	var recs []Record
	type tp struct {
		t string
		p int32
	}
	var deleting []tp
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if !g.isEmpty() && subscribed[t.Topic] {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := g.offsets[t.Topic][p.Partition]; ok {
				recs = append(recs, Record{Key: offsetKey(g.id, t.Topic, p.Partition)})
				deleting = append(deleting, tp{t.Topic, p.Partition})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(recs) > 0 {
		if err := g.p.append(ctx, c, recs); err != nil {
			resp.ErrorCode = appendError(err).Code
			resp.Topics = nil
			return resp
		}
		for _, d := range deleting {
			g.deleteOffset(d.t, d.p)
		}
	}
	return resp
}

// ExpireOffsets removes committed offsets older than offsets.retention
// (Kafka's rules, KIP-211): an empty group's offsets expire together,
// retention after it became empty; a simple group's (no protocol type) and
// an active consumer group's unsubscribed topics expire one by one,
// retention after their commit. Empty groups left with no offsets are
// deleted. It runs every offsets.retention.check.interval.ms.
func (c *Coordinator) ExpireOffsets(ctx context.Context) int {
	now := c.clock.Now()
	retention := c.cfg.OffsetsRetention
	total := 0
	for _, g := range c.allGroups() {
		g.mu.Lock()
		if g.state == Dead {
			g.mu.Unlock()
			continue
		}
		var expired [][2]any
		check := func(base func(offsetEntry) int64, skip map[string]bool) {
			for t, ps := range g.offsets {
				if skip[t] {
					continue
				}
				for p, o := range ps {
					exp := base(o) + retention.Milliseconds()
					if o.expireMs > 0 {
						exp = o.expireMs
					}
					if exp <= now.UnixMilli() {
						expired = append(expired, [2]any{t, p})
					}
				}
			}
		}
		commitTime := func(o offsetEntry) int64 { return o.commitMs }
		switch {
		case g.isEmpty() && (g.protocolType != "" || g.kind == consumerKind):
			st := g.stateTime.UnixMilli()
			check(func(offsetEntry) int64 { return st }, nil)
		case g.isEmpty() || (g.protocolType == "" && g.kind == classicKind):
			check(commitTime, nil)
		default:
			if subs, ok := g.subscribedTopics(); ok && (g.state == Stable || g.kind == consumerKind) {
				check(commitTime, subs)
			}
		}
		var recs []Record
		for _, e := range expired {
			recs = append(recs, Record{Key: offsetKey(g.id, e[0].(string), e[1].(int32))})
		}
		deleteGroup := g.isEmpty() && len(g.pending) == 0 && len(expired) == len(g.countOffsets()) && g.state != PreparingRebalance
		if deleteGroup && g.cg != nil {
			recs = append(recs, g.cg.tombstones()...)
		}
		if deleteGroup && (g.persisted || len(recs) > 0) {
			recs = append(recs, Record{Key: groupKey(g.id)})
		}
		if len(recs) > 0 {
			if err := g.p.append(ctx, c, recs); err != nil {
				c.lg.Warn("expiring offsets", zap.String("group", g.id), zap.Error(err))
				g.mu.Unlock()
				continue
			}
			for _, e := range expired {
				g.deleteOffset(e[0].(string), e[1].(int32))
			}
			total += len(expired)
			if deleteGroup && g.cg != nil {
				g.cg.written = nil
			}
		}
		if deleteGroup && len(g.offsets) == 0 && (len(recs) > 0 || !g.persisted) {
			g.shutdown(kerr.GroupIDNotFound)
			g.persisted = false
			g.p.removeGroup(g)
		}
		g.mu.Unlock()
	}
	return total
}

func (g *group) countOffsets() [][2]any {
	var out [][2]any
	for t, ps := range g.offsets {
		for p := range ps {
			out = append(out, [2]any{t, p})
		}
	}
	return out
}
