package coordinator

// KIP-848 consumer groups (the "consumer" group protocol).
//
// A member talks to the coordinator with ConsumerGroupHeartbeat only. It
// joins with member epoch 0 (v0: the coordinator makes its member id; v1+,
// KIP-1082: the client brings its own), heartbeats with its current epoch
// every group.consumer.heartbeat.interval.ms, and leaves with epoch -1
// (a static member that will come back sends -2 and keeps its partitions
// until its session times out).
//
// Three epochs drive the protocol, as in Kafka's ConsumerGroup:
//
//   - the group epoch is bumped whenever what the assignor sees changes:
//     a member joins or leaves, a member's subscription or server assignor
//     changes, or the subscribed topics' metadata changes (a topic matching
//     a subscription — by name or by regex — appears or disappears, or its
//     partition count changes);
//   - the target assignment epoch is the group epoch the target assignment
//     was computed for. The coordinator computes it at once, under the group
//     lock, so the two are equal after every change;
//   - each member's epoch is the target epoch it has reconciled to.
//
// Reconciliation (Kafka's CurrentAssignmentBuilder) moves a member from its
// current assignment to its target in steps, each on a heartbeat of that
// member: partitions the target no longer holds are first revoked (the
// member stays at its epoch in UNREVOKED_PARTITIONS until a heartbeat's
// owned partitions no longer list them, or it is fenced after its rebalance
// timeout); then it moves to the target epoch and receives the target's
// partitions that no other member still holds (assigned or pending
// revocation). Those still held are withheld (UNRELEASED_PARTITIONS) and
// given on a later heartbeat once released. No partition is ever owned by
// two members.
//
// Every change is written to __consumer_offsets as Kafka's consumer-group
// records before it is answered, and replayed when a coordinator loads the
// partition (consumer_persist.go): after a coordinator move members keep
// their ids, epochs and partitions. Committed offsets are persisted as for
// classic groups. Online migration between the classic
// and the consumer protocol is not supported (as with Kafka's
// group.consumer.migration.policy=disabled): a group id belongs to one
// protocol while it has members; an empty group switches.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Member epochs with a meaning of their own.
const (
	leaveEpoch       int32 = -1
	staticLeaveEpoch int32 = -2
)

// Server-side assignors, in order of preference (group.consumer.assignors).
var consumerAssignors = []string{"uniform", "range"}

// memberState is where a member is in reconciling to its target.
type memberState int8

const (
	memberStable     memberState = iota // at the target epoch with every target partition
	memberUnrevoked                     // must revoke partitions before moving on
	memberUnreleased                    // at the target epoch, waiting for partitions others hold
)

func (s memberState) String() string {
	switch s {
	case memberUnrevoked:
		return "UNREVOKED_PARTITIONS"
	case memberUnreleased:
		return "UNRELEASED_PARTITIONS"
	}
	return "STABLE"
}

// consumerGroup is the KIP-848 state of a group. Guarded by its group's mu.
type consumerGroup struct {
	g *group

	epoch           int32 // group epoch
	assignmentEpoch int32 // target assignment epoch
	assignor        string
	members         map[string]*consumerMember
	static          map[string]string       // instance id → member id
	target          map[string]partitionSet // member id → target assignment
	owners          map[tpKey]string        // partition → member holding it (assigned or pending revocation)
	subscribed      map[string]TopicInfo    // resolved subscribed topics at the last assignment

	// written is the group as the log holds it; dirty lists the members
	// changed since, allDirty says every member may have (a new target
	// assignment, a reload): commit encodes only what may have changed
	// (consumer_persist.go).
	written  cgImage
	dirty    map[string]bool
	allDirty bool
	// refreshPending: loaded from the log, the subscribed topics not yet
	// compared with the cluster's.
	refreshPending bool
}

