package coordinator

// Share groups (KIP-932): the membership half. A member talks to the group
// coordinator with ShareGroupHeartbeat only: it joins with member epoch 0
// and a member id of its own (v1), heartbeats with its epoch every
// group.share.heartbeat.interval.ms, and leaves with epoch -1. The
// coordinator assigns partitions itself (the simple assignor, below); a
// partition may be assigned to several members at once, since the records
// of a share-partition are handed out record by record by its leader
// (package sharepart), not owned by a member. So there is no revocation
// step: a member moves to a new assignment at its next heartbeat.
//
// The group epoch is bumped whenever what the assignor sees changes (a
// member joins, leaves or is fenced after group.share.session.timeout.ms
// without a heartbeat, a subscription changes, a subscribed topic appears,
// disappears or grows); the target assignment is recomputed at once, and a
// member at an older epoch receives it with the new epoch on its next
// heartbeat. A heartbeat whose epoch is not the member's is
// FENCED_MEMBER_EPOCH; the member rejoins with epoch 0.
//
// Membership is in memory, as for this coordinator's KIP-848 groups: after
// the coordinator moves, members get UNKNOWN_MEMBER_ID and rejoin. The
// records' delivery state is not the coordinator's: it lives with the
// partitions' leaders and is durable there.
//
// Share groups share the group-id namespace with classic and consumer
// groups: a heartbeat for an id that is a live (or offset-holding) group
// of another type is GROUP_ID_NOT_FOUND, as in Kafka.

