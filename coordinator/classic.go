package coordinator

import (
	"bytes"
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client is who sent a request: the client.id of its header and its host.
type Client struct {
	ID   string
	Host string
	// MayDescribe reports whether the client's principal may DESCRIBE a
	// topic; nil allows every topic. Kafka 4's group coordinator resolves
	// a KIP-848 regex subscription only to topics the member may
	// describe, so that a regex cannot reveal another tenant's topics.
	MayDescribe func(topic string) bool
}

// JoinGroup handles a classic JoinGroup. It may wait (bounded by the
// rebalance timeout) until the rebalance it joins completes; ctx ending
// stops the wait, not the membership.
func (c *Coordinator) JoinGroup(ctx context.Context, cl Client, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.SetVersion(req.GetVersion())
	resp.Generation = -1
	resp.MemberID = req.MemberID
	fail := func(err *kerr.Error) *kmsg.JoinGroupResponse {
		resp.ErrorCode = err.Code
		return resp
	}
	// Kafka's order: the group id, then the session timeout.
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout)
	}
	g, err := c.lookup(req.Group, req.MemberID == "")
	if err != nil {
		return fail(err.(*kerr.Error))
	}
	if g == nil {
		return fail(kerr.UnknownMemberID)
	}
	wait, early := g.join(cl, req)
	g.mu.Unlock()
	if early != nil {
		return early
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return fail(kerr.RebalanceInProgress)
	}
}

// join is JoinGroup under the group lock: it either answers at once
// (early) or returns the channel the answer will come on.
func (g *group) join(cl Client, req *kmsg.JoinGroupRequest) (wait chan *kmsg.JoinGroupResponse, early *kmsg.JoinGroupResponse) {
	version := req.GetVersion()
	errResp := func(err *kerr.Error, memberID string) *kmsg.JoinGroupResponse {
		r := kmsg.NewPtrJoinGroupResponse()
		r.SetVersion(version)
		r.ErrorCode = err.Code
		r.Generation = -1
		r.MemberID = memberID
		return r
	}
	if g.kind == consumerKind {
		// A KIP-848 group only accepts a classic member when it is empty
		// (then it becomes a classic group again).
		if g.cg != nil && len(g.cg.members) > 0 {
			return nil, errResp(kerr.InconsistentGroupProtocol, req.MemberID)
		}
		if g.cg != nil && len(g.cg.written) > 0 {
			// Its consumer-group records go, as Kafka deletes them
			// when an empty consumer group turns classic.
			if err := g.p.append(context.Background(), g.c, g.cg.tombstones()); err != nil {
				return nil, errResp(appendError(err), req.MemberID)
			}
			g.cg.written = nil
		}
		g.kind = classicKind
		g.cg = nil
		g.transition(Empty)
	}
	if g.state == Dead {
		return nil, errResp(kerr.CoordinatorNotAvailable, req.MemberID)
	}
	protocols := make([]protocolMeta, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		protocols = append(protocols, protocolMeta{name: p.Name, metadata: clone(p.Metadata)})
	}
	if !g.supportsProtocols(req.ProtocolType, protocols) {
		return nil, errResp(kerr.InconsistentGroupProtocol, req.MemberID)
	}
	instanceID := deref(req.InstanceID)
	rebalanceTimeout := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if version == 0 || rebalanceTimeout <= 0 {
		rebalanceTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	}
	newMember := func(id string) *member {
		return &member{
			id: id, instanceID: instanceID, clientID: cl.ID, clientHost: cl.Host,
			rebalanceTimeout: rebalanceTimeout,
			sessionTimeout:   time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     req.ProtocolType,
			protocols:        protocols,
			isNew:            true,
		}
	}

	if req.MemberID == "" {
		// A new member.
		if g.size() >= g.c.cfg.MaxGroupSize && (instanceID == "" || g.static[instanceID] == "") {
			return nil, errResp(kerr.GroupMaxSizeReached, "")
		}
		id := newMemberID(cl.ID, instanceID)
		if instanceID != "" {
			if old := g.static[instanceID]; old != "" {
				return g.replaceStatic(g.members[old], id, req, protocols, cl)
			}
			m := newMember(id)
			return g.addAndRebalance(m, version), nil
		}
		if version >= 4 {
			// KIP-394: hand out the id and wait for the member to come
			// back with it, so a client that times out does not leave a
			// ghost member behind.
			g.addPending(id, time.Duration(req.SessionTimeoutMillis)*time.Millisecond)
			return nil, errResp(kerr.MemberIDRequired, id)
		}
		return g.addAndRebalance(newMember(id), version), nil
	}

	// A member that has an id.
	if _, ok := g.pending[req.MemberID]; ok {
		g.pending[req.MemberID].Stop()
		delete(g.pending, req.MemberID)
		return g.addAndRebalance(newMember(req.MemberID), version), nil
	}
	if err := g.checkStatic(instanceID, req.MemberID); err != nil {
		return nil, errResp(err, req.MemberID)
	}
	m := g.members[req.MemberID]
	if m == nil {
		return nil, errResp(kerr.UnknownMemberID, req.MemberID)
	}
	switch g.state {
	case PreparingRebalance:
		return g.updateAndRebalance(m, protocols, rebalanceTimeout, req, version), nil
	case CompletingRebalance:
		if sameProtocols(m.protocols, protocols) {
			// The member missed the join response: send it again.
			g.scheduleSession(m)
			return nil, g.joinResponse(m, version)
		}
		return g.updateAndRebalance(m, protocols, rebalanceTimeout, req, version), nil
	case Stable:
		if m.id == g.leader || !sameProtocols(m.protocols, protocols) {
			return g.updateAndRebalance(m, protocols, rebalanceTimeout, req, version), nil
		}
		g.scheduleSession(m)
		return nil, g.joinResponse(m, version)
	}
	return nil, errResp(kerr.UnknownMemberID, req.MemberID)
}

