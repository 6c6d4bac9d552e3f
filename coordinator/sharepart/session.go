package sharepart

import (
	"sync"
	"time"
)

// Share sessions (KIP-932), the share groups' fetch sessions: a member
// opens one on a broker with a ShareFetch of epoch 0 listing the
// partitions it wants, then sends only what changes (partitions added,
// partitions forgotten) with the epoch the last response implied. Epoch -1
// closes the session; the member's acquired records on that broker are
// released by the caller.

// Session epochs with a meaning of their own.
const (
	InitialEpoch int32 = 0
	FinalEpoch   int32 = -1
)

// SessionKey names a share session.
type SessionKey struct{ Group, Member string }

// TopicPartition is a partition of a share session.
type TopicPartition struct {
	TopicID   [16]byte
	Partition int32
}

// Session is one member's share session on this broker.
type Session struct {
	Epoch      int32 // the epoch the next request must carry
	Partitions []TopicPartition
	lastUsed   time.Time
	// conn is the connection that opened it: the session ends with it.
	conn uint64
}

// SessionError is why a session request was refused.
type SessionError int8

const (
	SessionOK SessionError = iota
	SessionNotFound
	SessionInvalidEpoch
	SessionLimitReached
)

// Sessions is the share session cache. Safe for concurrent use.
type Sessions struct {
	mu       sync.Mutex
	max      int
	idle     time.Duration
	sessions map[SessionKey]*Session
}

// NewSessions is a cache of at most max sessions (group.share.max.share.sessions);
// a session unused for idle may be evicted to make room.
func NewSessions(max int, idle time.Duration) *Sessions {
	return &Sessions{max: max, idle: idle, sessions: make(map[SessionKey]*Session)}
}

// nextEpoch is the epoch after e, wrapping past the largest to 1.
func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// Fetch applies a ShareFetch's session part: epoch 0 opens (or replaces)
// the session with add; a positive epoch must match and adds add and
// removes forget; -1 closes it. It returns the partitions to serve (none
// for -1) and whether a session was closed.
func (s *Sessions) Fetch(k SessionKey, conn uint64, epoch int32, add, forget []TopicPartition, now time.Time) ([]TopicPartition, bool, SessionError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case epoch == InitialEpoch:
		if _, ok := s.sessions[k]; !ok && len(s.sessions) >= s.max && !s.evictOne(now) {
			return nil, false, SessionLimitReached
		}
		ss := &Session{Epoch: 1, lastUsed: now, conn: conn}
		ss.Partitions = merge(nil, add, nil)
		s.sessions[k] = ss
		return ss.Partitions, false, SessionOK
	case epoch == FinalEpoch:
		if _, ok := s.sessions[k]; !ok {
			return nil, false, SessionNotFound
		}
		delete(s.sessions, k)
		return nil, true, SessionOK
	case epoch < 0:
		return nil, false, SessionInvalidEpoch
	}
	ss, ok := s.sessions[k]
	if !ok {
		return nil, false, SessionNotFound
	}
	if ss.Epoch != epoch {
		return nil, false, SessionInvalidEpoch
	}
	ss.Epoch = nextEpoch(epoch)
	ss.lastUsed = now
	ss.Partitions = merge(ss.Partitions, add, forget)
	return ss.Partitions, false, SessionOK
}

// Acknowledge applies a ShareAcknowledge's session part: a positive epoch
// must match and moves the session on; -1 closes it (closed=true); 0 is
// refused, as a ShareAcknowledge cannot open a session.
func (s *Sessions) Acknowledge(k SessionKey, epoch int32, now time.Time) (closed bool, e SessionError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch == InitialEpoch || epoch < FinalEpoch {
		return false, SessionInvalidEpoch
	}
	ss, ok := s.sessions[k]
	if !ok {
		return false, SessionNotFound
	}
	if epoch == FinalEpoch {
		delete(s.sessions, k)
		return true, SessionOK
	}
	if ss.Epoch != epoch {
		return false, SessionInvalidEpoch
	}
	ss.Epoch = nextEpoch(epoch)
	ss.lastUsed = now
	return false, SessionOK
}

// CloseConn closes k's session if connection conn opened it (a newer
// session of the member, on another connection, stays); it reports
// whether it did.
func (s *Sessions) CloseConn(k SessionKey, conn uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.sessions[k]; ok && ss.conn == conn {
		delete(s.sessions, k)
		return true
	}
	return false
}

// Len is the number of open sessions.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// evictOne drops the least recently used session idle for longer than
// the idle limit.
func (s *Sessions) evictOne(now time.Time) bool {
	var oldest SessionKey
	var at time.Time
	for k, ss := range s.sessions {
		if now.Sub(ss.lastUsed) > s.idle && (at.IsZero() || ss.lastUsed.Before(at)) {
			oldest, at = k, ss.lastUsed
		}
	}
	if at.IsZero() {
		return false
	}
	delete(s.sessions, oldest)
	return true
}

// merge is cur plus add minus forget, without duplicates, in first-seen
// order.
func merge(cur, add, forget []TopicPartition) []TopicPartition {
	gone := make(map[TopicPartition]bool, len(forget))
	for _, tp := range forget {
		gone[tp] = true
	}
	seen := make(map[TopicPartition]bool, len(cur)+len(add))
	out := make([]TopicPartition, 0, len(cur)+len(add))
	for _, list := range [][]TopicPartition{cur, add} {
		for _, tp := range list {
			if gone[tp] || seen[tp] {
				continue
			}
			seen[tp] = true
			out = append(out, tp)
		}
	}
	return out
}