type consumerMember struct {
	id, instanceID, rackID string
	clientID, clientHost   string

	epoch, prevEpoch int32
	state            memberState
	rebalanceTimeout time.Duration

	topicNames []string // sorted
	regex      string
	re         *regexp.Regexp
	// mayDescribe filters what the regex resolves to (Client.MayDescribe
	// of the member's latest heartbeat; nil allows every topic).
	mayDescribe func(topic string) bool
	assignor    string

	assigned          partitionSet
	pendingRevocation partitionSet

	session    Timer
	sessionSeq uint64
	revoke     Timer
	revokeSeq  uint64
}

func newConsumerGroup(g *group) *consumerGroup {
	return &consumerGroup{
		g:          g,
		assignor:   consumerAssignors[0],
		members:    make(map[string]*consumerMember),
		static:     make(map[string]string),
		target:     make(map[string]partitionSet),
		owners:     make(map[tpKey]string),
		subscribed: map[string]TopicInfo{},
	}
}

func (cg *consumerGroup) stopTimers() {
	for _, m := range cg.members {
		cg.stopMemberTimers(m)
	}
}

func (cg *consumerGroup) stopMemberTimers(m *consumerMember) {
	if m.session != nil {
		m.session.Stop()
		m.session = nil
	}
	m.sessionSeq++
	cg.cancelRevoke(m)
}

// subscribedTopics is every topic name a member subscribes to, by name or
// through a regex that matches an existing topic.
func (cg *consumerGroup) subscribedTopics() map[string]bool {
	out := make(map[string]bool)
	for name := range cg.subscribed {
		out[name] = true
	}
	for _, m := range cg.members {
		for _, t := range m.topicNames {
			out[t] = true
		}
	}
	return out
}

// validateCommit is Kafka's ConsumerGroup.validateOffsetCommit: a commit
// without a member epoch is an admin's, allowed only while the group has
// no members; a member's must carry its current epoch.
func (cg *consumerGroup) validateCommit(memberID string, epoch int32) *kerr.Error {
	if epoch < 0 && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if epoch != m.epoch {
		return kerr.StaleMemberEpoch
	}
	return nil
}

// validateCommitVersion refuses OffsetCommit before v9 from a member of a
// consumer group (it cannot carry a member epoch), as Kafka does.
func (cg *consumerGroup) validateCommitVersion(memberID string, version int16) *kerr.Error {
	if cg.members[memberID] != nil && version < 9 {
		return kerr.UnsupportedVersion
	}
	return nil
}

// validateFetch is Kafka's ConsumerGroup.validateOffsetFetch.
func (cg *consumerGroup) validateFetch(memberID string, epoch int32) *kerr.Error {
	m := cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if epoch != m.epoch {
		return kerr.StaleMemberEpoch
	}
	return nil
}

// heartbeatError is an error answer with Kafka's message.
type heartbeatError struct {
	err *kerr.Error
	msg string
}

func hbErr(err *kerr.Error, format string, args ...any) *heartbeatError {
	return &heartbeatError{err: err, msg: fmt.Sprintf(format, args...)}
}