// size counts members and KIP-394 pending members.
func (g *group) size() int { return len(g.members) + len(g.pending) }

// checkStatic is Kafka's static-member fencing: a request naming an
// instance id must carry the member id that instance currently has.
func (g *group) checkStatic(instanceID, memberID string) *kerr.Error {
	if instanceID == "" {
		return nil
	}
	cur, ok := g.static[instanceID]
	if !ok {
		return nil
	}
	if cur != memberID {
		return kerr.FencedInstanceID
	}
	return nil
}

// supportsProtocols reports whether a member with this protocol type and
// these protocols can join: an empty group takes any non-empty set; a
// group with members needs the same type and a protocol every member
// supports.
func (g *group) supportsProtocols(protocolType string, protocols []protocolMeta) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if g.state == Empty || len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.allSupport(p.name) {
			return true
		}
	}
	return false
}

func (g *group) allSupport(name string) bool {
	for _, m := range g.members {
		if m.metadataFor(name) == nil && !hasProtocol(m.protocols, name) {
			return false
		}
	}
	return true
}

func hasProtocol(ps []protocolMeta, name string) bool {
	for _, p := range ps {
		if p.name == name {
			return true
		}
	}
	return false
}

func sameProtocols(a, b []protocolMeta) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || !bytes.Equal(a[i].metadata, b[i].metadata) {
			return false
		}
	}
	return true
}

// selectProtocol picks the protocol every member supports that the most
// members list first among those (Kafka's vote); ties go to the order of
// the leader's (or any member's) preference.
func (g *group) selectProtocol() string {
	var candidates []string
	var ref *member
	if ref = g.members[g.leader]; ref == nil {
		for _, m := range g.members {
			ref = m
			break
		}
	}
	for _, p := range ref.protocols {
		if g.allSupport(p.name) {
			candidates = append(candidates, p.name)
		}
	}
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for _, c := range candidates {
		if votes[c] > bestVotes {
			best, bestVotes = c, votes[c]
		}
	}
	return best
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// addPending records a KIP-394 member id until the member rejoins with it
// or its session timeout passes.
func (g *group) addPending(id string, session time.Duration) {
	g.pending[id] = g.c.clock.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.pending[id]; !ok {
			return
		}
		delete(g.pending, id)
		if g.state == PreparingRebalance {
			g.maybeCompleteJoin()
		}
	})
}

