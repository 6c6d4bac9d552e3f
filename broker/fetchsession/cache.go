package fetchsession

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// evictAfter is how long a session must be idle before a new session may
// take its slot in a full cache (Kafka's FetchSessionCache eviction time).
const evictAfter = 2 * time.Minute

// The session epochs of the protocol that are not incremental requests.
const (
	finalEpoch   = -1 // sessionless, or close the session
	initialEpoch = 0  // open a session
)

// Key names a partition in a session: by topic id (Fetch v13+; Topic is
// empty) or by topic name (ID is zero).
type Key struct {
	ID        [16]byte
	Topic     string
	Partition int32
}

func (k Key) String() string {
	if k.Topic != "" {
		return fmt.Sprintf("%s-%d", k.Topic, k.Partition)
	}
	return fmt.Sprintf("%x-%d", k.ID, k.Partition)
}

// Partition is one partition of a fetch: the request's parameters for it
// and, inside a session, what the session last answered about it. The
// Partitions of a [Context] are the caller's copies; changing them does
// not change the session.
type Partition struct {
	Key                Key
	FetchOffset        int64
	MaxBytes           int32
	CurrentLeaderEpoch int32
	LastFetchedEpoch   int32
	// LogStartOffset is the fetcher's own log start (followers only).
	LogStartOffset int64

	sentHW, sentLSO, sentLogStart int64 // -1 until answered
	elem                          *list.Element
}

func newPartition(k Key, rp *kmsg.FetchRequestTopicPartition) *Partition {
	p := &Partition{Key: k, sentHW: -1, sentLSO: -1, sentLogStart: -1}
	p.update(rp)
	return p
}

func (p *Partition) update(rp *kmsg.FetchRequestTopicPartition) {
	p.FetchOffset = rp.FetchOffset
	p.MaxBytes = rp.PartitionMaxBytes
	p.CurrentLeaderEpoch = rp.CurrentLeaderEpoch
	p.LastFetchedEpoch = rp.LastFetchedEpoch
	p.LogStartOffset = rp.LogStartOffset
}

// session is one cached session. Its fields below mu are guarded by it; a
// request holds mu only briefly (in Open, then in each Include), not while
// the caller reads or long-polls.
type session struct {
	id       int32
	replica  bool // a follower's session
	topicIDs bool // opened at v13+

	mu        sync.Mutex
	nextEpoch int32
	parts     map[Key]*Partition
	order     *list.List // of *Partition, in the session's order
	lastUsed  time.Time
	lruElem   *list.Element
}

// Cache is the broker-wide fetch session cache.
type Cache struct {
	slots int

	mu       sync.Mutex
	sessions map[int32]*session
	lru      *list.List // of *session, least recently used first
}

// New returns a cache of at most slots sessions
// (max.incremental.fetch.session.cache.slots; 0 or less: none).
func New(slots int32) *Cache {
	return &Cache{
		slots:    int(max(slots, 0)),
		sessions: make(map[int32]*session),
		lru:      list.New(),
	}
}

// Context is what one Fetch request reads: the partitions in order, and
// which of the reads go in the response ([Context.Include]).
type Context struct {
	// ErrorCode, when set, is a session error the response carries at the
	// top level, with no partitions and no session id.
	ErrorCode int16
	// SessionID goes in the response (0: no session).
	SessionID int32
	// Incremental: the response lists only changed partitions.
	Incremental bool
	// Partitions to read, in the order the response lists them.
	Partitions []*Partition

	session *session // nil for sessionless fetches
}

// Open resolves the session protocol of a request (see the package doc)
// and applies the request's partitions to its session. replica is whether
// the request comes from a follower; now is the time of the request, for
// eviction.
func (c *Cache) Open(r *kmsg.FetchRequest, replica bool, now time.Time) *Context {
	topicIDs := r.Version >= 13
	if r.Version < 7 || (r.SessionID == 0 && r.SessionEpoch == finalEpoch) {
		return &Context{Partitions: requestPartitions(r, topicIDs)}
	}
	if r.SessionEpoch == finalEpoch {
		c.remove(r.SessionID)
		return &Context{Partitions: requestPartitions(r, topicIDs)}
	}
	if r.SessionEpoch == initialEpoch {
		if r.SessionID != 0 {
			c.remove(r.SessionID)
		}
		parts := requestPartitions(r, topicIDs)
		s := c.create(parts, replica, topicIDs, now)
		if s == nil {
			return &Context{Partitions: parts}
		}
		return &Context{SessionID: s.id, Partitions: parts, session: s}
	}

	c.mu.Lock()
	s := c.sessions[r.SessionID]
	if s != nil {
		c.lru.MoveToBack(s.lruElem)
	}
	c.mu.Unlock()
	if s == nil {
		return &Context{ErrorCode: kerr.FetchSessionIDNotFound.Code}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.SessionEpoch != s.nextEpoch {
		return &Context{ErrorCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	if s.topicIDs != topicIDs {
		return &Context{ErrorCode: kerr.FetchSessionTopicIDError.Code}
	}
	s.nextEpoch = nextEpoch(s.nextEpoch)
	s.lastUsed = now
	for _, ft := range r.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := key(ft.TopicID, ft.Topic, p, topicIDs)
			if sp := s.parts[k]; sp != nil {
				s.order.Remove(sp.elem)
				delete(s.parts, k)
			}
		}
	}
	for _, rt := range r.Topics {
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			k := key(rt.TopicID, rt.Topic, rp.Partition, topicIDs)
			sp := s.parts[k]
			if sp == nil {
				sp = newPartition(k, rp)
				sp.elem = s.order.PushBack(sp)
				s.parts[k] = sp
				continue
			}
			sp.update(rp)
		}
	}
	parts := make([]*Partition, 0, len(s.parts))
	for e := s.order.Front(); e != nil; e = e.Next() {
		// Copies: the read works on a snapshot of the parameters.
		cp := *e.Value.(*Partition)
		parts = append(parts, &cp)
	}
	return &Context{SessionID: s.id, Incremental: true, Partitions: parts, session: s}
}