import (
	"context"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// ShareAssignor is the one server-side assignor of share groups.
const ShareAssignor = "simple"

// ShareGroupConfigSource gives a share group's own share.session.timeout.ms
// and share.heartbeat.interval.ms (config resource GROUP), zero for one it
// does not set. Options.GroupConfigs may implement it.
type ShareGroupConfigSource interface {
	ShareGroupTimeouts(group string) (session, heartbeat time.Duration)
}

// shareGroups are the share groups of the loaded partitions.
type shareGroups struct {
	mu     sync.Mutex
	groups map[string]*shareGroup
}

// shareGroup is one share group. Every field is guarded by mu.
type shareGroup struct {
	mu sync.Mutex
	id string
	c  *Coordinator
	p  *partition // the __consumer_offsets partition it was created under

	dead    bool
	epoch   int32
	members map[string]*shareMember
	target  map[string]partitionSet
	topics  map[string]TopicInfo // resolved subscribed topics at the last assignment
	// used are every topic ever assigned in this group: the topics whose
	// share-partition state DeleteGroups must delete.
	used      map[string]TopicInfo
	stateTime time.Time
}

type shareMember struct {
	id, rackID, clientID, clientHost string
	epoch                            int32
	topicNames                       []string // sorted
	assigned                         partitionSet

	session    Timer
	sessionSeq uint64
}

// shareGroupFor returns the share group id, locked, creating it when
// create; nil when there is none. Errors are NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS and GROUP_ID_NOT_FOUND (the id is a group
// of another type).
func (c *Coordinator) shareGroupFor(id string, create bool) (*shareGroup, error) {
	if id == "" {
		return nil, kerr.InvalidGroupID
	}
	c.mu.RLock()
	p := c.parts[c.PartitionFor(id)]
	c.mu.RUnlock()
	if p == nil {
		return nil, kerr.NotCoordinator
	}
	p.mu.Lock()
	unloaded, loading := p.unloaded, p.loading
	other := p.groups[id]
	p.mu.Unlock()
	switch {
	case unloaded:
		return nil, kerr.NotCoordinator
	case loading:
		return nil, kerr.CoordinatorLoadInProgress
	}
	c.shares.mu.Lock()
	sg := c.shares.groups[id]
	if sg != nil && sg.p != p {
		// Created under an earlier load of the partition: forget it.
		sg.mu.Lock()
		sg.shutdown()
		sg.mu.Unlock()
		delete(c.shares.groups, id)
		sg = nil
	}
	if sg == nil && create {
		if other != nil {
			other.mu.Lock()
			busy := other.state != Dead && (!other.isEmpty() || other.hasOffsets() || len(other.pending) > 0)
			other.mu.Unlock()
			if busy {
				c.shares.mu.Unlock()
				return nil, kerr.GroupIDNotFound
			}
		}
		sg = &shareGroup{id: id, c: c, p: p, members: map[string]*shareMember{}, target: map[string]partitionSet{}, topics: map[string]TopicInfo{}, stateTime: c.clock.Now()}
		if c.shares.groups == nil {
			c.shares.groups = map[string]*shareGroup{}
		}
		c.shares.groups[id] = sg
	}
	c.shares.mu.Unlock()
	if sg == nil {
		return nil, nil
	}
	sg.mu.Lock()
	return sg, nil
}

// IsShareGroup reports whether id is a share group this coordinator
// serves, for the other protocols' handlers to refuse it.
func (c *Coordinator) IsShareGroup(id string) bool {
	c.shares.mu.Lock()
	defer c.shares.mu.Unlock()
	sg := c.shares.groups[id]
	return sg != nil && !sg.dead
}

func (sg *shareGroup) shutdown() {
	sg.dead = true
	for _, m := range sg.members {
		if m.session != nil {
			m.session.Stop()
		}
	}
}

// ShareGroupHeartbeat handles ShareGroupHeartbeat (key 76).
func (c *Coordinator) ShareGroupHeartbeat(_ context.Context, cl Client, req *kmsg.ShareGroupHeartbeatRequest) *kmsg.ShareGroupHeartbeatResponse {
	resp := kmsg.NewPtrShareGroupHeartbeatResponse()
	resp.SetVersion(req.GetVersion())
	resp.HeartbeatIntervalMillis = int32(c.shareHeartbeatInterval(req.GroupID) / time.Millisecond)
	fail := func(err *kerr.Error, msg string) *kmsg.ShareGroupHeartbeatResponse {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	switch {
	case req.MemberID == "":
		return fail(kerr.InvalidRequest, "MemberId can't be empty.")
	case req.MemberEpoch < leaveEpoch:
		return fail(kerr.InvalidRequest, "MemberEpoch is invalid.")
	case req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0:
		return fail(kerr.InvalidRequest, "SubscribedTopicNames must be set in first request.")
	case req.RackID != nil && *req.RackID == "":
		return fail(kerr.InvalidRequest, "RackId can't be empty.")
	}
	sg, err := c.shareGroupFor(req.GroupID, req.MemberEpoch == 0)
	if err != nil {
		msg := ""
		if err == kerr.GroupIDNotFound {
			msg = "Group " + req.GroupID + " is not a share group."
		}
		return fail(err.(*kerr.Error), msg)
	}
	if sg == nil {
		if req.MemberEpoch == leaveEpoch {
			resp.MemberID, resp.MemberEpoch = &req.MemberID, leaveEpoch
			return resp
		}
		return fail(kerr.UnknownMemberID, "Member "+req.MemberID+" is not a member of group "+req.GroupID+".")
	}
	defer sg.mu.Unlock()
	if sg.dead {
		return fail(kerr.CoordinatorNotAvailable, "")
	}
	topics := c.topicsNow()
	m := sg.members[req.MemberID]
	switch {
	case req.MemberEpoch == leaveEpoch:
		if m != nil {
			sg.removeMember(m)
			sg.bump(topics)
		}
		resp.MemberID, resp.MemberEpoch = &req.MemberID, leaveEpoch
		return resp
	case req.MemberEpoch == 0:
		if m == nil {
			if max := c.cfg.ShareMaxGroupSize; max > 0 && len(sg.members) >= max {
				return fail(kerr.GroupMaxSizeReached, "The share group has reached its maximum capacity of "+itoa(max)+" members.")
			}
			m = &shareMember{id: req.MemberID}
			sg.members[m.id] = m
			if len(sg.members) == 1 {
				sg.stateTime = c.clock.Now()
			}
		}
		m.epoch = 0
	case m == nil:
		return fail(kerr.UnknownMemberID, "Member "+req.MemberID+" is not a member of group "+req.GroupID+".")
	case req.MemberEpoch != m.epoch:
		return fail(kerr.FencedMemberEpoch, "The share group member has a different epoch than the one the coordinator knows.")
	}
	m.clientID, m.clientHost = cl.ID, cl.Host
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	changed := req.MemberEpoch == 0
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		sort.Strings(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topicNames) {
			m.topicNames = names
			changed = true
		}
	}
	if changed || !maps.Equal(sg.resolve(topics), sg.topics) {
		sg.bump(topics)
	}
	sg.scheduleSession(m)
	resp.MemberID = &m.id
	if m.epoch != sg.epoch || req.MemberEpoch == 0 {
		m.epoch = sg.epoch
		m.assigned = sg.target[m.id]
		a := kmsg.NewShareGroupHeartbeatResponseAssignment()
		a.TopicPartitions = []kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition{}
		for _, id := range slices.SortedFunc(maps.Keys(m.assigned), compareIDs) {
			t := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
			t.TopicID = id
			t.Partitions = slices.Clone(m.assigned[id])
			a.TopicPartitions = append(a.TopicPartitions, t)
		}
		resp.Assignment = &a
	}
	resp.MemberEpoch = m.epoch
	return resp
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func (sg *shareGroup) removeMember(m *shareMember) {
	if m.session != nil {
		m.session.Stop()
	}
	m.sessionSeq++
	delete(sg.members, m.id)
	delete(sg.target, m.id)
	if len(sg.members) == 0 {
		sg.stateTime = sg.c.clock.Now()
	}
}

func (sg *shareGroup) scheduleSession(m *shareMember) {
	if m.session != nil {
		m.session.Stop()
	}
	m.sessionSeq++
	seq := m.sessionSeq
	m.session = sg.c.clock.AfterFunc(sg.c.shareSessionTimeout(sg.id), func() {
		sg.mu.Lock()
		defer sg.mu.Unlock()
		if sg.dead || sg.members[m.id] != m || m.sessionSeq != seq {
			return
		}
		sg.c.lg.Info("fencing share group member", zap.String("group", sg.id), zap.String("member", m.id), zap.String("reason", "session timeout"))
		sg.removeMember(m)
		sg.bump(sg.c.topicsNow())
	})
}

// resolve is the metadata of every existing topic a member subscribes to.
func (sg *shareGroup) resolve(topics map[string]TopicInfo) map[string]TopicInfo {
	out := map[string]TopicInfo{}
	for _, m := range sg.members {
		for _, t := range m.topicNames {
			if info, ok := topics[t]; ok {
				out[t] = info
			}
		}
	}
	return out
}

// bump starts a new group epoch with a new target assignment.
func (sg *shareGroup) bump(topics map[string]TopicInfo) {
	sg.epoch++
	sg.topics = sg.resolve(topics)
	for name, info := range sg.topics {
		if sg.used == nil {
			sg.used = map[string]TopicInfo{}
		}
		sg.used[name] = info
	}
	sg.target = assignSimple(sg.members, sg.topics)
}

// assignSimple is the simple assignor: each subscribed topic's partitions
// are spread over its subscribers, sorted by member id. With no more
// subscribers than partitions, partition p goes to subscriber p mod n;
// with more, subscriber i gets partition i mod P, so every member has a
// partition and a partition may have several members.
func assignSimple(members map[string]*shareMember, topics map[string]TopicInfo) map[string]partitionSet {
	out := make(map[string]partitionSet, len(members))
	ids := slices.Sorted(maps.Keys(members))
	for _, id := range ids {
		out[id] = partitionSet{}
	}
	for name, info := range topics {
		var subs []string
		for _, id := range ids {
			if _, ok := slices.BinarySearch(members[id].topicNames, name); ok {
				subs = append(subs, id)
			}
		}
		if len(subs) == 0 || info.Partitions <= 0 {
			continue
		}
		if int32(len(subs)) <= info.Partitions {
			for p := int32(0); p < info.Partitions; p++ {
				out[subs[int(p)%len(subs)]].add(info.ID, p)
			}
			continue
		}
		for i, id := range subs {
			out[id].add(info.ID, int32(i)%info.Partitions)
		}
	}
	return out
}

// ShareGroupDescribe handles ShareGroupDescribe (key 77).
func (c *Coordinator) ShareGroupDescribe(_ context.Context, req *kmsg.ShareGroupDescribeRequest) *kmsg.ShareGroupDescribeResponse {
	resp := kmsg.NewPtrShareGroupDescribeResponse()
	resp.SetVersion(req.GetVersion())
	names := map[[16]byte]string{}
	for name, info := range c.topicsNow() {
		names[info.ID] = name
	}
	for _, id := range req.GroupIDs {
		rg := kmsg.NewShareGroupDescribeResponseGroup()
		rg.GroupID = id
		rg.AuthorizedOperations = -2147483648
		sg, err := c.shareGroupFor(id, false)
		switch {
		case err != nil:
			rg.ErrorCode = err.(*kerr.Error).Code
		case sg == nil || sg.dead:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			if c.isOtherGroup(id) {
				msg = "Group " + id + " is not a share group."
			}
			rg.ErrorMessage = &msg
		default:
			rg.GroupState = sg.state()
			rg.GroupEpoch, rg.AssignmentEpoch = sg.epoch, sg.epoch
			rg.Assignor = ShareAssignor
			for _, mid := range slices.Sorted(maps.Keys(sg.members)) {
				m := sg.members[mid]
				rm := kmsg.NewShareGroupDescribeResponseGroupMember()
				rm.MemberID, rm.MemberEpoch = m.id, m.epoch
				rm.RackID = strPtr(m.rackID)
				rm.ClientID, rm.ClientHost = m.clientID, m.clientHost
				rm.SubscribedTopicNames = append([]string{}, m.topicNames...)
				for _, tid := range slices.SortedFunc(maps.Keys(m.assigned), compareIDs) {
					t := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
					t.TopicID, t.Topic = tid, names[tid]
					t.Partitions = slices.Clone(m.assigned[tid])
					rm.Assignment.TopicPartitions = append(rm.Assignment.TopicPartitions, t)
				}
				rg.Members = append(rg.Members, rm)
			}
		}
		if sg != nil {
			sg.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// isOtherGroup reports whether id is a live classic or consumer group.
func (c *Coordinator) isOtherGroup(id string) bool {
	g, err := c.lookup(id, false)
	if err != nil || g == nil {
		return false
	}
	defer g.mu.Unlock()
	return g.state != Dead && (!g.isEmpty() || g.hasOffsets())
}

func (sg *shareGroup) state() string {
	if len(sg.members) == 0 {
		return Empty.String()
	}
	return Stable.String()
}

// ShareGroupInfo is a share group as ListGroups and the admin handlers see
// it.
type ShareGroupInfo struct {
	ID, State string
	Members   int
}

// ShareGroups lists the share groups of the loaded partitions.
func (c *Coordinator) ShareGroups() []ShareGroupInfo {
	c.shares.mu.Lock()
	list := slices.Collect(maps.Values(c.shares.groups))
	c.shares.mu.Unlock()
	var out []ShareGroupInfo
	for _, sg := range list {
		sg.p.mu.Lock()
		gone := sg.p.unloaded
		sg.p.mu.Unlock()
		sg.mu.Lock()
		if !sg.dead && !gone {
			out = append(out, ShareGroupInfo{ID: sg.id, State: sg.state(), Members: len(sg.members)})
		}
		sg.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// DeleteShareGroup deletes an empty share group: NON_EMPTY_GROUP while it
// has members, GROUP_ID_NOT_FOUND when it is not a share group. The caller
// deletes the share-partitions' state. ok is false when id is not a share
// group, so DeleteGroups handles it as another type.
func (c *Coordinator) DeleteShareGroup(id string) (code int16, ok bool) {
	sg, err := c.shareGroupFor(id, false)
	if err != nil {
		return err.(*kerr.Error).Code, true
	}
	if sg == nil {
		return 0, false
	}
	defer sg.mu.Unlock()
	if sg.dead {
		return 0, false
	}
	if len(sg.members) > 0 {
		return kerr.NonEmptyGroup.Code, true
	}
	sg.shutdown()
	c.shares.mu.Lock()
	if c.shares.groups[id] == sg {
		delete(c.shares.groups, id)
	}
	c.shares.mu.Unlock()
	return 0, true
}

// ShareGroupStatus is what the admin handlers need of a share group.
type ShareGroupStatus struct {
	Exists, HasMembers bool
	// OtherType: the id is a live classic or consumer group.
	OtherType bool
	// Topics are the topics ever assigned in the group.
	Topics map[string]TopicInfo
}

// ShareGroupStatus looks id up for the share-group admin APIs; errors are
// NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) ShareGroupStatus(id string) (ShareGroupStatus, error) {
	sg, err := c.shareGroupFor(id, false)
	if err != nil {
		return ShareGroupStatus{}, err
	}
	if sg == nil || sg.dead {
		if sg != nil {
			sg.mu.Unlock()
		}
		return ShareGroupStatus{OtherType: c.isOtherGroup(id)}, nil
	}
	defer sg.mu.Unlock()
	return ShareGroupStatus{Exists: true, HasMembers: len(sg.members) > 0, Topics: maps.Clone(sg.used)}, nil
}

// shareSessionTimeout is the group's share.session.timeout.ms when it sets
// one, else group.share.session.timeout.ms.
func (c *Coordinator) shareSessionTimeout(group string) time.Duration {
	if s, ok := c.groupConfigs.(ShareGroupConfigSource); ok {
		if d, _ := s.ShareGroupTimeouts(group); d > 0 {
			return d
		}
	}
	return c.cfg.ShareSessionTimeout
}

// shareHeartbeatInterval is the group's share.heartbeat.interval.ms when
// it sets one, else group.share.heartbeat.interval.ms.
func (c *Coordinator) shareHeartbeatInterval(group string) time.Duration {
	if s, ok := c.groupConfigs.(ShareGroupConfigSource); ok {
		if _, d := s.ShareGroupTimeouts(group); d > 0 {
			return d
		}
	}
	return c.cfg.ShareHeartbeatInterval
}

// closeShareGroups stops every share group's timers (Close).
func (c *Coordinator) closeShareGroups() {
	c.shares.mu.Lock()
	list := c.shares.groups
	c.shares.groups = nil
	c.shares.mu.Unlock()
	for _, sg := range list {
		sg.mu.Lock()
		sg.shutdown()
		sg.mu.Unlock()
	}
}