// addAndRebalance adds a member, waiting for the rebalance it starts.
func (g *group) addAndRebalance(m *member, version int16) chan *kmsg.JoinGroupResponse {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	m.joinCh = make(chan *kmsg.JoinGroupResponse, 1)
	m.joinVersion = version
	g.newMemberAdded = true
	wait := m.joinCh
	g.maybePrepareRebalance()
	if g.state == PreparingRebalance {
		g.maybeCompleteJoin()
	}
	return wait
}

// updateAndRebalance records a known member's new join and waits for the
// rebalance.
func (g *group) updateAndRebalance(m *member, protocols []protocolMeta, rebalanceTimeout time.Duration, req *kmsg.JoinGroupRequest, version int16) chan *kmsg.JoinGroupResponse {
	m.protocols = protocols
	m.rebalanceTimeout = rebalanceTimeout
	m.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if m.joinCh != nil {
		// A duplicate join replaces the one waiting.
		g.answerJoinError(m, kerr.RebalanceInProgress)
	}
	m.joinCh = make(chan *kmsg.JoinGroupResponse, 1)
	m.joinVersion = version
	wait := m.joinCh
	g.maybePrepareRebalance()
	if g.state == PreparingRebalance {
		g.maybeCompleteJoin()
	}
	return wait
}

// replaceStatic handles a static member coming back with no member id
// (KIP-345): it takes over its old identity under a new member id; in a
// Stable group with unchanged protocols this causes no rebalance.
func (g *group) replaceStatic(old *member, newID string, req *kmsg.JoinGroupRequest, protocols []protocolMeta, cl Client) (chan *kmsg.JoinGroupResponse, *kmsg.JoinGroupResponse) {
	version := req.GetVersion()
	g.answerJoinError(old, kerr.FencedInstanceID)
	g.answerSyncError(old, kerr.FencedInstanceID)
	if old.session != nil {
		old.session.Stop()
	}
	old.sessionSeq++
	delete(g.members, old.id)
	oldID := old.id
	wasLeader := g.leader == oldID
	m := &member{
		id: newID, instanceID: old.instanceID, clientID: cl.ID, clientHost: cl.Host,
		rebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		sessionTimeout:   time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		protocolType:     req.ProtocolType,
		protocols:        protocols,
		assignment:       old.assignment,
	}
	if m.rebalanceTimeout <= 0 {
		m.rebalanceTimeout = m.sessionTimeout
	}
	g.members[newID] = m
	g.static[m.instanceID] = newID
	if wasLeader {
		g.leader = newID
	}
	switch g.state {
	case Stable:
		// Only a change of the selected protocol rebalances (as in
		// Kafka): new subscription metadata alone does not, a leader
		// learns it from the members it is given (KIP-814).
		if g.selectProtocol() != g.protocol {
			return g.updateAndRebalance(m, protocols, m.rebalanceTimeout, req, version), nil
		}
		// Persist the new member id so that a coordinator move keeps it.
		if err := g.persist(context.Background()); err != nil {
			// Undo: the old member id stays valid.
			delete(g.members, newID)
			old.sessionSeq++
			g.members[oldID] = old
			g.static[old.instanceID] = oldID
			if wasLeader {
				g.leader = oldID
			}
			g.scheduleSession(old)
			r := kmsg.NewPtrJoinGroupResponse()
			r.SetVersion(version)
			r.ErrorCode = appendError(err).Code
			r.Generation = -1
			return nil, r
		}
		g.scheduleSession(m)
		r := g.joinResponse(m, version)
		if m.id == g.leader && version >= 9 {
			r.SkipAssignment = true
		}
		return nil, r
	case CompletingRebalance:
		// Let it rejoin the rebalance: the leader's assignment may still
		// come, but the group has to converge with the new id.
		return g.updateAndRebalance(m, protocols, m.rebalanceTimeout, req, version), nil
	default:
		return g.updateAndRebalance(m, protocols, m.rebalanceTimeout, req, version), nil
	}
}

