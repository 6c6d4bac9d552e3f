package replica

import (
	"context"
	"reflect"
	"time"

	"github.com/runnel/runnel/internal/reqtime"
	"github.com/twmb/franz-go/pkg/kerr"
)

// High watermark on the leader
//
// The leader's high watermark is the smallest log end offset among the
// replicas of the ISR: the leader's own LEO and, for every other ISR member,
// the offset it last fetched from (a follower's fetch offset is its LEO).
// It only moves up. It is recomputed after every leader append
// (AppendAsLeader), after a follower fetch (Read with the follower's
// replica id calls recordFollowerFetch) and when the role or the ISR
// changes; each advance wakes the partition's change channel, which is
// what long-polling fetches and acks=all produces wait on (the
// "purgatory", AwaitHW: waiters re-check their condition on each wake).
//
// With a single-member ISR the HW equals the log end right after an append.
// An ISR member whose position is unknown (no fetch since this broker became
// leader) holds the HW where it is, as in Kafka.

// setMinInsync records the topic's min.insync.replicas.
func (p *Partition) setMinInsync(n int32) {
	p.mu.Lock()
	p.minInsync = n
	p.mu.Unlock()
}

// isrState returns the ISR size and min.insync.replicas.
func (p *Partition) isrState() (isr int, minInsync int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.isr), p.minInsync
}

// AdvanceHW recomputes the HW of a partition this broker leads (a
// coordinator does before it loads its log); it reports whether the HW
// moved.
func (p *Partition) AdvanceHW() bool {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.advanceHWLocked()
}

// advanceHWLocked is AdvanceHW with appendMu held (AppendAsLeader holds it
// across the append and this update).
//
// It also wakes the change channel when the log end grew since the last
// call and the partition has followers: their fetches long-poll on it and
// must return as soon as there is data to replicate (Kafka completes
// delayed follower fetches on append), or every acks=all write would wait
// out replica.fetch.wait.max.ms.
func (p *Partition) advanceHWLocked() bool {
	self := p.self
	leo := p.log.LogEndOffset()
	hw := leo
	p.mu.Lock()
	if p.leader != self {
		p.mu.Unlock()
		return false
	}
	grew := leo > p.isrTrack.wokenLEO && len(p.replicas) > 1
	p.isrTrack.wokenLEO = leo
	// The maximal ISR (KIP-497): members being added count as soon as
	// their addition is sent, so that the HW never passes what they hold.
	for _, id := range p.isrTrack.maximal(p.isr) {
		if id == self {
			continue
		}
		leo, ok := p.followerLEO[id]
		if !ok {
			leo = -1
		}
		hw = min(hw, leo)
	}
	p.mu.Unlock()
	if hw <= p.log.HighWatermark() {
		if grew {
			p.wake()
		}
		return false
	}
	p.log.SetHighWatermark(hw)
	p.wake()
	return true
}

// recordFollowerFetch notes that follower id fetched from offset (its log
// end) and advances the HW if that lets it move. Read calls it for a
// follower's fetch; it also feeds the ISR bookkeeping (isr.go): the
// follower's last caught-up time, and a kick to the ISR manager when a
// follower outside the ISR has caught up. Fetches from brokers that hold
// no replica of the partition, or that claim an offset past the log end,
// are not recorded.
func (p *Partition) recordFollowerFetch(id int32, offset int64) {
	self := p.self
	leo := p.log.LogEndOffset()
	p.mu.Lock()
	// A follower cannot have more than the leader: an offset past the
	// log end is refused by the read (OFFSET_OUT_OF_RANGE) and must not
	// count toward the high watermark.
	if id == self || !hosts(p.replicas, id) || offset > leo {
		p.mu.Unlock()
		return
	}
	if p.followerLEO == nil {
		p.followerLEO = make(map[int32]int64)
	}
	p.followerLEO[id] = offset
	wantIn := false
	if p.leader == self {
		p.isrTrack.fetched(id, offset, leo, time.Now())
		wantIn = !hosts(p.isr, id) && offset >= p.log.HighWatermark() && offset >= p.isrTrack.epochStart
	}
	kick := p.kick
	p.mu.Unlock()
	p.AdvanceHW()
	if wantIn && kick != nil {
		kick()
	}
}

// WaitAny blocks until one of chans is closed, the deadline passes or ctx
// ends. It reports false when the deadline passed or ctx ended.
func WaitAny(ctx context.Context, chans []<-chan struct{}, deadline time.Time) bool {
	start := time.Now()
	d := deadline.Sub(start)
	if d <= 0 {
		return false
	}
	// The wait is the request's purgatory time (Kafka's RemoteTimeMs).
	defer func() { reqtime.AddRemote(ctx, time.Since(start)) }()
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

// HWWait is an acks=all append waiting for the HW to pass it: the handle
// AppendAsLeader returns. ErrCode, set by the caller, receives the
// partition's answer.
type HWWait struct {
	P       *Partition
	Need    int64  // HW to reach: last offset + 1
	ErrCode *int16 // the partition's response error code
}

// AwaitHW is the acks=all purgatory: it waits until every partition's HW
// reaches its need, re-checking each time one of their replicas wakes. A
// partition whose leadership moves meanwhile answers NOT_LEADER_OR_FOLLOWER,
// one whose ISR fell below min.insync.replicas by the time its HW got there
// NOT_ENOUGH_REPLICAS_AFTER_APPEND, and the ones still short at the
// deadline REQUEST_TIMED_OUT. The error is ctx's, when it ends first.
func AwaitHW(ctx context.Context, waits []HWWait, deadline time.Time) error {
	for {
		var chans []<-chan struct{}
		pending := waits[:0]
		for _, w := range waits {
			ch := w.P.Changed()
			if !w.P.Leads() {
				*w.ErrCode = kerr.NotLeaderForPartition.Code
				continue
			}
			if w.P.log.HighWatermark() >= w.Need {
				if isr, minISR := w.P.isrState(); int32(isr) < minISR {
					*w.ErrCode = kerr.NotEnoughReplicasAfterAppend.Code
				}
				continue
			}
			pending = append(pending, w)
			chans = append(chans, ch)
		}
		waits = pending
		if len(waits) == 0 {
			return nil
		}
		if !WaitAny(ctx, chans, deadline) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			for _, w := range waits {
				*w.ErrCode = kerr.RequestTimedOut.Code
			}
			return nil
		}
	}
}

// Await waits for w alone (a coordinator's append) until the HW passes it
// or ctx's deadline (30 s without one), and returns the partition's answer
// as an error: REQUEST_TIMED_OUT when ctx ends or the deadline passes.
func (w HWWait) Await(ctx context.Context) error {
	var code int16
	w.ErrCode = &code
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := AwaitHW(ctx, []HWWait{w}, deadline); err != nil {
		return kerr.RequestTimedOut
	}
	if code != 0 {
		return kerr.ErrorForCode(code)
	}
	return nil
}