// validateHeartbeat is Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid
// plus the assignor and regex checks; it compiles the regex.
func validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*regexp.Regexp, *heartbeatError) {
	invalid := func(msg string) (*regexp.Regexp, *heartbeatError) {
		return nil, &heartbeatError{err: kerr.InvalidRequest, msg: msg}
	}
	if req.Group == "" {
		return invalid("GroupId can't be empty.")
	}
	if req.InstanceID != nil && *req.InstanceID == "" {
		return invalid("InstanceId can't be empty.")
	}
	if req.RackID != nil && *req.RackID == "" {
		return invalid("RackId can't be empty.")
	}
	if req.GetVersion() >= 1 && req.MemberID == "" {
		return invalid("MemberId can't be empty.")
	}
	switch e := req.MemberEpoch; {
	case e > 0 || e == leaveEpoch:
		if req.MemberID == "" {
			return invalid("MemberId can't be empty.")
		}
	case e == 0:
		if req.RebalanceTimeoutMillis == -1 {
			return invalid("RebalanceTimeoutMs must be provided in first request.")
		}
		if req.Topics == nil || len(req.Topics) > 0 {
			return invalid("TopicPartitions must be empty when (re-)joining.")
		}
		if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
			return invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
		}
	case e == staticLeaveEpoch:
		if req.MemberID == "" {
			return invalid("MemberId can't be empty.")
		}
		if req.InstanceID == nil {
			return invalid("InstanceId can't be null.")
		}
	default:
		return invalid("MemberEpoch is invalid.")
	}
	if req.ServerAssignor != nil && !slices.Contains(consumerAssignors, *req.ServerAssignor) {
		return nil, hbErr(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: %v.", *req.ServerAssignor, consumerAssignors)
	}
	var re *regexp.Regexp
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		var err error
		if re, err = compileTopicRegex(*req.SubscribedTopicRegex); err != nil {
			return nil, hbErr(kerr.InvalidRegularExpression, "SubscribedTopicRegex `%s` is not a valid regular expression: %v.", *req.SubscribedTopicRegex, err)
		}
	}
	return re, nil
}

// compileTopicRegex compiles a subscription regex. Kafka uses RE2/J and
// matches the whole topic name; Go's regexp is RE2.
func compileTopicRegex(s string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + s + ")$")
}

// ConsumerGroupHeartbeat handles ConsumerGroupHeartbeat (KIP-848).
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, cl Client, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.SetVersion(req.GetVersion())
	resp.HeartbeatIntervalMillis = int32(c.consumerHeartbeatInterval(req.Group) / time.Millisecond)
	fail := func(e *heartbeatError) *kmsg.ConsumerGroupHeartbeatResponse {
		// Kafka answers an error with no heartbeat interval.
		resp.ErrorCode, resp.HeartbeatIntervalMillis = e.err.Code, 0
		if e.msg != "" {
			resp.ErrorMessage = &e.msg
		}
		return resp
	}
	re, herr := validateHeartbeat(req)
	if herr != nil {
		return fail(herr)
	}
	g, err := c.lookup(req.Group, req.MemberEpoch == 0)
	if err != nil {
		return fail(&heartbeatError{err: err.(*kerr.Error)})
	}
	if g == nil {
		// No such group (deleted, or expired while empty): the member
		// rejoins.
		return fail(hbErr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, req.Group))
	}
	defer g.mu.Unlock()
	if g.state == Dead {
		return fail(&heartbeatError{err: kerr.CoordinatorNotAvailable})
	}
	if g.kind == classicKind {
		if g.state != Empty || len(g.members) > 0 || len(g.pending) > 0 {
			return fail(hbErr(kerr.GroupIDNotFound, "Group %s is not a consumer group.", req.Group))
		}
		if req.MemberEpoch != 0 {
			return fail(hbErr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, req.Group))
		}
		if err := g.becomeConsumer(ctx); err != nil {
			return fail(&heartbeatError{err: appendError(err)})
		}
	}
	if g.cg.refreshPending && c.topics != nil {
		g.cg.refreshPending = false
		g.cg.refresh(c.topicsNow())
	}
	herr = g.cg.heartbeat(cl, req, re, resp)
	// Whatever the heartbeat changed is in the log before it is
	// answered; a failed write undoes it (consumer_persist.go).
	if err := g.cg.commit(ctx); err != nil {
		resp.MemberID, resp.MemberEpoch, resp.Assignment = nil, 0, nil
		return fail(&heartbeatError{err: appendError(err)})
	}
	if herr != nil {
		return fail(herr)
	}
	if req.MemberEpoch < 0 {
		resp.HeartbeatIntervalMillis = 0 // a member that left heartbeats no more (Kafka's answer)
	}
	return resp
}