// joinResponse is the answer for a member that joined the current
// generation; the leader also gets every member's metadata.
func (g *group) joinResponse(m *member, version int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.SetVersion(version)
	r.Generation = g.generation
	r.ProtocolType = strPtr(g.protocolType)
	r.Protocol = strPtr(g.protocol)
	r.LeaderID = g.leader
	r.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = o.id
			rm.InstanceID = strPtr(o.instanceID)
			rm.ProtocolMetadata = o.metadataFor(g.protocol)
			r.Members = append(r.Members, rm)
		}
	}
	return r
}

// maybePrepareRebalance starts a rebalance unless one is being prepared.
func (g *group) maybePrepareRebalance() {
	switch g.state {
	case Empty, Stable, CompletingRebalance:
		g.prepareRebalance()
	}
}

// prepareRebalance moves the group to PreparingRebalance: members waiting
// for their assignment are told to rejoin, and join completion is
// scheduled after the rebalance timeout (or, for an empty group, after
// group.initial.rebalance.delay.ms, extended while members keep coming).
func (g *group) prepareRebalance() {
	if g.state == CompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			g.answerSyncError(m, kerr.RebalanceInProgress)
		}
	}
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	g.rebalanceSeq++
	seq := g.rebalanceSeq
	timeout := g.maxRebalanceTimeout()
	if g.state == Empty {
		delay := g.c.cfg.InitialRebalanceDelay
		g.initialDelay = true
		g.newMemberAdded = false
		g.scheduleInitialDelay(seq, delay, max(timeout-delay, 0))
	} else {
		g.initialDelay = false
		g.rebalance = g.c.clock.AfterFunc(timeout, func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.rebalanceSeq != seq || g.state != PreparingRebalance {
				return
			}
			g.completeJoin()
		})
	}
	g.transition(PreparingRebalance)
}

func (g *group) scheduleInitialDelay(seq uint64, delay, remaining time.Duration) {
	g.rebalance = g.c.clock.AfterFunc(delay, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.rebalanceSeq != seq || g.state != PreparingRebalance {
			return
		}
		if g.newMemberAdded && remaining > 0 {
			g.newMemberAdded = false
			d := min(g.c.cfg.InitialRebalanceDelay, remaining)
			g.scheduleInitialDelay(seq, d, remaining-d)
			return
		}
		g.initialDelay = false
		g.completeJoin()
	})
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// maybeCompleteJoin completes the join phase once every member has
// rejoined and no KIP-394 member is pending (not during the initial
// delay, which always runs its course).
func (g *group) maybeCompleteJoin() {
	if g.state != PreparingRebalance || g.initialDelay {
		return
	}
	if len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends PreparingRebalance: dynamic members that did not
// rejoin are dropped, the generation advances, the protocol is chosen and
// every joined member gets its response (the leader with the members'
// metadata). An empty group becomes Empty.
func (g *group) completeJoin() {
	if g.rebalance != nil {
		g.rebalance.Stop()
		g.rebalance = nil
	}
	g.rebalanceSeq++
	g.initialDelay = false
	for _, m := range g.members {
		if m.joinCh == nil && m.instanceID == "" {
			g.dropMember(m)
		}
	}
	if len(g.members) > 0 && !g.electJoinedLeader() {
		// Only static members that did not rejoin are left: wait another
		// rebalance timeout for them (their sessions will expire).
		seq := g.rebalanceSeq
		g.rebalance = g.c.clock.AfterFunc(g.maxRebalanceTimeout(), func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.rebalanceSeq != seq || g.state != PreparingRebalance {
				return
			}
			g.completeJoin()
		})
		return
	}
	g.generation++
	g.c.stats.rebalances[classicKind].Add(1)
	if len(g.members) == 0 {
		g.protocol = ""
		g.leader = ""
		g.transition(Empty)
		if err := g.persist(context.Background()); err != nil {
			_ = err // logged by persist; the group is still Empty in memory
		}
		return
	}
	g.protocol = g.selectProtocol()
	g.transition(CompletingRebalance)
	for _, m := range g.members {
		m.assignment = nil
		if m.joinCh != nil {
			m.joinCh <- g.joinResponse(m, m.joinVersion)
			m.joinCh = nil
		}
		m.isNew = false
		g.scheduleSession(m)
	}
}

