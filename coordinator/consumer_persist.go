package coordinator

// Persistence of KIP-848 consumer groups (records_848.go has the layout).
//
// A consumer group's state maps onto Kafka's records: the group epoch
// (ConsumerGroupMetadata), the subscribed topics' metadata
// (ConsumerGroupPartitionMetadata, as Kafka 4.0 writes it), the target
// assignment epoch (ConsumerGroupTargetAssignmentMetadata) and, per member,
// its subscription (ConsumerGroupMemberMetadata), its target
// (ConsumerGroupTargetAssignmentMember) and its epochs and partitions
// (ConsumerGroupCurrentMemberAssignment).
//
// The handlers change the in-memory group as before; commit then encodes the
// group as that set of records (image), compares it with the image the log
// holds (written) and appends the difference — changed records, and
// tombstones for records that went away — as one batch, before the change
// is answered. If the append fails the group is put back to what the log
// holds (rollback), so a change the log does not have is never acknowledged
// nor kept. Comparing images rather than logging each change keeps every
// handler's logic in one place and makes the records follow from the state,
// whatever path changed it (heartbeat, session or rebalance timeout,
// topic metadata, static member replacement).
//
// On load the records are replayed into the same image and the group is
// rebuilt from it: members keep their ids, epochs, subscriptions, targets
// and partitions, and each gets a fresh session timer (as Kafka's
// GroupMetadataManager.onLoaded does); members still revoking partitions get
// a fresh rebalance timer. The subscribed topics may have changed while no
// coordinator served the group: the first heartbeat after the load checks
// them (a write during Load would hold up the partition's loading).

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"
)

// cgValue is a decoded consumer-group record value.
type cgValue interface{ encode() []byte }

// cgImage is a consumer group as records: key → encoded value.
type cgImage map[cgKey][]byte

// image encodes the group's current state as its records.
func (cg *consumerGroup) image() cgImage {
	img := cgImage{}
	if cg.epoch == 0 && len(cg.members) == 0 {
		return img
	}
	cg.groupRecords(img)
	for mid := range cg.members {
		cg.memberRecords(img, mid)
	}
	return img
}

// groupRecords adds the group-level records (epoch, subscribed topics,
// assignment epoch) to img.
func (cg *consumerGroup) groupRecords(img cgImage) {
	id := cg.g.id
	img[cgKey{version: cgMetadataKeyVersion, group: id}] = cgMetadataValue{epoch: cg.epoch}.encode()
	var pm cgPartitionMetadataValue
	for _, name := range slices.Sorted(maps.Keys(cg.subscribed)) {
		info := cg.subscribed[name]
		pm.topics = append(pm.topics, cgTopicMetadata{id: info.ID, name: name, partitions: info.Partitions})
	}
	img[cgKey{version: cgPartitionMetadataKeyVersion, group: id}] = pm.encode()
	img[cgKey{version: cgTargetAssignmentMetadataKeyVersion, group: id}] = cgTargetAssignmentMetadataValue{assignmentEpoch: cg.assignmentEpoch}.encode()
}

// memberKeys are the keys of a member's three records.
func memberKeys(group, member string) [3]cgKey {
	return [3]cgKey{
		{version: cgMemberMetadataKeyVersion, group: group, member: member},
		{version: cgTargetAssignmentMemberKeyVersion, group: group, member: member},
		{version: cgCurrentMemberAssignmentKeyVersion, group: group, member: member},
	}
}

// memberRecords adds member mid's records to img; none if it is not a
// member.
func (cg *consumerGroup) memberRecords(img cgImage, mid string) {
	m := cg.members[mid]
	if m == nil {
		return
	}
	k := memberKeys(cg.g.id, mid)
	img[k[0]] = m.metadataValue().encode()
	img[k[1]] = cgTargetAssignmentMemberValue{topics: toTopicPartitions(cg.target[mid])}.encode()
	img[k[2]] = cgCurrentMemberAssignmentValue{
		memberEpoch:         m.epoch,
		previousMemberEpoch: m.prevEpoch,
		state:               m.state.kafka(),
		assigned:            toTopicPartitions(m.assigned),
		pendingRevocation:   toTopicPartitions(m.pendingRevocation),
	}.encode()
}