// becomeConsumer turns an empty classic group into a consumer group,
// keeping its offsets and deleting its classic metadata record.
func (g *group) becomeConsumer(ctx context.Context) error {
	if g.persisted {
		if err := g.p.append(ctx, g.c, []Record{{Key: groupKey(g.id)}}); err != nil {
			return err
		}
		g.persisted = false
	}
	g.stopTimers()
	g.kind = consumerKind
	g.protocolType = "consumer"
	g.protocol = ""
	g.leader = ""
	g.generation = 0
	g.cg = newConsumerGroup(g)
	return nil
}

func (cg *consumerGroup) heartbeat(cl Client, req *kmsg.ConsumerGroupHeartbeatRequest, re *regexp.Regexp, resp *kmsg.ConsumerGroupHeartbeatResponse) *heartbeatError {
	cg.touch(req.MemberID)
	switch req.MemberEpoch {
	case 0:
		return cg.join(cl, req, re, resp)
	case leaveEpoch:
		return cg.leave(req, resp)
	case staticLeaveEpoch:
		return cg.staticLeave(req, resp)
	}
	return cg.regular(cl, req, re, resp)
}

func (cg *consumerGroup) join(cl Client, req *kmsg.ConsumerGroupHeartbeatRequest, re *regexp.Regexp, resp *kmsg.ConsumerGroupHeartbeatResponse) *heartbeatError {
	memberID := req.MemberID
	if memberID == "" {
		memberID = newConsumerMemberID()
		cg.touch(memberID)
	}
	instance := deref(req.InstanceID)
	m := cg.members[memberID]
	bump := false
	if instance != "" {
		if cur, ok := cg.static[instance]; ok && cur != memberID {
			old := cg.members[cur]
			if old != nil && old.epoch != staticLeaveEpoch {
				return hbErr(kerr.UnreleasedInstanceID, "Static member %s with instance id %s is not released.", cur, instance)
			}
			if m != nil {
				// The new id is some other member's: refuse rather
				// than merge two members.
				return hbErr(kerr.InvalidRequest, "MemberId %s is already used by another member.", memberID)
			}
			if old != nil {
				m = cg.replaceStatic(old, memberID)
			}
		}
	}
	if m != nil && m.instanceID != instance {
		return hbErr(kerr.InvalidRequest, "Member %s can't change its InstanceId.", memberID)
	}
	if m == nil {
		if max := cg.g.c.cfg.ConsumerMaxGroupSize; max > 0 && len(cg.members) >= max {
			return hbErr(kerr.GroupMaxSizeReached, "The consumer group has reached its maximum capacity of %d members.", max)
		}
		m = &consumerMember{id: memberID, instanceID: instance}
		cg.members[memberID] = m
		bump = true
		cg.g.c.lg.Info("member joins consumer group", zap.String("group", cg.g.id), zap.String("member", memberID), zap.String("instance", instance))
	}
	if instance != "" {
		cg.static[instance] = memberID
	}
	if m.epoch == staticLeaveEpoch { // the same static member coming back
		m.epoch, m.prevEpoch = m.prevEpoch, staticLeaveEpoch
	}
	m.clientID, m.clientHost = cl.ID, cl.Host
	m.mayDescribe = cl.MayDescribe
	if m.updateSubscription(req, re) {
		bump = true
	}
	cg.scheduleSession(m)
	if bump {
		cg.bumpEpoch(cg.g.c.topicsNow())
	}
	cg.reconcile(m, partitionSet{})
	cg.updateState()
	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	resp.Assignment = m.assigned.heartbeatAssignment()
	return nil
}

