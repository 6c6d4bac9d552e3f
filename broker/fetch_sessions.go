package broker

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227)
//
// A fetch session lets a client send only what changed since its last
// fetch. The protocol, by (session id, session epoch) in the request:
//
//	(0, -1)   sessionless full fetch: the request lists every partition, the
//	          response answers every one; no session is made.
//	(0, 0)    full fetch that opens a session: if the cache has a slot, the
//	          session holds the request's partitions and the response carries
//	          its id; else the response's id is 0 and the client stays
//	          sessionless.
//	(id, -1)  closes session id; the request is then a sessionless full fetch.
//	(id, n>0) incremental fetch: n must be the session's next epoch
//	          (INVALID_FETCH_SESSION_EPOCH) and the session must exist
//	          (FETCH_SESSION_ID_NOT_FOUND). The request lists only partitions
//	          that are new or whose fetch position or limits changed, and
//	          under ForgottenTopics the ones to drop. The response lists only
//	          partitions with records, an error, or a changed high watermark,
//	          last stable offset or log start since the session last answered
//	          them.
//
// The session keeps its partitions in order; partitions that returned
// records move to the end, so that a response cut short by its byte limit
// starts with other partitions next time (Kafka does the same). A session
// opened with topic ids (v13+) may not continue with names, nor the reverse
// (FETCH_SESSION_TOPIC_ID_ERROR).
//
// The cache holds max.incremental.fetch.session.cache.slots sessions
// broker-wide. When it is full, a new session evicts the least recently
// used one only if that one has been idle for sessionEvictAfter; replica
// (follower) sessions are only evicted by other replicas.

// sessionEvictAfter is how long a session must be idle before a new
// session may take its slot in a full cache.
const sessionEvictAfter = 2 * time.Minute

// sessionKey names a partition in a session: by topic id (v13+, name empty)
// or by name (id zero).
type sessionKey struct {
	id        [16]byte
	topic     string
	partition int32
}

// sessionPartition is one partition's fetch parameters and what the
// session last answered about it.
type sessionPartition struct {
	key                sessionKey
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32
	lastFetchedEpoch   int32
	logStartOffset     int64

	sentHW, sentLSO, sentLogStart int64 // -1 until answered
	elem                          *list.Element
}

func (p *sessionPartition) update(rp *kmsg.FetchRequestTopicPartition) {
	p.fetchOffset = rp.FetchOffset
	p.maxBytes = rp.PartitionMaxBytes
	p.currentLeaderEpoch = rp.CurrentLeaderEpoch
	p.lastFetchedEpoch = rp.LastFetchedEpoch
	p.logStartOffset = rp.LogStartOffset
}

// fetchSession is one cached session. Its fields are guarded by mu; a
// request holds mu from opening its fetch context to recording its answer
// only briefly (open, then finish), not while reading or long-polling.
type fetchSession struct {
	id       int32
	replica  bool // a follower's session
	topicIDs bool // opened at v13+

	mu        sync.Mutex
	nextEpoch int32
	parts     map[sessionKey]*sessionPartition
	order     *list.List // of *sessionPartition
	lastUsed  time.Time
	lruElem   *list.Element
}

// fetchSessionCache is the broker-wide session cache.
type fetchSessionCache struct {
	slots int

	mu       sync.Mutex
	sessions map[int32]*fetchSession
	lru      *list.List // of *fetchSession, least recently used first
}

func newFetchSessionCache(slots int32) *fetchSessionCache {
	return &fetchSessionCache{
		slots:    int(max(slots, 0)),
		sessions: make(map[int32]*fetchSession),
		lru:      list.New(),
	}
}

// fetchContext is what one Fetch request reads: the partitions in order,
// and how to turn the reads into a response.
type fetchContext struct {
	// errCode, when set, is a session error answered at the top level with
	// no partitions.
	errCode int16
	// sessionID goes in the response (0: no session).
	sessionID int32
	// incremental: the response lists only changed partitions.
	incremental bool
	parts       []*sessionPartition
	session     *fetchSession // nil for sessionless fetches
}

// open builds the fetch context of a request: it resolves the session
// protocol above and applies the request's partitions to the session.
func (c *fetchSessionCache) open(r *kmsg.FetchRequest, replica bool, now time.Time) *fetchContext {
	topicIDs := r.Version >= 13
	const finalEpoch, initialEpoch = -1, 0
	if r.Version < 7 || (r.SessionID == 0 && r.SessionEpoch == finalEpoch) {
		return &fetchContext{parts: requestPartitions(r, topicIDs)}
	}
	if r.SessionEpoch == finalEpoch {
		c.remove(r.SessionID)
		return &fetchContext{parts: requestPartitions(r, topicIDs)}
	}
	if r.SessionEpoch == initialEpoch {
		if r.SessionID != 0 {
			c.remove(r.SessionID)
		}
		parts := requestPartitions(r, topicIDs)
		s := c.create(parts, replica, topicIDs, now)
		if s == nil {
			return &fetchContext{parts: parts}
		}
		return &fetchContext{sessionID: s.id, parts: parts, session: s}
	}

	c.mu.Lock()
	s := c.sessions[r.SessionID]
	if s != nil {
		c.lru.MoveToBack(s.lruElem)
	}
	c.mu.Unlock()
	if s == nil {
		return &fetchContext{errCode: kerr.FetchSessionIDNotFound.Code}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.SessionEpoch != s.nextEpoch {
		return &fetchContext{errCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	if s.topicIDs != topicIDs {
		return &fetchContext{errCode: kerr.FetchSessionTopicIDError.Code}
	}
	s.nextEpoch = nextSessionEpoch(s.nextEpoch)
	s.lastUsed = now
	for _, ft := range r.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := sessionKey{partition: p}
			if topicIDs {
				k.id = ft.TopicID
			} else {
				k.topic = ft.Topic
			}
			if sp := s.parts[k]; sp != nil {
				s.order.Remove(sp.elem)
				delete(s.parts, k)
			}
		}
	}
	for _, rt := range r.Topics {
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			k := sessionKey{partition: rp.Partition}
			if topicIDs {
				k.id = rt.TopicID
			} else {
				k.topic = rt.Topic
			}
			sp := s.parts[k]
			if sp == nil {
				sp = &sessionPartition{key: k, sentHW: -1, sentLSO: -1, sentLogStart: -1}
				sp.elem = s.order.PushBack(sp)
				s.parts[k] = sp
			}
			sp.update(rp)
		}
	}
	parts := make([]*sessionPartition, 0, len(s.parts))
	for e := s.order.Front(); e != nil; e = e.Next() {
		// Copies: the read works on a snapshot of the parameters.
		cp := *e.Value.(*sessionPartition)
		parts = append(parts, &cp)
	}
	return &fetchContext{sessionID: s.id, incremental: true, parts: parts, session: s}
}