// touch marks a member changed since the last commit.
func (cg *consumerGroup) touch(member string) {
	if member == "" {
		return
	}
	if cg.dirty == nil {
		cg.dirty = make(map[string]bool)
	}
	cg.dirty[member] = true
}

// changed is the part of the group that may differ from the log: the
// current records of the group level and of the changed members (cur),
// and the keys the log holds for them (old). With allDirty it is the
// whole group.
func (cg *consumerGroup) changed() (old, cur cgImage) {
	if cg.allDirty || len(cg.written) == 0 {
		return cg.written, cg.image()
	}
	old, cur = cgImage{}, cgImage{}
	id := cg.g.id
	if cg.epoch != 0 || len(cg.members) != 0 {
		cg.groupRecords(cur)
	}
	for _, k := range []cgKey{
		{version: cgMetadataKeyVersion, group: id},
		{version: cgPartitionMetadataKeyVersion, group: id},
		{version: cgTargetAssignmentMetadataKeyVersion, group: id},
	} {
		if v, ok := cg.written[k]; ok {
			old[k] = v
		}
	}
	for mid := range cg.dirty {
		cg.memberRecords(cur, mid)
		for _, k := range memberKeys(id, mid) {
			if v, ok := cg.written[k]; ok {
				old[k] = v
			}
		}
	}
	return old, cur
}

func (m *consumerMember) metadataValue() cgMemberMetadataValue {
	names := m.topicNames
	if names == nil {
		names = []string{}
	}
	return cgMemberMetadataValue{
		instanceID:         strPtr(m.instanceID),
		rackID:             strPtr(m.rackID),
		clientID:           m.clientID,
		clientHost:         m.clientHost,
		topicNames:         names,
		regex:              strPtr(m.regex),
		rebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond),
		serverAssignor:     strPtr(m.assignor),
	}
}

func (s memberState) kafka() int8 {
	switch s {
	case memberUnrevoked:
		return kafkaMemberUnrevoked
	case memberUnreleased:
		return kafkaMemberUnreleased
	}
	return kafkaMemberStable
}

func memberStateFromKafka(b int8) memberState {
	switch b {
	case kafkaMemberUnrevoked:
		return memberUnrevoked
	case kafkaMemberUnreleased:
		return memberUnreleased
	}
	return memberStable
}

func toTopicPartitions(s partitionSet) []cgTopicPartitions {
	out := make([]cgTopicPartitions, 0, len(s))
	for _, t := range slices.SortedFunc(maps.Keys(s), compareIDs) {
		out = append(out, cgTopicPartitions{id: t, partitions: s[t]})
	}
	return out
}

func fromTopicPartitions(tps []cgTopicPartitions) partitionSet {
	s := partitionSet{}
	for _, tp := range tps {
		for _, p := range tp.partitions {
			s.add(tp.id, p)
		}
	}
	return s
}

// Record order within a batch, as Kafka's coordinator writes them: a
// removed member's records go first (current assignment, target,
// subscription) and a deleted group's group-level records last; new and
// changed records go subscription first, then the group epoch, the target,
// and the current assignments.
var (
	cgTombstoneOrder = []int16{
		cgCurrentMemberAssignmentKeyVersion, cgTargetAssignmentMemberKeyVersion, cgMemberMetadataKeyVersion,
		cgTargetAssignmentMetadataKeyVersion, cgPartitionMetadataKeyVersion, cgMetadataKeyVersion,
	}
	cgUpsertOrder = []int16{
		cgMemberMetadataKeyVersion, cgPartitionMetadataKeyVersion, cgMetadataKeyVersion,
		cgTargetAssignmentMemberKeyVersion, cgTargetAssignmentMetadataKeyVersion, cgCurrentMemberAssignmentKeyVersion,
	}
)