// replaceStatic hands a static member that left with epoch -2 over to the
// member id that rejoins with its instance id: the newcomer inherits its
// assignment and target, so nothing moves.
func (cg *consumerGroup) replaceStatic(old *consumerMember, newID string) *consumerMember {
	cg.touch(old.id)
	cg.touch(newID)
	cg.stopMemberTimers(old)
	m := &consumerMember{
		id: newID, instanceID: old.instanceID, rackID: old.rackID,
		epoch: old.prevEpoch, prevEpoch: staticLeaveEpoch, state: memberStable,
		rebalanceTimeout: old.rebalanceTimeout,
		topicNames:       old.topicNames, regex: old.regex, re: old.re, mayDescribe: old.mayDescribe, assignor: old.assignor,
		assigned: old.assigned,
	}
	delete(cg.members, old.id)
	cg.members[newID] = m
	if t, ok := cg.target[old.id]; ok {
		cg.target[newID] = t
		delete(cg.target, old.id)
	}
	for k, owner := range cg.owners {
		if owner == old.id {
			cg.owners[k] = newID
		}
	}
	cg.g.c.lg.Info("static member replaced", zap.String("group", cg.g.id), zap.String("instance", old.instanceID),
		zap.String("old", old.id), zap.String("new", newID))
	return m
}

// memberFor finds the member a heartbeat or leave names.
func (cg *consumerGroup) memberFor(memberID string, instanceID *string) (*consumerMember, *heartbeatError) {
	if instanceID != nil {
		cur, ok := cg.static[*instanceID]
		if !ok {
			return nil, hbErr(kerr.UnknownMemberID, "Instance id %s is unknown.", *instanceID)
		}
		if cur != memberID {
			return nil, hbErr(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", memberID, *instanceID, cur)
		}
	}
	m := cg.members[memberID]
	if m == nil {
		return nil, hbErr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, cg.g.id)
	}
	return m, nil
}

