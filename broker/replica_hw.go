package broker

import (
	"context"
	"reflect"
	"time"
)

// High watermark on the leader
//
// The leader's high watermark is the smallest log end offset among the
// replicas of the ISR: the leader's own LEO and, for every other ISR member,
// the offset it last fetched from (a follower's fetch offset is its LEO).
// It only moves up. It is recomputed after every leader append, after a
// follower fetch (recordFollowerFetch — the seam replication fills) and
// when the role or the ISR changes; each advance wakes the replica's
// change channel, which is what long-polling fetches and acks=all produces
// wait on (the "purgatory": waiters re-check their condition on each wake).
//
// With a single-member ISR the HW equals the log end right after an append.
// An ISR member whose position is unknown (no fetch since this broker became
// leader) holds the HW where it is, as in Kafka.

// setMinInsync records the topic's min.insync.replicas.
func (r *replica) setMinInsync(n int32) {
	r.mu.Lock()
	r.minInsync = n
	r.mu.Unlock()
}

// isrState returns the ISR size and min.insync.replicas.
func (r *replica) isrState() (isr int, minInsync int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.isr), r.minInsync
}

// maybeAdvanceHW recomputes the HW of a partition self leads.
func (r *replica) maybeAdvanceHW(self int32) bool {
	r.appendMu.Lock()
	defer r.appendMu.Unlock()
	return r.advanceHWLocked(self)
}

// advanceHWLocked is maybeAdvanceHW with appendMu held (the produce path
// holds it across the append and this update).
//
// It also wakes the change channel when the log end grew since the last
// call and the partition has followers: their fetches long-poll on it and
// must return as soon as there is data to replicate (Kafka completes
// delayed follower fetches on append), or every acks=all write would wait
// out replica.fetch.wait.max.ms.
func (r *replica) advanceHWLocked(self int32) bool {
	leo := r.log.LogEndOffset()
	hw := leo
	r.mu.Lock()
	if r.leader != self {
		r.mu.Unlock()
		return false
	}
	grew := leo > r.isrTrack.wokenLEO && len(r.replicas) > 1
	r.isrTrack.wokenLEO = leo
	// The maximal ISR (KIP-497): members being added count as soon as
	// their addition is sent, so that the HW never passes what they hold.
	for _, id := range r.isrTrack.maximal(r.isr) {
		if id == self {
			continue
		}
		leo, ok := r.followerLEO[id]
		if !ok {
			leo = -1
		}
		hw = min(hw, leo)
	}
	r.mu.Unlock()
	if hw <= r.log.HighWatermark() {
		if grew {
			r.wake()
		}
		return false
	}
	r.log.SetHighWatermark(hw)
	r.wake()
	return true
}

// recordFollowerFetch notes that follower id fetched from offset (its log
// end) and advances the HW if that lets it move. Replication's follower
// fetches call it; it also feeds the ISR bookkeeping (replica_isr.go): the
// follower's last caught-up time, and a kick to the ISR manager when a
// follower outside the ISR has caught up. Fetches from brokers that hold
// no replica of the partition are not recorded.
func (r *replica) recordFollowerFetch(self, id int32, offset int64) {
	leo := r.log.LogEndOffset()
	r.mu.Lock()
	if id == self || !hosts(r.replicas, id) {
		r.mu.Unlock()
		return
	}
	if r.followerLEO == nil {
		r.followerLEO = make(map[int32]int64)
	}
	r.followerLEO[id] = offset
	wantIn := false
	if r.leader == self {
		r.isrTrack.fetched(id, offset, leo, time.Now())
		wantIn = !hosts(r.isr, id) && offset >= r.log.HighWatermark() && offset >= r.isrTrack.epochStart
	}
	kick := r.kick
	r.mu.Unlock()
	r.maybeAdvanceHW(self)
	if wantIn && kick != nil {
		kick()
	}
}

// waitAny blocks until one of chans is closed, the deadline passes or ctx
// ends. It reports false when the deadline passed or ctx ended.
func waitAny(ctx context.Context, chans []<-chan struct{}, deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	switch len(chans) {
	case 0:
		select {
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	case 1:
		select {
		case <-chans[0]:
			return true
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, c := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}