func sortCGKeys(keys []cgKey, order []int16) {
	rank := func(v int16) int { return slices.Index(order, v) }
	slices.SortFunc(keys, func(a, b cgKey) int {
		if c := cmp.Compare(rank(a.version), rank(b.version)); c != 0 {
			return c
		}
		return cmp.Compare(a.member, b.member)
	})
}

// diffCGImages is the records that take the log from old to cur.
func diffCGImages(old, cur cgImage) []Record {
	var gone, changed []cgKey
	for k := range old {
		if _, ok := cur[k]; !ok {
			gone = append(gone, k)
		}
	}
	for k, v := range cur {
		if ov, ok := old[k]; !ok || string(ov) != string(v) {
			changed = append(changed, k)
		}
	}
	sortCGKeys(gone, cgTombstoneOrder)
	sortCGKeys(changed, cgUpsertOrder)
	recs := make([]Record, 0, len(gone)+len(changed))
	for _, k := range gone {
		recs = append(recs, Record{Key: k.encode()})
	}
	for _, k := range changed {
		recs = append(recs, Record{Key: k.encode(), Value: cur[k]})
	}
	return recs
}

// commit writes what changed in the group since the last commit (or load)
// and returns once the log has it. On failure the group goes back to the
// state the log holds. Called with the group's mu held.
func (cg *consumerGroup) commit(ctx context.Context) error {
	old, cur := cg.changed()
	recs := diffCGImages(old, cur)
	if len(recs) == 0 {
		cg.dirty, cg.allDirty = nil, false
		return nil
	}
	if err := cg.g.p.append(ctx, cg.g.c, recs); err != nil {
		cg.g.c.lg.Warn("writing consumer group records; keeping the group as the log has it",
			zap.String("group", cg.g.id), zap.Int("records", len(recs)), zap.Error(err))
		cg.rollback()
		return err
	}
	if cg.written == nil {
		cg.written = cgImage{}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			delete(cg.written, k)
		}
	}
	maps.Copy(cg.written, cur)
	cg.dirty, cg.allDirty = nil, false
	return nil
}

// tombstones deletes every record of the group the log holds.
func (cg *consumerGroup) tombstones() []Record {
	return diffCGImages(cg.written, cgImage{})
}

// rollback rebuilds the group from the records the log holds.
func (cg *consumerGroup) rollback() {
	vals := make(map[cgKey]cgValue, len(cg.written))
	for k, v := range cg.written {
		rec, err := decodeCGRecord(k.encode(), v)
		if err != nil { // our own encoding: cannot happen
			cg.g.c.lg.Error("re-reading consumer group record", zap.String("group", cg.g.id), zap.Error(err))
			continue
		}
		vals[k] = rec.value.(cgValue)
	}
	cg.stopTimers()
	cg.restore(vals)
	cg.dirty, cg.allDirty = nil, false
	cg.startLoadedTimers()
	cg.updateState()
}