func (cg *consumerGroup) regular(cl Client, req *kmsg.ConsumerGroupHeartbeatRequest, re *regexp.Regexp, resp *kmsg.ConsumerGroupHeartbeatResponse) *heartbeatError {
	m, herr := cg.memberFor(req.MemberID, req.InstanceID)
	if herr != nil {
		return herr
	}
	m.mayDescribe = cl.MayDescribe
	var owned partitionSet
	if req.Topics != nil {
		owned = setFromTopics(req.Topics)
	}
	if req.MemberEpoch != m.epoch {
		// The previous epoch is accepted with a subset of the current
		// assignment: the response that bumped it may have been lost.
		if req.MemberEpoch > m.epoch || req.MemberEpoch != m.prevEpoch || owned == nil || !owned.subsetOf(m.assigned) {
			return hbErr(kerr.FencedMemberEpoch, "The consumer group member has a member epoch (%d) different from the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
		}
	}
	cg.scheduleSession(m)
	if m.updateSubscription(req, re) {
		cg.bumpEpoch(cg.g.c.topicsNow())
	}
	before := m.assigned
	cg.reconcile(m, owned)
	cg.updateState()
	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if full || !before.equal(m.assigned) {
		resp.Assignment = m.assigned.heartbeatAssignment()
	}
	return nil
}

func (cg *consumerGroup) leave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *heartbeatError {
	m, herr := cg.memberFor(req.MemberID, req.InstanceID)
	if herr != nil {
		return herr
	}
	cg.g.c.lg.Info("member leaves consumer group", zap.String("group", cg.g.id), zap.String("member", m.id))
	cg.removeMember(m)
	cg.bumpEpoch(cg.g.c.topicsNow())
	cg.updateState()
	resp.MemberID = &req.MemberID
	resp.MemberEpoch = leaveEpoch
	return nil
}

// staticLeave is epoch -2: a static member leaves but will come back; it
// keeps its assignment (nothing is rebalanced) until its session expires
// or a member with its instance id rejoins.
func (cg *consumerGroup) staticLeave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *heartbeatError {
	m, herr := cg.memberFor(req.MemberID, req.InstanceID)
	if herr != nil {
		return herr
	}
	if m.epoch != staticLeaveEpoch {
		cg.cancelRevoke(m)
		oldAssigned, oldPending := m.assigned, m.pendingRevocation
		m.pendingRevocation = nil
		m.state = memberStable
		m.prevEpoch, m.epoch = m.epoch, staticLeaveEpoch
		cg.updateOwners(m, oldAssigned, oldPending)
		cg.scheduleSession(m)
		cg.updateState()
	}
	resp.MemberID = &req.MemberID
	resp.MemberEpoch = staticLeaveEpoch
	return nil
}

// updateSubscription applies the non-null subscription fields of a
// request and reports whether what the assignor sees changed.
func (m *consumerMember) updateSubscription(req *kmsg.ConsumerGroupHeartbeatRequest, re *regexp.Regexp) bool {
	changed := false
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topicNames) {
			m.topicNames, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, m.re, changed = *req.SubscribedTopicRegex, re, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	return changed
}

// subscribes reports whether the member subscribes to a topic name: by
// name (the broker refuses a heartbeat naming a topic the member may not
// describe), or through its regex when it may describe the topic.
func (m *consumerMember) subscribes(name string) bool {
	if _, ok := slices.BinarySearch(m.topicNames, name); ok {
		return true
	}
	return m.re != nil && m.re.MatchString(name) && (m.mayDescribe == nil || m.mayDescribe(name))
}

// removeMember forgets a member and frees its partitions.
func (cg *consumerGroup) removeMember(m *consumerMember) {
	cg.touch(m.id)
	cg.stopMemberTimers(m)
	cg.updateOwners(&consumerMember{id: m.id}, m.assigned, m.pendingRevocation)
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != "" && cg.static[m.instanceID] == m.id {
		delete(cg.static, m.instanceID)
	}
}

// fence removes a member that timed out and rebalances the others.
func (cg *consumerGroup) fence(m *consumerMember, why string) {
	cg.g.c.lg.Info("fencing consumer group member", zap.String("group", cg.g.id), zap.String("member", m.id), zap.String("reason", why))
	cg.removeMember(m)
	cg.bumpEpoch(cg.g.c.topicsNow())
	cg.updateState()
}

// live reports whether a timer callback still concerns this group.
func (cg *consumerGroup) live() bool {
	return cg.g.state != Dead && cg.g.kind == consumerKind && cg.g.cg == cg
}

func (cg *consumerGroup) scheduleSession(m *consumerMember) {
	if m.session != nil {
		m.session.Stop()
	}
	m.sessionSeq++
	seq := m.sessionSeq
	g := cg.g
	m.session = g.c.clock.AfterFunc(g.c.consumerSessionTimeout(g.id), func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if cg.live() && cg.members[m.id] == m && m.sessionSeq == seq {
			cg.fence(m, "session timeout")
			_ = cg.commit(context.Background()) // logged; the member is back on failure
		}
	})
}

func (cg *consumerGroup) scheduleRevoke(m *consumerMember) {
	cg.cancelRevoke(m)
	seq := m.revokeSeq
	d := m.rebalanceTimeout
	if d <= 0 {
		d = cg.g.c.consumerSessionTimeout(cg.g.id)
	}
	g := cg.g
	m.revoke = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if cg.live() && cg.members[m.id] == m && m.revokeSeq == seq && m.state == memberUnrevoked {
			cg.fence(m, "rebalance timeout: partitions not revoked")
			_ = cg.commit(context.Background()) // logged; the member is back on failure
		}
	})
}

func (cg *consumerGroup) cancelRevoke(m *consumerMember) {
	if m.revoke != nil {
		m.revoke.Stop()
		m.revoke = nil
	}
	m.revokeSeq++
}

// topicsNow is the current topic metadata.
func (c *Coordinator) topicsNow() map[string]TopicInfo {
	if c.topics == nil {
		return map[string]TopicInfo{}
	}
	return c.topics.Topics()
}

