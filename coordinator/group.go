package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// State is a group's state. Classic groups move through Empty,
// PreparingRebalance, CompletingRebalance and Stable; KIP-848 groups through
// Empty, Assigning, Reconciling and Stable; both end Dead.
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
	Assigning
	Reconciling
)

// String is the state's name as DescribeGroups and ListGroups report it.
func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	case Dead:
		return "Dead"
	case Assigning:
		return "Assigning"
	case Reconciling:
		return "Reconciling"
	}
	return "Unknown"
}

// groupKind tells the classic protocol from KIP-848's.
type groupKind int8

const (
	classicKind groupKind = iota
	consumerKind
)

func (k groupKind) String() string {
	if k == consumerKind {
		return "consumer"
	}
	return "classic"
}

// offsetEntry is one committed offset.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	expireMs    int64 // from v1 values only; -1 or 0 otherwise
}

// group is one consumer group. Every field is guarded by mu.
type group struct {
	mu   sync.Mutex
	id   string
	c    *Coordinator
	p    *partition
	kind groupKind

	state     State
	stateTime time.Time

	// Classic protocol.
	protocolType string
	protocol     string // selected protocol, "" when none
	generation   int32
	leader       string
	members      map[string]*member
	pending      map[string]Timer // KIP-394 member ids awaiting their first real join
	static       map[string]string
	// rebalance is the pending join-completion timer; rebalanceSeq tells a
	// firing callback whether it is still the current one.
	rebalance      Timer
	rebalanceSeq   uint64
	initialDelay   bool
	newMemberAdded bool
	persisted      bool // a group metadata record exists in the log

	// KIP-848 protocol.
	cg *consumerGroup

	offsets map[string]map[int32]offsetEntry
}

// member is one classic group member.
type member struct {
	id         string
	instanceID string // "" when dynamic
	clientID   string
	clientHost string

	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []protocolMeta
	assignment       []byte

	// joinCh is set while the member's JoinGroup waits for the rebalance to
	// complete, syncCh while its SyncGroup waits for the leader.
	joinCh chan *kmsg.JoinGroupResponse
	syncCh chan *kmsg.SyncGroupResponse
	// joinVersion is the version of the waiting JoinGroup.
	joinVersion int16
	isNew       bool

	session    Timer
	sessionSeq uint64
}

type protocolMeta struct {
	name     string
	metadata []byte
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.name == protocol {
			return p.metadata
		}
	}
	return nil
}

func (c *Coordinator) newGroup(p *partition, id string) *group {
	return &group{
		id: id, c: c, p: p,
		state:     Empty,
		stateTime: c.clock.Now(),
		members:   make(map[string]*member),
		pending:   make(map[string]Timer),
		static:    make(map[string]string),
		offsets:   make(map[string]map[int32]offsetEntry),
	}
}

func (g *group) transition(s State) {
	g.state = s
	g.stateTime = g.c.clock.Now()
}

func (g *group) setOffset(topic string, partition int32, o offsetEntry) {
	ps := g.offsets[topic]
	if ps == nil {
		ps = make(map[int32]offsetEntry)
		g.offsets[topic] = ps
	}
	ps[partition] = o
}

func (g *group) deleteOffset(topic string, partition int32) {
	ps := g.offsets[topic]
	delete(ps, partition)
	if len(ps) == 0 {
		delete(g.offsets, topic)
	}
}

func (g *group) hasOffsets() bool { return len(g.offsets) > 0 }

// isEmptyForDelete reports whether the group has no live members.
func (g *group) isEmpty() bool {
	if g.kind == consumerKind {
		return g.cg == nil || len(g.cg.members) == 0
	}
	return g.state == Empty
}