// restore sets the group's state from its records (key → decoded value).
// Timers are not started (startLoadedTimers).
func (cg *consumerGroup) restore(vals map[cgKey]cgValue) {
	fresh := newConsumerGroup(cg.g)
	cg.epoch, cg.assignmentEpoch = 0, 0
	cg.members, cg.static, cg.target, cg.owners, cg.subscribed = fresh.members, fresh.static, fresh.target, fresh.owners, fresh.subscribed
	current := map[string]cgCurrentMemberAssignmentValue{}
	for k, v := range vals {
		switch v := v.(type) {
		case cgMetadataValue:
			cg.epoch = v.epoch
		case cgPartitionMetadataValue:
			for _, t := range v.topics {
				cg.subscribed[t.name] = TopicInfo{ID: t.id, Partitions: t.partitions}
			}
		case cgTargetAssignmentMetadataValue:
			cg.assignmentEpoch = v.assignmentEpoch
		case cgTargetAssignmentMemberValue:
			cg.target[k.member] = fromTopicPartitions(v.topics)
		case cgCurrentMemberAssignmentValue:
			current[k.member] = v
		case cgMemberMetadataValue:
			m := &consumerMember{
				id:               k.member,
				instanceID:       deref(v.instanceID),
				rackID:           deref(v.rackID),
				clientID:         v.clientID,
				clientHost:       v.clientHost,
				topicNames:       slices.Compact(slices.Sorted(slices.Values(v.topicNames))),
				regex:            deref(v.regex),
				assignor:         deref(v.serverAssignor),
				rebalanceTimeout: time.Duration(v.rebalanceTimeoutMs) * time.Millisecond,
				assigned:         partitionSet{},
			}
			if len(m.topicNames) == 0 {
				m.topicNames = nil
			}
			if m.regex != "" {
				if re, err := compileTopicRegex(m.regex); err == nil {
					m.re = re
				}
			}
			cg.members[m.id] = m
		}
	}
	for id := range cg.target {
		if cg.members[id] == nil {
			delete(cg.target, id)
		}
	}
	for id, m := range cg.members {
		if cur, ok := current[id]; ok {
			m.epoch, m.prevEpoch = cur.memberEpoch, cur.previousMemberEpoch
			m.state = memberStateFromKafka(cur.state)
			m.assigned = fromTopicPartitions(cur.assigned)
			if len(cur.pendingRevocation) > 0 {
				m.pendingRevocation = fromTopicPartitions(cur.pendingRevocation)
			}
		}
		if m.instanceID != "" {
			cg.static[m.instanceID] = id
		}
		cg.updateOwners(m, nil, nil)
	}
	cg.assignor = cg.preferredAssignor()
}

// startLoadedTimers gives every member a fresh session timer, and members
// still revoking partitions a fresh rebalance timer.
func (cg *consumerGroup) startLoadedTimers() {
	for _, m := range cg.members {
		cg.scheduleSession(m)
		if m.state == memberUnrevoked {
			cg.scheduleRevoke(m)
		}
	}
}

// cgReplay collects the consumer-group records of a partition being
// loaded: group id → key → latest value (tombstones delete).
type cgReplay map[string]map[cgKey]cgValue

func (r cgReplay) apply(rec cgRecord) {
	recs := r[rec.key.group]
	if rec.value == nil {
		delete(recs, rec.key)
		return
	}
	if recs == nil {
		recs = make(map[cgKey]cgValue)
		r[rec.key.group] = recs
	}
	recs[rec.key] = rec.value.(cgValue)
}

// install turns the replayed records into consumer groups of partition p.
// Called during Load, before the partition is served.
func (c *Coordinator) installConsumerGroups(p *partition, r cgReplay) {
	for id, vals := range r {
		if len(vals) == 0 {
			continue
		}
		g := p.groups[id]
		if g == nil {
			g = c.newGroup(p, id)
			p.groups[id] = g
		}
		g.mu.Lock()
		g.stopTimers()
		g.kind = consumerKind
		g.protocolType = "consumer"
		g.protocol, g.leader, g.generation = "", "", 0
		g.cg = newConsumerGroup(g)
		g.cg.restore(vals)
		g.cg.written = make(cgImage, len(vals))
		for k, v := range vals {
			g.cg.written[k] = v.encode()
		}
		g.cg.startLoadedTimers()
		g.cg.updateState()
		g.cg.refreshPending = true
		c.lg.Debug("loaded consumer group", zap.String("group", id), zap.Int32("epoch", g.cg.epoch),
			zap.Int("members", len(g.cg.members)))
		g.mu.Unlock()
	}
}
