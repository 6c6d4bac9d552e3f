// Package sharepart holds the in-flight state of share-partitions (KIP-932):
// for one share group and one topic partition, which records are available,
// acquired by a member under a time-limited lock, acknowledged or archived,
// and how often each was delivered. The partition's leader keeps it; the
// broker's ShareFetch and ShareAcknowledge handlers drive it, and a
// snapshot of it (Snapshot, Restore) is what survives a restart or a
// leader move.
//
// The window of in-flight records runs from the share-partition start
// offset (SPSO) to the end offset: records below the start are done
// (acknowledged or archived), records from the end on were never acquired.
// The window is at most MaxInFlight records long (Kafka's
// group.share.partition.max.record.locks), so its memory is bounded: a
// share-partition whose oldest record is held stops acquiring new ones
// until that record moves on.
package sharepart

import (
	"errors"
	"time"
)

// RecordState is a record's delivery state, with Kafka's numbering (the
// values written to the durable state).
type RecordState int8

const (
	Available    RecordState = 0
	Acquired     RecordState = 1
	Acknowledged RecordState = 2
	Archived     RecordState = 4
	// absent marks an offset of the window that holds no deliverable
	// record (a control record, an aborted transaction's record under
	// read_committed, or an offset compaction removed): done, like
	// Archived.
	absent RecordState = -1
)

func (s RecordState) done() bool { return s == Acknowledged || s == Archived || s == absent }

// Acknowledgement types of ShareFetch and ShareAcknowledge.
const (
	AckGap     int8 = 0
	AckAccept  int8 = 1
	AckRelease int8 = 2
	AckReject  int8 = 3
	AckRenew   int8 = 4
)

// ErrInvalidRecordState is an acknowledgement of records the member does
// not hold (INVALID_RECORD_STATE).
var ErrInvalidRecordState = errors.New("sharepart: records not acquired by this member")

// ErrInvalidRequest is a malformed acknowledgement batch (INVALID_REQUEST).
var ErrInvalidRequest = errors.New("sharepart: invalid acknowledgement batch")

// Limits are a share-partition's settings, read at each call so that a
// group config change applies at once.
type Limits struct {
	// DeliveryCountLimit is group.share.delivery.count.limit: a record
	// delivered this often is archived instead of made available again.
	DeliveryCountLimit int16
	// MaxInFlight is group.share.partition.max.record.locks.
	MaxInFlight int64
	// LockDuration is share.record.lock.duration.ms.
	LockDuration time.Duration
}

type inflight struct {
	state      RecordState
	deliveries int16
	member     string
	lockUntil  time.Time
}

// Partition is one share-partition's state. It is not safe for concurrent
// use; Manager serializes access.
type Partition struct {
	start int64
	// recs[i] is offset start+i; len(recs) is end-start.
	recs []inflight
	// dirty: changed since the last Snapshot.
	dirty bool
}

// NewPartition is a share-partition starting at start with nothing in
// flight.
func NewPartition(start int64) *Partition { return &Partition{start: start, dirty: true} }

// StartOffset is the share-partition start offset.
func (p *Partition) StartOffset() int64 { return p.start }

// EndOffset is the first offset never acquired.
func (p *Partition) EndOffset() int64 { return p.start + int64(len(p.recs)) }

// Dirty reports whether the state changed since the last Snapshot.
func (p *Partition) Dirty() bool { return p.dirty }

// expire ends the locks that ran out before now.
func (p *Partition) expire(now time.Time, lim Limits) {
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == Acquired && !now.Before(r.lockUntil) {
			p.release(r, lim)
		}
	}
	p.advance()
}

// release makes an acquired record available again, or archives it once
// it was delivered DeliveryCountLimit times.
func (p *Partition) release(r *inflight, lim Limits) {
	if lim.DeliveryCountLimit > 0 && r.deliveries >= lim.DeliveryCountLimit {
		r.state = Archived
	} else {
		r.state = Available
	}
	r.member, r.lockUntil = "", time.Time{}
	p.dirty = true
}

// advance moves the start past the leading records that are done.
func (p *Partition) advance() {
	n := 0
	for n < len(p.recs) && p.recs[n].state.done() {
		n++
	}
	if n > 0 {
		p.recs = p.recs[n:]
		p.start += int64(n)
		p.dirty = true
	}
	if len(p.recs) == 0 {
		p.recs = nil // let the old array go
	}
}

// MoveStart moves the start to offset when the log's start passed it
// (retention, DeleteRecords) or an admin reset it: records below are
// forgotten, records above are kept.
func (p *Partition) MoveStart(offset int64) {
	switch {
	case offset <= p.start:
		if offset < p.start && len(p.recs) == 0 {
			p.start = offset // reset backwards: nothing in flight to keep
			p.dirty = true
		}
		return
	case offset >= p.EndOffset():
		p.recs = nil
	default:
		p.recs = p.recs[offset-p.start:]
	}
	p.start = offset
	p.dirty = true
}

// FetchOffset is where a read for this share-partition should start: the
// first available record of the window, else the end. ok is false when
// the window is full and none of it is available.
func (p *Partition) FetchOffset(now time.Time, lim Limits) (offset int64, ok bool) {
	p.expire(now, lim)
	for i := range p.recs {
		if p.recs[i].state == Available {
			return p.start + int64(i), true
		}
	}
	if lim.MaxInFlight > 0 && int64(len(p.recs)) >= lim.MaxInFlight {
		return 0, false
	}
	return p.EndOffset(), true
}