// key is a request partition's session key: by topic id from v13, else by
// name.
func key(id [16]byte, topic string, partition int32, topicIDs bool) Key {
	if topicIDs {
		return Key{ID: id, Partition: partition}
	}
	return Key{Topic: topic, Partition: partition}
}

// nextEpoch increments an epoch, wrapping to 1 (0 and -1 are the initial
// and final epochs).
func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// requestPartitions lists a request's partitions in request order.
func requestPartitions(r *kmsg.FetchRequest, topicIDs bool) []*Partition {
	var parts []*Partition
	for _, rt := range r.Topics {
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			parts = append(parts, newPartition(key(rt.TopicID, rt.Topic, rp.Partition, topicIDs), rp))
		}
	}
	return parts
}

// create makes a session of parts, or returns nil when the cache has no
// slot to give.
func (c *Cache) create(parts []*Partition, replica, topicIDs bool, now time.Time) *session {
	if c.slots == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions) >= c.slots && !c.evictLocked(replica, now) {
		return nil
	}
	s := &session{
		replica:   replica,
		topicIDs:  topicIDs,
		nextEpoch: 1,
		parts:     make(map[Key]*Partition, len(parts)),
		order:     list.New(),
		lastUsed:  now,
	}
	for {
		// Random, as Kafka's are, in 1..MaxInt32: 0 means no session.
		s.id = rand.Int32N(1<<31-1) + 1
		if c.sessions[s.id] == nil {
			break
		}
	}
	for _, p := range parts {
		cp := *p
		if old := s.parts[cp.Key]; old != nil { // listed twice: the last wins
			s.order.Remove(old.elem)
		}
		cp.elem = s.order.PushBack(&cp)
		s.parts[cp.Key] = &cp
	}
	c.sessions[s.id] = s
	s.lruElem = c.lru.PushBack(s)
	return s
}

// evictLocked frees a slot for a new session: the least recently used
// session idle for evictAfter, skipping replica sessions unless the
// newcomer is a replica.
func (c *Cache) evictLocked(replica bool, now time.Time) bool {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		s := e.Value.(*session)
		s.mu.Lock()
		idle := now.Sub(s.lastUsed)
		s.mu.Unlock()
		if idle < evictAfter {
			return false // the rest were used more recently still
		}
		if s.replica && !replica {
			continue
		}
		c.lru.Remove(e)
		delete(c.sessions, s.id)
		return true
	}
	return false
}

func (c *Cache) remove(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[id]; s != nil {
		c.lru.Remove(s.lruElem)
		delete(c.sessions, id)
	}
}

// Throttled is the session id a response throttled instead of answered
// (a client quota) carries, as Kafka's getThrottledResponse: a session a
// full fetch just created is dropped (Kafka creates it only with a real
// response) and the answer has none; an incremental one keeps its id.
func (c *Cache) Throttled(ctx *Context) int32 {
	if ctx.session == nil {
		return 0
	}
	if !ctx.Incremental {
		c.remove(ctx.session.id)
		return 0
	}
	return ctx.SessionID
}

// Len is the number of cached sessions.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// NextEpochs is the epoch each cached session expects next, by session
// id: a snapshot for diagnostics and tests (2 or more means the session
// has served an incremental fetch).
func (c *Cache) NextEpochs() map[int32]int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[int32]int32, len(c.sessions))
	for id, s := range c.sessions {
		s.mu.Lock()
		m[id] = s.nextEpoch
		s.mu.Unlock()
	}
	return m
}

// Include decides whether partition i of the context goes in the
// response, given its answer resp and the bytes of records it returns,
// and records in the session what was answered. For full fetches every
// partition goes in; for incremental ones only those with records, an
// error, a diverging epoch or a moved HW / LSO / log start. It must be
// called once per partition of the context, in order, when the response
// is final.
func (fc *Context) Include(i int, resp *kmsg.FetchResponseTopicPartition, recordBytes int64) bool {
	sp := fc.Partitions[i]
	must := !fc.Incremental ||
		recordBytes > 0 ||
		resp.ErrorCode != 0 ||
		resp.DivergingEpoch.Epoch != -1 ||
		resp.HighWatermark != sp.sentHW ||
		resp.LastStableOffset != sp.sentLSO ||
		resp.LogStartOffset != sp.sentLogStart
	if fc.session == nil {
		return must
	}
	fc.session.mu.Lock()
	defer fc.session.mu.Unlock()
	cur := fc.session.parts[sp.Key]
	if cur == nil {
		return must // forgotten meanwhile
	}
	if resp.ErrorCode != 0 {
		// Forget what was sent so that the partition is answered again
		// once the error clears.
		cur.sentHW, cur.sentLSO, cur.sentLogStart = -1, -1, -1
	} else {
		cur.sentHW, cur.sentLSO, cur.sentLogStart = resp.HighWatermark, resp.LastStableOffset, resp.LogStartOffset
	}
	if recordBytes > 0 && fc.Incremental {
		fc.session.order.MoveToBack(cur.elem)
	}
	return must
}