// resolve is the metadata of every topic some member subscribes to.
func (cg *consumerGroup) resolve(topics map[string]TopicInfo) map[string]TopicInfo {
	out := make(map[string]TopicInfo)
	for name, info := range topics {
		for _, m := range cg.members {
			if m.subscribes(name) {
				out[name] = info
				break
			}
		}
	}
	return out
}

// refresh bumps the group epoch if the subscribed topics' metadata
// changed (a topic matching a subscription appeared or went, or its
// partition count changed).
func (cg *consumerGroup) refresh(topics map[string]TopicInfo) {
	if len(cg.members) == 0 {
		return
	}
	if maps.Equal(cg.resolve(topics), cg.subscribed) {
		return
	}
	cg.bumpEpoch(topics)
	cg.updateState()
}

// bumpEpoch starts a new group epoch and computes its target assignment.
func (cg *consumerGroup) bumpEpoch(topics map[string]TopicInfo) {
	cg.allDirty = true // every member's target may change
	cg.epoch++
	cg.g.c.stats.rebalances[consumerKind].Add(1)
	cg.subscribed = cg.resolve(topics)
	cg.assignor = cg.preferredAssignor()
	spec := assignSpec{partitions: make(map[[16]byte]int32), current: cg.target}
	for name, info := range cg.subscribed {
		_ = name
		spec.partitions[info.ID] = info.Partitions
	}
	ids := slices.Sorted(maps.Keys(cg.members))
	for _, id := range ids {
		m := cg.members[id]
		am := assignMember{id: id, instanceID: m.instanceID}
		for name, info := range cg.subscribed {
			if m.subscribes(name) {
				am.topics = append(am.topics, info.ID)
			}
		}
		slices.SortFunc(am.topics, compareIDs)
		spec.members = append(spec.members, am)
	}
	var target map[string]partitionSet
	if cg.assignor == "range" {
		target = assignRange(spec)
	} else {
		target = assignUniform(spec)
	}
	cg.target = target
	cg.assignmentEpoch = cg.epoch
	cg.g.c.lg.Debug("consumer group epoch", zap.String("group", cg.g.id), zap.Int32("epoch", cg.epoch),
		zap.String("assignor", cg.assignor), zap.Int("members", len(cg.members)), zap.Int("topics", len(cg.subscribed)))
}

// preferredAssignor is the server assignor most members ask for, the
// default when none does.
func (cg *consumerGroup) preferredAssignor() string {
	counts := make(map[string]int)
	for _, m := range cg.members {
		if m.assignor != "" {
			counts[m.assignor]++
		}
	}
	best, n := consumerAssignors[0], 0
	for _, a := range consumerAssignors {
		if counts[a] > n {
			best, n = a, counts[a]
		}
	}
	return best
}

// reconcile moves a member towards its target (Kafka's
// CurrentAssignmentBuilder). owned is what the member's heartbeat says it
// owns; nil when the heartbeat did not say.
func (cg *consumerGroup) reconcile(m *consumerMember, owned partitionSet) {
	switch m.state {
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return
		}
	case memberUnrevoked:
		if owned == nil || owned.intersects(m.pendingRevocation) {
			return
		}
	}
	cg.nextAssignment(m)
}

