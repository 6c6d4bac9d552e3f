package network

import (
	"context"
	"sync"

	"github.com/runnel/runnel/protocol"
)

// The request memory pool (queued.max.request.bytes) and the request queue
// bound (queued.max.requests), as Kafka's SocketServer applies them: a
// connection whose next request does not fit stops being read — Kafka
// mutes it — until requests of other connections are done, instead of
// allocating. Its bytes wait in the kernel's socket buffers.
//
// A request is charged, after its header's first bytes are read and before
// the buffer for its body is allocated, its frame size plus the most that
// decoding it may allocate (protocol.DecodeBudget), and keeps the charge
// until its response is written (a Produce request keeps only its frame
// and what its decoded value holds, protocol.DecodedSize, once decoded);
// so the frames and decoded requests held by all connections together stay
// within the pool. A charge larger than
// the whole pool is cut to the pool: such a request waits until nothing
// else is charged and then runs alone, as Kafka's non-strict pool lets
// one oversized request through. A request takes one queue slot from when
// its size is read until its handling starts.

// budget is a counting limit that callers wait on. A nil *budget has no
// limit. Its invariant: used is the sum of the charges taken and not yet
// given back.
type budget struct {
	capacity int64

	mu      sync.Mutex
	used    int64
	waiting int           // callers of take waiting on freed
	freed   chan struct{} // closed and replaced when a charge is given back while some wait
}

func newBudget(capacity int64) *budget {
	if capacity <= 0 {
		return nil
	}
	return &budget{capacity: capacity, freed: make(chan struct{})}
}

// take charges n (cut to the capacity), waiting until it fits or ctx
// ends, and returns the charge to give back.
func (b *budget) take(ctx context.Context, n int64) (int64, error) {
	if b == nil {
		return 0, nil
	}
	n = min(n, b.capacity)
	b.mu.Lock()
	for b.used+n > b.capacity {
		freed := b.freed
		b.waiting++
		b.mu.Unlock()
		var err error
		select {
		case <-freed:
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.mu.Lock()
		b.waiting--
		if err != nil {
			b.mu.Unlock()
			return 0, err
		}
	}
	b.used += n
	b.mu.Unlock()
	return n, nil
}

// give returns a charge take returned.
func (b *budget) give(n int64) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.waiting > 0 { // no allocation per request while nothing waits
		close(b.freed)
		b.freed = make(chan struct{})
	}
	b.mu.Unlock()
}

// reserve takes a queue slot and the memory charge of a frame of size
// bytes for one inbound item.
func (s *Server) reserve(ctx context.Context, item *inbound, size int) error {
	slot, err := s.queue.take(ctx, 1)
	if err != nil {
		return err
	}
	item.slot = slot
	if item.mem, err = s.pool.take(ctx, int64(size)+protocol.DecodeBudget(size)); err != nil {
		s.queue.give(item.slot)
		item.slot = 0
		return err
	}
	return nil
}

// startHandling gives back an item's queue slot: it left the queue.
func (s *Server) startHandling(item *inbound) {
	s.queue.give(item.slot)
	item.slot = 0
}

// done gives back whatever an item still holds: it was handled or
// abandoned.
func (s *Server) done(item *inbound) {
	s.startHandling(item)
	s.pool.give(item.mem)
	item.mem = 0
}

// decoded cuts a decoded Produce request's charge from the worst case
// (protocol.DecodeBudget) to what it holds until answered
// (protocol.DecodedSize): its frame, and little else but record bytes.
func (s *Server) decoded(item *inbound) {
	if s.pool == nil || item.req == nil {
		return
	}
	if n, ok := protocol.DecodedSize(item.req); ok {
		if keep := int64(len(item.frame)) + n; keep < item.mem {
			s.pool.give(item.mem - keep)
			item.mem = keep
		}
	}
}