// nextSessionEpoch increments an epoch, wrapping to 1 (0 and -1 are the
// initial and final epochs).
func nextSessionEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// requestPartitions lists a request's partitions in request order.
func requestPartitions(r *kmsg.FetchRequest, topicIDs bool) []*sessionPartition {
	var parts []*sessionPartition
	for _, rt := range r.Topics {
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			k := sessionKey{partition: rp.Partition}
			if topicIDs {
				k.id = rt.TopicID
			} else {
				k.topic = rt.Topic
			}
			sp := &sessionPartition{key: k, sentHW: -1, sentLSO: -1, sentLogStart: -1}
			sp.update(rp)
			parts = append(parts, sp)
		}
	}
	return parts
}

// create makes a session of parts, or returns nil when the cache has no
// slot to give.
func (c *fetchSessionCache) create(parts []*sessionPartition, replica, topicIDs bool, now time.Time) *fetchSession {
	if c.slots == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions) >= c.slots && !c.evictLocked(replica, now) {
		return nil
	}
	s := &fetchSession{
		replica:   replica,
		topicIDs:  topicIDs,
		nextEpoch: 1,
		parts:     make(map[sessionKey]*sessionPartition, len(parts)),
		order:     list.New(),
		lastUsed:  now,
	}
	for {
		s.id = rand.Int32N(1<<31-1) + 1
		if c.sessions[s.id] == nil {
			break
		}
	}
	for _, p := range parts {
		cp := *p
		if old := s.parts[cp.key]; old != nil { // listed twice: the last wins
			s.order.Remove(old.elem)
		}
		cp.elem = s.order.PushBack(&cp)
		s.parts[cp.key] = &cp
	}
	c.sessions[s.id] = s
	s.lruElem = c.lru.PushBack(s)
	return s
}

// evictLocked frees a slot for a new session: the least recently used
// session idle for sessionEvictAfter, skipping replica sessions unless the
// newcomer is a replica.
func (c *fetchSessionCache) evictLocked(replica bool, now time.Time) bool {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		s := e.Value.(*fetchSession)
		s.mu.Lock()
		idle := now.Sub(s.lastUsed)
		s.mu.Unlock()
		if idle < sessionEvictAfter {
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

func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[id]; s != nil {
		c.lru.Remove(s.lruElem)
		delete(c.sessions, id)
	}
}

// len is the number of cached sessions.
func (c *fetchSessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// fetchedPartition is the outcome of reading one partition of a context.
type fetchedPartition struct {
	resp    kmsg.FetchResponseTopicPartition
	records int64 // bytes of records
}

// include decides whether a partition goes in the response, and records
// what was answered in the session. For full fetches every partition goes
// in; for incremental ones only those with records, an error, a diverging
// epoch or a moved HW / LSO / log start. It must be called once per
// partition of the context, in order, when the response is final.
func (fc *fetchContext) include(i int, fp *fetchedPartition) bool {
	sp := fc.parts[i]
	must := !fc.incremental ||
		fp.records > 0 ||
		fp.resp.ErrorCode != 0 ||
		fp.resp.DivergingEpoch.Epoch != -1 ||
		fp.resp.HighWatermark != sp.sentHW ||
		fp.resp.LastStableOffset != sp.sentLSO ||
		fp.resp.LogStartOffset != sp.sentLogStart
	if fc.session == nil {
		return must
	}
	fc.session.mu.Lock()
	defer fc.session.mu.Unlock()
	cur := fc.session.parts[sp.key]
	if cur == nil {
		return must // forgotten meanwhile
	}
	if fp.resp.ErrorCode != 0 {
		// Forget what was sent so that the partition is answered again
		// once the error clears.
		cur.sentHW, cur.sentLSO, cur.sentLogStart = -1, -1, -1
	} else {
		cur.sentHW, cur.sentLSO, cur.sentLogStart = fp.resp.HighWatermark, fp.resp.LastStableOffset, fp.resp.LogStartOffset
	}
	if fp.records > 0 && fc.incremental {
		fc.session.order.MoveToBack(cur.elem)
	}
	return must
}

func (k sessionKey) String() string {
	if k.topic != "" {
		return fmt.Sprintf("%s-%d", k.topic, k.partition)
	}
	return fmt.Sprintf("%x-%d", k.id, k.partition)
}