// electJoinedLeader keeps the leader if it rejoined, or picks a member
// that did. It reports false if no member rejoined.
func (g *group) electJoinedLeader() bool {
	if m := g.members[g.leader]; m != nil && m.joinCh != nil {
		return true
	}
	for _, m := range g.members {
		if m.joinCh != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// dropMember removes a member without changing the group's state.
func (g *group) dropMember(m *member) {
	g.answerJoinError(m, kerr.UnknownMemberID)
	g.answerSyncError(m, kerr.UnknownMemberID)
	if m.session != nil {
		m.session.Stop()
	}
	m.sessionSeq++
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		for _, o := range g.members {
			g.leader = o.id
			if o.joinCh != nil {
				break
			}
		}
	}
}

// removeMember drops a member (left or expired) and moves the group on.
func (g *group) removeMember(m *member) {
	g.dropMember(m)
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance()
	case PreparingRebalance:
		g.maybeCompleteJoin()
	}
}

// scheduleSession (re)starts a member's session timer: if it fires and the
// member is not waiting in a JoinGroup or SyncGroup, the member is removed.
func (g *group) scheduleSession(m *member) {
	if m.session != nil {
		m.session.Stop()
	}
	m.sessionSeq++
	seq := m.sessionSeq
	m.session = g.c.clock.AfterFunc(m.sessionTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.members[m.id] != m || m.sessionSeq != seq || g.state == Dead {
			return
		}
		if m.joinCh != nil || m.syncCh != nil {
			g.scheduleSession(m)
			return
		}
		g.removeMember(m)
	})
}

// SyncGroup handles a classic SyncGroup: the leader's request carries the
// assignment, which every member's SyncGroup then returns.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.SetVersion(req.GetVersion())
	fail := func(err *kerr.Error) *kmsg.SyncGroupResponse {
		resp.ErrorCode = err.Code
		return resp
	}
	g, err := c.lookup(req.Group, false)
	if err != nil {
		return fail(err.(*kerr.Error))
	}
	if g == nil {
		return fail(kerr.UnknownMemberID)
	}
	wait, early := g.sync(ctx, req)
	g.mu.Unlock()
	if early != nil {
		early.SetVersion(req.GetVersion())
		return early
	}
	select {
	case r := <-wait:
		r.SetVersion(req.GetVersion())
		return r
	case <-ctx.Done():
		return fail(kerr.RebalanceInProgress)
	}
}

func (g *group) sync(ctx context.Context, req *kmsg.SyncGroupRequest) (chan *kmsg.SyncGroupResponse, *kmsg.SyncGroupResponse) {
	errResp := func(err *kerr.Error) *kmsg.SyncGroupResponse {
		r := kmsg.NewPtrSyncGroupResponse()
		r.ErrorCode = err.Code
		return r
	}
	if g.state == Dead {
		return nil, errResp(kerr.CoordinatorNotAvailable)
	}
	if g.kind == consumerKind {
		return nil, errResp(kerr.UnknownMemberID)
	}
	if err := g.checkStatic(deref(req.InstanceID), req.MemberID); err != nil {
		return nil, errResp(err)
	}
	m := g.members[req.MemberID]
	if m == nil {
		return nil, errResp(kerr.UnknownMemberID)
	}
	if req.Generation != g.generation {
		return nil, errResp(kerr.IllegalGeneration)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		return nil, errResp(kerr.InconsistentGroupProtocol)
	}
	switch g.state {
	case Empty:
		return nil, errResp(kerr.UnknownMemberID)
	case PreparingRebalance:
		return nil, errResp(kerr.RebalanceInProgress)
	case Stable:
		g.scheduleSession(m)
		return nil, g.syncResponse(m)
	}
	// CompletingRebalance.
	g.scheduleSession(m)
	if m.syncCh != nil {
		g.answerSyncError(m, kerr.RebalanceInProgress)
	}
	m.syncCh = make(chan *kmsg.SyncGroupResponse, 1)
	wait := m.syncCh
	if m.id != g.leader {
		return wait, nil
	}
	assigned := make(map[string][]byte, len(req.GroupAssignment))
	for _, a := range req.GroupAssignment {
		assigned[a.MemberID] = clone(a.MemberAssignment)
	}
	for id, o := range g.members {
		o.assignment = assigned[id]
		if o.assignment == nil {
			o.assignment = []byte{}
		}
	}
	generation := g.generation
	err := g.persist(ctx)
	if g.state != CompletingRebalance || g.generation != generation {
		return wait, nil
	}
	if err != nil {
		e := appendError(err)
		for _, o := range g.members {
			o.assignment = nil
			g.answerSyncError(o, e)
		}
		g.prepareRebalance()
		return wait, nil
	}
	g.transition(Stable)
	for _, o := range g.members {
		if o.syncCh != nil {
			o.syncCh <- g.syncResponse(o)
			o.syncCh = nil
		}
	}
	return wait, nil
}

