package storage

import (
	"encoding/binary"
)

// BatchBuilder encodes RecordBatch v2 bytes, the way a producer would. It is
// used by this package's tests and is handy for anyone who needs batches
// without a client (coordinators writing to internal topics, other tests).
// The zero value builds an uncompressed, non-idempotent batch at offset 0.
type BatchBuilder struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Codec                int8
	LogAppendTime        bool
	Transactional        bool
	Control              bool
	BaseTimestamp        int64 // firstTimestamp; records carry deltas from it
	ProducerID           int64 // -1 for none; the zero value is treated as -1 unless Idempotent
	ProducerEpoch        int16
	BaseSequence         int32
	Idempotent           bool // keep ProducerID/Epoch/BaseSequence as given even if zero

	records []builtRecord
}

type builtRecord struct {
	tsDelta    int64
	key, value []byte
	headers    []Header
}

// Add appends a record with the given timestamp (ms), key and value (nil is
// null) and headers. The first record's timestamp becomes BaseTimestamp
// unless BaseTimestamp was set.
func (b *BatchBuilder) Add(ts int64, key, value []byte, headers ...Header) *BatchBuilder {
	if len(b.records) == 0 && b.BaseTimestamp == 0 {
		b.BaseTimestamp = ts
	}
	b.records = append(b.records, builtRecord{tsDelta: ts - b.BaseTimestamp, key: key, value: value, headers: headers})
	return b
}

// Len is the number of records added so far.
func (b *BatchBuilder) Len() int { return len(b.records) }

// Reset drops the records so the builder can build another batch.
func (b *BatchBuilder) Reset() { b.records = b.records[:0]; b.BaseTimestamp = 0 }

// Build returns the encoded batch. It panics only if compression fails,
// which cannot happen for the supported codecs.
func (b *BatchBuilder) Build() []byte {
	var body []byte
	maxTs := b.BaseTimestamp
	for i, r := range b.records {
		body = appendRecord(body, int32(i), r)
		if b.BaseTimestamp+r.tsDelta > maxTs {
			maxTs = b.BaseTimestamp + r.tsDelta
		}
	}
	if b.Codec != CodecNone {
		c, err := compress(b.Codec, body)
		if err != nil {
			panic(err)
		}
		body = c
	}
	out := make([]byte, batchHeaderSize, batchHeaderSize+len(body))
	out = append(out, body...)
	be := binary.BigEndian
	be.PutUint64(out[offBaseOffset:], uint64(b.BaseOffset))
	be.PutUint32(out[offLength:], uint32(len(out)-logOverhead))
	be.PutUint32(out[offLeaderEpoch:], uint32(b.PartitionLeaderEpoch))
	out[offMagic] = 2
	attrs := uint16(b.Codec) & attrCodecMask
	if b.LogAppendTime {
		attrs |= attrTimestampType
	}
	if b.Transactional {
		attrs |= attrTransactional
	}
	if b.Control {
		attrs |= attrControl
	}
	be.PutUint16(out[offAttributes:], attrs)
	lastDelta := len(b.records) - 1
	if lastDelta < 0 {
		lastDelta = 0
	}
	be.PutUint32(out[offLastOffsetDelta:], uint32(lastDelta))
	be.PutUint64(out[offBaseTimestamp:], uint64(b.BaseTimestamp))
	be.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
	pid, epoch, seq := b.ProducerID, b.ProducerEpoch, b.BaseSequence
	if !b.Idempotent && !b.Transactional && pid == 0 {
		pid, epoch, seq = -1, -1, -1
	}
	be.PutUint64(out[offProducerID:], uint64(pid))
	be.PutUint16(out[offProducerEpoch:], uint16(epoch))
	be.PutUint32(out[offBaseSequence:], uint32(seq))
	be.PutUint32(out[offRecordCount:], uint32(len(b.records)))
	setCRC(out)
	return out
}

// ControlBatch builds a transaction marker (commit or abort) for a producer,
// as the transaction coordinator writes it: one record whose key is
// version 0 + type and whose value is version 0 + coordinator epoch.
func ControlBatch(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, ts int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16([]byte{0, 0}, uint16(typ))
	val := binary.BigEndian.AppendUint32([]byte{0, 0}, uint32(coordinatorEpoch))
	b := BatchBuilder{Control: true, Transactional: true, ProducerID: producerID, ProducerEpoch: producerEpoch, BaseSequence: -1, Idempotent: true}
	b.Add(ts, key, val)
	return b.Build()
}

func appendRecord(dst []byte, offsetDelta int32, r builtRecord) []byte {
	var rec []byte
	rec = append(rec, 0) // attributes
	rec = binary.AppendVarint(rec, r.tsDelta)
	rec = binary.AppendVarint(rec, int64(offsetDelta))
	rec = appendVarBytes(rec, r.key)
	rec = appendVarBytes(rec, r.value)
	rec = binary.AppendVarint(rec, int64(len(r.headers)))
	for _, h := range r.headers {
		rec = appendVarBytes(rec, h.Key)
		rec = appendVarBytes(rec, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(rec)))
	return append(dst, rec...)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
