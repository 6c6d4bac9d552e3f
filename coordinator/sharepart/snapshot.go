package sharepart

import (
	"encoding/binary"
	"errors"
)

// A snapshot is the durable part of a share-partition, in the spirit of
// Kafka's ShareSnapshotValue: the start offset and runs of records past it
// with their state and delivery count. Locks are not durable (as in
// Kafka): an acquired record is written as available with its delivery
// count, so after a restart or a leader move it is delivered again at once
// rather than after its lock would have expired, and never beyond the
// delivery-count limit.
//
// Encoding (big-endian): version int16 (0), start int64, run count int32,
// then per run first int64, last int64, state int8, deliveries int16.

const snapshotVersion int16 = 0

const runSize = 8 + 8 + 1 + 2

// ErrCorruptSnapshot is a snapshot that does not decode.
var ErrCorruptSnapshot = errors.New("sharepart: corrupt snapshot")

// StateBatch is a run of records past the start offset with one state
// and delivery count (Kafka's PersisterStateBatch).
type StateBatch struct {
	First, Last   int64
	State         RecordState
	DeliveryCount int16
}

// Snapshot encodes the partition's durable state and clears Dirty.
func (p *Partition) Snapshot() []byte {
	start, batches := p.State()
	p.dirty = false
	return EncodeSnapshot(start, batches)
}

// State is the partition's durable state: its start offset and its
// window as state batches.
func (p *Partition) State() (int64, []StateBatch) {
	var runs []StateBatch
	for i := range p.recs {
		r := p.recs[i]
		st := r.state
		if st == Acquired {
			st = Available
		}
		if st == absent {
			st = Archived
		}
		o := p.start + int64(i)
		if n := len(runs); n > 0 && runs[n-1].Last == o-1 && runs[n-1].State == st && runs[n-1].DeliveryCount == r.deliveries {
			runs[n-1].Last = o
			continue
		}
		runs = append(runs, StateBatch{First: o, Last: o, State: st, DeliveryCount: r.deliveries})
	}
	return p.start, runs
}

// EncodeSnapshot encodes a durable state.
func EncodeSnapshot(start int64, batches []StateBatch) []byte {
	b := make([]byte, 2+8+4, 2+8+4+len(batches)*runSize)
	binary.BigEndian.PutUint16(b, uint16(snapshotVersion))
	binary.BigEndian.PutUint64(b[2:], uint64(start))
	binary.BigEndian.PutUint32(b[10:], uint32(len(batches)))
	for _, r := range batches {
		b = binary.BigEndian.AppendUint64(b, uint64(r.First))
		b = binary.BigEndian.AppendUint64(b, uint64(r.Last))
		b = append(b, byte(r.State))
		b = binary.BigEndian.AppendUint16(b, uint16(r.DeliveryCount))
	}
	return b
}

// DecodeSnapshot decodes what EncodeSnapshot encoded.
func DecodeSnapshot(b []byte) (int64, []StateBatch, error) {
	if len(b) < 14 || int16(binary.BigEndian.Uint16(b)) != snapshotVersion {
		return 0, nil, ErrCorruptSnapshot
	}
	start := int64(binary.BigEndian.Uint64(b[2:]))
	n := int64(binary.BigEndian.Uint32(b[10:]))
	b = b[14:]
	if int64(len(b)) != n*runSize || start < UninitializedStart {
		return 0, nil, ErrCorruptSnapshot
	}
	out := make([]StateBatch, 0, n)
	for ; len(b) > 0; b = b[runSize:] {
		out = append(out, StateBatch{
			First:         int64(binary.BigEndian.Uint64(b)),
			Last:          int64(binary.BigEndian.Uint64(b[8:])),
			State:         RecordState(b[16]),
			DeliveryCount: int16(binary.BigEndian.Uint16(b[17:])),
		})
	}
	return start, out, nil
}

// Restore decodes a snapshot. maxInFlight bounds the window it may
// describe, so a corrupt or hostile record cannot make it allocate
// without bound.
func Restore(b []byte, maxInFlight int64) (*Partition, error) {
	start, batches, err := DecodeSnapshot(b)
	if err != nil {
		return nil, err
	}
	return FromState(start, batches, maxInFlight)
}

// FromState rebuilds a partition from its durable state; batches must be
// in offset order, not overlapping, past start, within twice maxInFlight
// of it.
func FromState(start int64, batches []StateBatch, maxInFlight int64) (*Partition, error) {
	if start == UninitializedStart {
		return &Partition{start: start}, nil
	}
	if start < 0 {
		return nil, ErrCorruptSnapshot
	}
	p := &Partition{start: start}
	for _, r := range batches {
		if r.Last < p.start {
			continue // below the start: done
		}
		r.First = max(r.First, p.start)
		end := p.EndOffset()
		if r.First < end || r.Last < r.First || r.Last-p.start >= max(maxInFlight, 1)*2 {
			return nil, ErrCorruptSnapshot
		}
		switch r.State {
		case Available, Acknowledged, Archived:
		case Acquired:
			r.State = Available // locks are not durable
		default:
			return nil, ErrCorruptSnapshot
		}
		for ; end < r.First; end++ {
			p.recs = append(p.recs, inflight{state: absent})
		}
		for o := r.First; o <= r.Last; o++ {
			p.recs = append(p.recs, inflight{state: r.State, deliveries: r.DeliveryCount})
		}
	}
	p.advance()
	p.dirty = false
	return p, nil
}

// UninitializedStart is the start offset of a durable state that says
// "start afresh" (Kafka's -1): what DeleteShareGroupOffsets leaves.
const UninitializedStart int64 = -1