// Batch is what Acquire needs to know of one batch read from the log.
type Batch struct {
	First, Last int64
	// Skip: the batch holds no deliverable records (a control batch, or an
	// aborted transaction's under read_committed).
	Skip bool
}

// AcquiredRun is a run of consecutive offsets acquired with one delivery
// count.
type AcquiredRun struct {
	First, Last   int64
	DeliveryCount int16
}

// Acquire gives member up to maxRecords available records from batches
// (read from the log in offset order), locked until now+LockDuration. It
// returns the runs acquired and, for each batch, whether it holds one of
// them (the batches to send).
func (p *Partition) Acquire(member string, batches []Batch, maxRecords int, now time.Time, lim Limits) ([]AcquiredRun, []bool) {
	p.expire(now, lim)
	used := make([]bool, len(batches))
	var out []AcquiredRun
	count := 0
	lockUntil := now.Add(lim.LockDuration)
	for bi, b := range batches {
		for o := max(b.First, p.start); o <= b.Last && count < maxRecords; o++ {
			end := p.EndOffset()
			if o > end {
				// A gap in the log (compaction): the offsets between are
				// not records.
				if lim.MaxInFlight > 0 && o-p.start >= lim.MaxInFlight {
					return out, used
				}
				for ; end < o; end++ {
					p.recs = append(p.recs, inflight{state: absent})
				}
			}
			if o == end {
				if lim.MaxInFlight > 0 && int64(len(p.recs)) >= lim.MaxInFlight {
					return out, used
				}
				st := Available
				if b.Skip {
					st = absent
				}
				p.recs = append(p.recs, inflight{state: st})
				p.dirty = true
			}
			r := &p.recs[o-p.start]
			if r.state != Available {
				continue
			}
			r.state, r.member, r.lockUntil = Acquired, member, lockUntil
			r.deliveries++
			p.dirty = true
			count++
			used[bi] = true
			if n := len(out); n > 0 && out[n-1].Last == o-1 && out[n-1].DeliveryCount == r.deliveries {
				out[n-1].Last = o
			} else {
				out = append(out, AcquiredRun{First: o, Last: o, DeliveryCount: r.deliveries})
			}
		}
		if count >= maxRecords {
			break
		}
	}
	p.advance()
	return out, used
}

// Acknowledge applies one acknowledgement batch of member: types holds
// one type for the whole range or one per offset. Every offset must be
// acquired by member, else nothing changes and the error is
// ErrInvalidRecordState. RENEW extends the member's locks.
func (p *Partition) Acknowledge(member string, first, last int64, types []int8, now time.Time, lim Limits) error {
	if first > last || len(types) == 0 || (len(types) != 1 && int64(len(types)) != last-first+1) {
		return ErrInvalidRequest
	}
	for _, t := range types {
		if t < AckGap || t > AckRenew {
			return ErrInvalidRequest
		}
	}
	p.expire(now, lim)
	typeOf := func(o int64) int8 {
		if len(types) == 1 {
			return types[0]
		}
		return types[o-first]
	}
	for o := first; o <= last; o++ {
		if o < p.start || o >= p.EndOffset() {
			return ErrInvalidRecordState
		}
		r := &p.recs[o-p.start]
		if r.state == absent && typeOf(o) == AckGap {
			continue // a gap the client saw too
		}
		if r.state != Acquired || r.member != member {
			return ErrInvalidRecordState
		}
	}
	for o := first; o <= last; o++ {
		r := &p.recs[o-p.start]
		if r.state == absent {
			continue
		}
		switch typeOf(o) {
		case AckAccept:
			r.state = Acknowledged
		case AckRelease:
			p.release(r, lim)
			continue
		case AckReject, AckGap:
			r.state = Archived
		case AckRenew:
			r.lockUntil = now.Add(lim.LockDuration)
			continue
		}
		r.member, r.lockUntil = "", time.Time{}
		p.dirty = true
	}
	p.advance()
	return nil
}

// ReleaseMember makes every record member holds available again (its
// share session closed or it left the group).
func (p *Partition) ReleaseMember(member string, lim Limits) {
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == Acquired && r.member == member {
			p.release(r, lim)
		}
	}
	p.advance()
}

// NextLockExpiry is the earliest lock end, zero when nothing is acquired.
func (p *Partition) NextLockExpiry() time.Time {
	var t time.Time
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == Acquired && (t.IsZero() || r.lockUntil.Before(t)) {
			t = r.lockUntil
		}
	}
	return t
}

// Counts are a share-partition's records by state, for tests and metrics.
type Counts struct{ Available, Acquired, Acknowledged, Archived int }

// Counts counts the window's records by state.
func (p *Partition) Counts() Counts {
	var c Counts
	for i := range p.recs {
		switch p.recs[i].state {
		case Available:
			c.Available++
		case Acquired:
			c.Acquired++
		case Acknowledged:
			c.Acknowledged++
		case Archived:
			c.Archived++
		}
	}
	return c
}
