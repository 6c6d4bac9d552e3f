package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Region is a byte range of a segment file: whole record batches, sent to the
// socket without passing through user space. Offset is an absolute position
// in File; the file's own read offset is never used or moved.
type Region struct {
	File   *os.File
	Offset int64
	Length int64
}

// Frame is an encoded response whose payload is a sequence of chunks, each
// either encoded bytes or a file Region. Build one with
// [EncodeFetchResponse]; send it with [Frame.WriteTo]. A Frame is written
// once and is not safe for concurrent use.
type Frame struct {
	buf    []byte  // every byte chunk, back to back; starts with the size prefix
	chunks []chunk // in wire order
	size   int64   // total bytes on the wire, size prefix included
}

// chunk is buf[start:end] when region.File is nil, else the region.
type chunk struct {
	start, end int
	region     Region
}

// Len returns the number of bytes the frame puts on the wire, including its
// 4-byte size prefix.
func (f *Frame) Len() int64 { return f.size }

// Regions returns the number of file regions in the frame.
func (f *Frame) Regions() int {
	n := 0
	for _, c := range f.chunks {
		if c.region.File != nil {
			n++
		}
	}
	return n
}

// AppendTo appends the whole frame to dst, reading the regions with ReadAt.
// It is the copying path; tests use it to compare against kmsg.
func (f *Frame) AppendTo(dst []byte) ([]byte, error) {
	for _, c := range f.chunks {
		if c.region.File == nil {
			dst = append(dst, f.buf[c.start:c.end]...)
			continue
		}
		at := len(dst)
		dst = append(dst, make([]byte, c.region.Length)...)
		if _, err := c.region.File.ReadAt(dst[at:], c.region.Offset); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("protocol: reading region: %w", err)
		}
	}
	return dst, nil
}

// frameBuilder accumulates bytes in f.buf and cuts a chunk whenever a region
// is inserted.
type frameBuilder struct {
	f    Frame
	mark int // start of the byte chunk under construction
}

func (b *frameBuilder) addRegion(r Region) {
	if r.Length <= 0 {
		return
	}
	if b.mark < len(b.f.buf) {
		b.f.chunks = append(b.f.chunks, chunk{start: b.mark, end: len(b.f.buf)})
		b.mark = len(b.f.buf)
	} else if n := len(b.f.chunks); n > 0 {
		// Adjacent regions of one file merge into one sendfile.
		last := &b.f.chunks[n-1].region
		if last.File == r.File && last.Offset+last.Length == r.Offset {
			last.Length += r.Length
			b.f.size += r.Length
			return
		}
	}
	b.f.chunks = append(b.f.chunks, chunk{region: r})
	b.f.size += r.Length
}

func (b *frameBuilder) finish() *Frame {
	if b.mark < len(b.f.buf) {
		b.f.chunks = append(b.f.chunks, chunk{start: b.mark, end: len(b.f.buf)})
	}
	b.f.size += int64(len(b.f.buf))
	binary.BigEndian.PutUint32(b.f.buf, uint32(b.f.size-4))
	return &b.f
}

// EncodeFetchResponse encodes resp at version (4 through kmsg's maximum) as
// a complete response frame — size prefix, response header (v1 from v12, v0
// before) and body — whose record sets are file regions: records[t][p] are
// the regions for resp.Topics[t].Partitions[p], written in order as that
// partition's records field, whose length prefix is their total length. The
// partitions' RecordBatches fields are ignored; a partition with no regions
// (or beyond the end of records) gets an empty, non-null records field, as
// Kafka sends. Empty regions are dropped and adjacent regions of one file
// merged.
//
// The layout is Kafka's FetchResponse schema (see the field comments
// inline); tests prove it byte-equal to kmsg's encoding for every version.
func EncodeFetchResponse(version int16, correlationID int32, resp *kmsg.FetchResponse, records [][][]Region) *Frame {
	if version < 4 || version > resp.MaxVersion() {
		panic(fmt.Sprintf("protocol: EncodeFetchResponse: version %d outside [4, %d]", version, resp.MaxVersion()))
	}
	flex := version >= 12
	e := &frameBuilder{}
	e.f.buf = make([]byte, 0, 256)
	w := wbuf{&e.f.buf}

	w.i32(0) // size, patched by finish
	w.i32(correlationID)
	if flex {
		w.uvarint(0) // response header v1: no tagged fields
	}
	w.i32(resp.ThrottleMillis) // v1+
	if version >= 7 {
		w.i16(resp.ErrorCode)
		w.i32(resp.SessionID)
	}
	w.arrayLen(len(resp.Topics), flex)
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		if version >= 13 {
			w.raw(t.TopicID[:])
		} else {
			w.str(t.Topic, flex)
		}
		w.arrayLen(len(t.Partitions), flex)
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			w.i32(p.Partition)
			w.i16(p.ErrorCode)
			w.i64(p.HighWatermark)
			w.i64(p.LastStableOffset) // v4+
			if version >= 5 {
				w.i64(p.LogStartOffset)
			}
			// Aborted transactions: nullable array, v4+.
			if p.AbortedTransactions == nil {
				w.nullArray(flex)
			} else {
				w.arrayLen(len(p.AbortedTransactions), flex)
				for ai := range p.AbortedTransactions {
					a := &p.AbortedTransactions[ai]
					w.i64(a.ProducerID)
					w.i64(a.FirstOffset)
					if flex {
						w.tags(&a.UnknownTags)
					}
				}
			}
			if version >= 11 {
				w.i32(p.PreferredReadReplica)
			}
			// Records: nullable bytes whose payload is the regions.
			var regions []Region
			if ti < len(records) && pi < len(records[ti]) {
				regions = records[ti][pi]
			}
			var total int64
			for _, r := range regions {
				if r.Length > 0 {
					total += r.Length
				}
			}
			if flex {
				w.uvarint(uint32(total + 1))
			} else {
				w.i32(int32(total))
			}
			for _, r := range regions {
				e.addRegion(r)
			}
			if flex {
				writePartitionTags(w, p)
			}
		}
		if flex {
			w.tags(&t.UnknownTags)
		}
	}
	if flex {
		// Response-level tagged fields: 0 = NodeEndpoints (v16+).
		withNodes := version >= 16 && len(resp.Brokers) > 0
		n := resp.UnknownTags.Len()
		if withNodes {
			n++
		}
		w.uvarint(uint32(n))
		if withNodes {
			w.tagged(0, func(w wbuf) {
				w.arrayLen(len(resp.Brokers), true)
				for i := range resp.Brokers {
					b := &resp.Brokers[i]
					w.i32(b.NodeID)
					w.str(b.Host, true)
					w.i32(b.Port)
					w.nullableStr(b.Rack, true)
					w.tags(&b.UnknownTags)
				}
			})
		}
		*w.b = resp.UnknownTags.AppendEach(*w.b)
	}
	return e.finish()
}