func (g *group) syncResponse(m *member) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.ProtocolType = strPtr(g.protocolType)
	r.Protocol = strPtr(g.protocol)
	r.MemberAssignment = m.assignment
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	return r
}

// Heartbeat handles a classic Heartbeat.
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.SetVersion(req.GetVersion())
	g, err := c.lookup(req.Group, false)
	if err != nil {
		resp.ErrorCode = err.(*kerr.Error).Code
		return resp
	}
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	defer g.mu.Unlock()
	resp.ErrorCode = g.heartbeat(req)
	return resp
}

func (g *group) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.kind == consumerKind {
		return kerr.UnknownMemberID.Code
	}
	if err := g.checkStatic(deref(req.InstanceID), req.MemberID); err != nil {
		return err.Code
	}
	m := g.members[req.MemberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	switch g.state {
	case Empty:
		return kerr.UnknownMemberID.Code
	case PreparingRebalance:
		g.scheduleSession(m)
		return kerr.RebalanceInProgress.Code
	}
	g.scheduleSession(m)
	return 0
}

// LeaveGroup handles a classic LeaveGroup: one member (v0–v2) or a batch
// identified by member id or instance id (v3+).
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.SetVersion(req.GetVersion())
	type leaving struct{ memberID, instanceID string }
	var ls []leaving
	if req.GetVersion() < 3 {
		ls = append(ls, leaving{memberID: req.MemberID})
	} else {
		for _, m := range req.Members {
			ls = append(ls, leaving{memberID: m.MemberID, instanceID: deref(m.InstanceID)})
		}
	}
	g, err := c.lookup(req.Group, false)
	if err != nil {
		resp.ErrorCode = err.(*kerr.Error).Code
		return resp
	}
	codes := make([]int16, len(ls))
	if g == nil || g.kind == consumerKind {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		if g != nil {
			g.mu.Unlock()
		}
	} else {
		if g.state == Dead {
			g.mu.Unlock()
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		for i, l := range ls {
			id := l.memberID
			if l.instanceID != "" {
				if cur, ok := g.static[l.instanceID]; ok && (id == "" || id == cur) {
					id = cur
				} else if ok {
					codes[i] = kerr.FencedInstanceID.Code
					continue
				} else if id == "" {
					codes[i] = kerr.UnknownMemberID.Code
					continue
				}
			}
			if t, ok := g.pending[id]; ok {
				t.Stop()
				delete(g.pending, id)
				if g.state == PreparingRebalance {
					g.maybeCompleteJoin()
				}
				continue
			}
			m := g.members[id]
			if m == nil {
				codes[i] = kerr.UnknownMemberID.Code
				continue
			}
			g.removeMember(m)
		}
		g.mu.Unlock()
	}
	if req.GetVersion() < 3 {
		resp.ErrorCode = codes[0]
		return resp
	}
	for i, l := range ls {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = l.memberID
		rm.InstanceID = strPtr(l.instanceID)
		rm.ErrorCode = codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}
