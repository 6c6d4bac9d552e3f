package storage

import (
	"container/list"
	"os"
	"sync"
	"sync/atomic"
)

// fileRef is a reference-counted open file. A segment holds one reference
// while it is open; every ReadResult region holds one more, so a file stays
// readable until the last reader releases it, even after the segment was
// closed as idle, deleted (unlinked) or replaced.
type fileRef struct {
	f    *os.File
	refs atomic.Int64
}

func newFileRef(f *os.File) *fileRef {
	r := &fileRef{f: f}
	r.refs.Store(1)
	return r
}

func (r *fileRef) acquire() { r.refs.Add(1) }

func (r *fileRef) release() {
	if r.refs.Add(-1) == 0 {
		_ = r.f.Close()
	}
}

// handleCache is the Manager-wide budget of open segments: an LRU of
// segments whose .log file is open and whose indexes are mapped. When more
// than max are open, the least recently used ones are closed; they reopen
// lazily on their next use. Lock order: segment.mu, then handleCache.mu;
// eviction only TryLocks victims, so it cannot deadlock.
type handleCache struct {
	mu   sync.Mutex
	max  int
	lru  list.List // of *segment, most recent at the front
	open atomic.Int64
}

func newHandleCache(max int) *handleCache {
	if max <= 0 {
		max = 4096
	}
	c := &handleCache{max: max}
	c.lru.Init()
	return c
}

// opened records that s (whose mu the caller holds) was opened, and closes
// idle segments past the budget.
func (c *handleCache) opened(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.elem == nil {
		s.elem = c.lru.PushFront(s)
		c.open.Add(1)
	} else {
		c.lru.MoveToFront(s.elem)
	}
	for e := c.lru.Back(); e != nil && c.lru.Len() > c.max; {
		v := e.Value.(*segment)
		prev := e.Prev()
		if v != s && v.mu.TryLock() {
			c.lru.Remove(e)
			v.elem = nil
			c.open.Add(-1)
			v.closeHandlesLocked()
			v.mu.Unlock()
		}
		e = prev
	}
}

func (c *handleCache) touch(s *segment) {
	c.mu.Lock()
	if s.elem != nil && c.lru.Front() != s.elem {
		c.lru.MoveToFront(s.elem)
	}
	c.mu.Unlock()
}

// closed records that s (whose mu the caller holds) closed its handles.
func (c *handleCache) closed(s *segment) {
	c.mu.Lock()
	if s.elem != nil {
		c.lru.Remove(s.elem)
		s.elem = nil
		c.open.Add(-1)
	}
	c.mu.Unlock()
}