// writePartitionTags writes a partition's tagged fields (flexible versions):
// 0 DivergingEpoch, 1 CurrentLeader, 2 SnapshotId — each only when it
// differs from its default of all -1 — then any unknown tags.
func writePartitionTags(w wbuf, p *kmsg.FetchResponseTopicPartition) {
	d, l, s := &p.DivergingEpoch, &p.CurrentLeader, &p.SnapshotID
	hasD := d.Epoch != -1 || d.EndOffset != -1 || d.UnknownTags.Len() > 0
	hasL := l.LeaderID != -1 || l.LeaderEpoch != -1 || l.UnknownTags.Len() > 0
	hasS := s.EndOffset != -1 || s.Epoch != -1 || s.UnknownTags.Len() > 0
	n := p.UnknownTags.Len()
	for _, has := range []bool{hasD, hasL, hasS} {
		if has {
			n++
		}
	}
	w.uvarint(uint32(n))
	if hasD {
		w.tagged(0, func(w wbuf) { w.i32(d.Epoch); w.i64(d.EndOffset); w.tags(&d.UnknownTags) })
	}
	if hasL {
		w.tagged(1, func(w wbuf) { w.i32(l.LeaderID); w.i32(l.LeaderEpoch); w.tags(&l.UnknownTags) })
	}
	if hasS {
		w.tagged(2, func(w wbuf) { w.i64(s.EndOffset); w.i32(s.Epoch); w.tags(&s.UnknownTags) })
	}
	*w.b = p.UnknownTags.AppendEach(*w.b)
}

// wbuf appends Kafka primitives to a byte slice.
type wbuf struct{ b *[]byte }

func (w wbuf) raw(p []byte) { *w.b = append(*w.b, p...) }
func (w wbuf) i16(v int16)  { *w.b = binary.BigEndian.AppendUint16(*w.b, uint16(v)) }
func (w wbuf) i32(v int32)  { *w.b = binary.BigEndian.AppendUint32(*w.b, uint32(v)) }
func (w wbuf) i64(v int64)  { *w.b = binary.BigEndian.AppendUint64(*w.b, uint64(v)) }
func (w wbuf) uvarint(v uint32) {
	for v >= 0x80 {
		*w.b = append(*w.b, byte(v)|0x80)
		v >>= 7
	}
	*w.b = append(*w.b, byte(v))
}

// arrayLen writes an array length: compact (n+1 as uvarint) or int32.
func (w wbuf) arrayLen(n int, flex bool) {
	if flex {
		w.uvarint(uint32(n + 1))
	} else {
		w.i32(int32(n))
	}
}

// nullArray writes a null array length: compact 0 or int32 -1.
func (w wbuf) nullArray(flex bool) {
	if flex {
		w.uvarint(0)
	} else {
		w.i32(-1)
	}
}

func (w wbuf) str(s string, flex bool) {
	if flex {
		w.uvarint(uint32(len(s) + 1))
	} else {
		w.i16(int16(len(s)))
	}
	*w.b = append(*w.b, s...)
}

func (w wbuf) nullableStr(s *string, flex bool) {
	if s != nil {
		w.str(*s, flex)
	} else if flex {
		w.uvarint(0)
	} else {
		w.i16(-1)
	}
}

// tags writes a tagged-field section holding only unknown tags.
func (w wbuf) tags(t *kmsg.Tags) {
	w.uvarint(uint32(t.Len()))
	*w.b = t.AppendEach(*w.b)
}

// tagged writes one tagged field: tag, payload size, payload.
func (w wbuf) tagged(tag uint32, payload func(wbuf)) {
	var body []byte
	payload(wbuf{&body})
	w.uvarint(tag)
	w.uvarint(uint32(len(body)))
	*w.b = append(*w.b, body...)
}