// loadMetadata installs a replayed group metadata record: a group with
// members comes back Stable at its generation, every member on a fresh
// session timer (started when the partition finishes loading, see
// startLoadedTimers).
func (g *group) loadMetadata(v *kmsg.GroupMetadataValue) {
	g.stopTimers()
	g.kind = classicKind
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	g.protocol = deref(v.Protocol)
	g.leader = deref(v.Leader)
	g.members = make(map[string]*member)
	g.static = make(map[string]string)
	g.persisted = true
	for _, vm := range v.Members {
		m := &member{
			id:               vm.MemberID,
			instanceID:       deref(vm.InstanceID),
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []protocolMeta{{name: g.protocol, metadata: clone(vm.Subscription)}},
			assignment:       clone(vm.Assignment),
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.instanceID != "" {
			g.static[m.instanceID] = m.id
		}
	}
	if len(g.members) == 0 {
		g.state = Empty
	} else {
		g.state = Stable
		for _, m := range g.members {
			g.scheduleSession(m)
		}
	}
	g.stateTime = g.c.clock.Now()
	if v.CurrentStateTimestamp > 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
}

// resetClassic forgets a replayed group's classic metadata (its record was
// deleted) and leaves it Empty with its offsets.
func (g *group) resetClassic() {
	g.protocolType, g.protocol, g.leader, g.generation = "", "", "", 0
	g.members = make(map[string]*member)
	g.static = make(map[string]string)
	g.persisted = false
	g.state = Empty
	g.stateTime = g.c.clock.Now()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// newMemberID is instanceID-uuid for a static member, clientID-uuid for
// a dynamic one, as Kafka makes them (clients rely on the prefix: a static
// member recognizes its own id as leader by it).
func newMemberID(clientID, instanceID string) string {
	if instanceID != "" {
		clientID = instanceID
	}
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return clientID + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// stopTimers stops every timer of the group.
func (g *group) stopTimers() {
	if g.rebalance != nil {
		g.rebalance.Stop()
		g.rebalance = nil
	}
	g.rebalanceSeq++
	for _, m := range g.members {
		if m.session != nil {
			m.session.Stop()
		}
		m.sessionSeq++
	}
	for id, t := range g.pending {
		t.Stop()
		delete(g.pending, id)
	}
	if g.cg != nil {
		g.cg.stopTimers()
	}
}

// shutdown marks the group Dead (unloaded or deleted) and answers its
// waiting requests with err.
func (g *group) shutdown(err *kerr.Error) {
	g.stopTimers()
	for _, m := range g.members {
		g.answerJoinError(m, err)
		g.answerSyncError(m, err)
	}
	g.transition(Dead)
}

func (g *group) answerJoinError(m *member, err *kerr.Error) {
	if m.joinCh == nil {
		return
	}
	r := kmsg.NewPtrJoinGroupResponse()
	r.SetVersion(m.joinVersion)
	r.ErrorCode = err.Code
	r.MemberID = m.id
	r.Generation = -1
	m.joinCh <- r
	m.joinCh = nil
}

func (g *group) answerSyncError(m *member, err *kerr.Error) {
	if m.syncCh == nil {
		return
	}
	r := kmsg.NewPtrSyncGroupResponse()
	r.ErrorCode = err.Code
	m.syncCh <- r
	m.syncCh = nil
}

// persist writes the group's metadata record (or a tombstone when the
// group is Dead). Called with g.mu held.
func (g *group) persist(ctx context.Context) error {
	rec := Record{Key: groupKey(g.id)}
	if g.state != Dead {
		rec.Value = g.metadataValue()
	}
	err := g.p.append(ctx, g.c, []Record{rec})
	if err == nil {
		g.persisted = g.state != Dead
	} else {
		g.c.lg.Warn("writing group metadata", zap.String("group", g.id), zap.Error(err))
	}
	return err
}

func (g *group) metadataValue() []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = strPtr(g.protocol)
	v.Leader = strPtr(g.leader)
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, m := range g.members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = strPtr(m.instanceID)
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		vm.Assignment = m.assignment
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// subscribedTopics returns the topics the members of a classic consumer
// group subscribe to, and whether they are known (protocol type "consumer"
// with decodable subscriptions).
func (g *group) subscribedTopics() (map[string]bool, bool) {
	if g.kind == consumerKind {
		return g.cg.subscribedTopics(), true
	}
	if g.protocolType != "consumer" || g.protocol == "" {
		return nil, false
	}
	out := make(map[string]bool)
	for _, m := range g.members {
		var s kmsg.ConsumerMemberMetadata
		if err := s.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range s.Topics {
			out[t] = true
		}
	}
	return out, true
}