func (cg *consumerGroup) nextAssignment(m *consumerMember) {
	cg.touch(m.id)
	target := cg.target[m.id]
	keep, revoke, add := partitionSet{}, partitionSet{}, partitionSet{}
	unreleased := false
	for t, ps := range m.assigned {
		for _, p := range ps {
			if target.contains(t, p) {
				keep.add(t, p)
			} else {
				revoke.add(t, p)
			}
		}
	}
	for t, ps := range target {
		for _, p := range ps {
			if m.assigned.contains(t, p) {
				continue
			}
			if owner := cg.owners[tpKey{t, p}]; owner != "" && owner != m.id {
				unreleased = true
				continue
			}
			add.add(t, p)
		}
	}
	oldAssigned, oldPending, oldState := m.assigned, m.pendingRevocation, m.state
	if len(revoke) > 0 {
		// Revoke first; the member keeps its epoch until it has.
		m.state = memberUnrevoked
		m.assigned = keep
		m.pendingRevocation = revoke
	} else {
		for t, ps := range add {
			for _, p := range ps {
				keep.add(t, p)
			}
		}
		m.state = memberStable
		if unreleased {
			m.state = memberUnreleased
		}
		if m.epoch != cg.assignmentEpoch {
			m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
		}
		m.assigned = keep
		m.pendingRevocation = nil
	}
	cg.updateOwners(m, oldAssigned, oldPending)
	switch {
	case m.state == memberUnrevoked && (oldState != memberUnrevoked || !oldPending.equal(m.pendingRevocation)):
		cg.scheduleRevoke(m)
	case m.state != memberUnrevoked:
		cg.cancelRevoke(m)
	}
}

// updateOwners moves the member's entries in the partition owner map from
// its old assigned and pending sets to its current ones.
func (cg *consumerGroup) updateOwners(m *consumerMember, oldAssigned, oldPending partitionSet) {
	for _, s := range []partitionSet{oldAssigned, oldPending} {
		for t, ps := range s {
			for _, p := range ps {
				if cg.owners[tpKey{t, p}] == m.id {
					delete(cg.owners, tpKey{t, p})
				}
			}
		}
	}
	for _, s := range []partitionSet{m.assigned, m.pendingRevocation} {
		for t, ps := range s {
			for _, p := range ps {
				cg.owners[tpKey{t, p}] = m.id
			}
		}
	}
}

// updateState is Kafka's ConsumerGroup.maybeUpdateGroupState.
func (cg *consumerGroup) updateState() {
	s := Stable
	switch {
	case len(cg.members) == 0:
		s = Empty
	case cg.epoch > cg.assignmentEpoch:
		s = Assigning
	default:
		for _, m := range cg.members {
			if m.state != memberStable || m.epoch != cg.assignmentEpoch {
				s = Reconciling
				break
			}
		}
	}
	if cg.g.state != s {
		cg.g.transition(s)
	}
}

// TopicsChanged tells the coordinator the cluster's topics changed;
// consumer groups whose subscribed topics changed (a new topic matching a
// regex or a name, a deleted topic, more partitions) start a new epoch.
// The broker calls it when a metadata snapshot changes the topic list.
func (c *Coordinator) TopicsChanged(topics map[string]TopicInfo) {
	for _, g := range c.allGroups() {
		g.mu.Lock()
		if g.state != Dead && g.kind == consumerKind && g.cg != nil {
			g.cg.refresh(topics)
			_ = g.cg.commit(context.Background()) // logged; rolled back on failure
		}
		g.mu.Unlock()
	}
}

// newConsumerMemberID is a random UUID in Kafka's string form (URL-safe
// base64 without padding), as the coordinator makes them for v0 joins.
func newConsumerMemberID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// consumerSessionTimeout is the group's consumer.session.timeout.ms when
// it sets one, else the broker's group.consumer.session.timeout.ms.
func (c *Coordinator) consumerSessionTimeout(group string) time.Duration {
	if c.groupConfigs != nil {
		if d, _ := c.groupConfigs.ConsumerGroupTimeouts(group); d > 0 {
			return d
		}
	}
	return c.cfg.ConsumerSessionTimeout
}

// consumerHeartbeatInterval is the group's consumer.heartbeat.interval.ms
// when it sets one, else the broker's group.consumer.heartbeat.interval.ms.
func (c *Coordinator) consumerHeartbeatInterval(group string) time.Duration {
	if c.groupConfigs != nil {
		if _, d := c.groupConfigs.ConsumerGroupTimeouts(group); d > 0 {
			return d
		}
	}
	return c.cfg.ConsumerHeartbeatInterval
}
