package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
)

// RecordBatch v2 layout (Kafka's message format 2, big endian). The log
// stores these bytes exactly as they travel in Produce and Fetch:
//
//	off len field
//	  0   8 baseOffset           (patched by the leader)
//	  8   4 batchLength          (bytes after this field: total = 12 + batchLength)
//	 12   4 partitionLeaderEpoch (patched by the leader; not covered by the CRC)
//	 16   1 magic                (2)
//	 17   4 crc                  (CRC-32C of bytes 21..end)
//	 21   2 attributes           (bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control, 6 delete horizon)
//	 23   4 lastOffsetDelta
//	 27   8 baseTimestamp        (firstTimestamp)
//	 35   8 maxTimestamp
//	 43   8 producerId
//	 51   2 producerEpoch
//	 53   4 baseSequence
//	 57   4 recordCount
//	 61   … records (compressed as a whole when codec != 0)
//
// A record is: length varint, attributes int8, timestampDelta varlong,
// offsetDelta varint, keyLength varint, key, valueLength varint, value,
// headerCount varint, then per header keyLength varint, key, valueLength
// varint, value (lengths -1 mean null).
const (
	batchHeaderSize = 61
	// logOverhead is baseOffset + batchLength: the part of a batch not counted
	// by batchLength.
	logOverhead = 12

	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	attrCodecMask     = 0x07
	attrTimestampType = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// Compression codecs, as in the attributes' low three bits.
const (
	CodecNone   int8 = 0
	CodecGzip   int8 = 1
	CodecSnappy int8 = 2
	CodecLZ4    int8 = 3
	CodecZstd   int8 = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded fixed header of a RecordBatch v2.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // batchLength field; the batch is Length+12 bytes
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the whole batch's size in bytes.
func (h *BatchHeader) Size() int64 { return int64(h.Length) + logOverhead }

// LastOffset is the offset of the batch's last record.
func (h *BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec.
func (h *BatchHeader) Codec() int8 { return int8(h.Attributes & attrCodecMask) }

// IsTransactional reports the transactional attribute.
func (h *BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports the control attribute (transaction markers).
func (h *BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// LogAppendTime reports whether the timestamp type is LogAppendTime.
func (h *BatchHeader) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// LastSequence is the sequence number of the batch's last record.
func (h *BatchHeader) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 1<<31-1 {
		s -= 1 << 31 // sequences wrap at MaxInt32 to 0
	}
	return int32(s)
}

// ParseBatchHeader decodes the first 61 bytes of b. It checks only that
// enough bytes are present.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < batchHeaderSize {
		return BatchHeader{}, kerr.CorruptMessage
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(be.Uint32(b[offRecordCount:])),
	}, nil
}

// checkBatchFrame checks the parts of a batch that make its extent and
// integrity trustworthy: the length, the magic byte and the CRC. b must
// hold at least the whole batch. It returns the batch size.
func checkBatchFrame(b []byte) (BatchHeader, error) {
	if len(b) < logOverhead+5 {
		return BatchHeader{}, kerr.CorruptMessage
	}
	if m := int8(b[offMagic]); m < 2 {
		return BatchHeader{}, kerr.UnsupportedForMessageFormat
	} else if m > 2 {
		return BatchHeader{}, kerr.CorruptMessage
	}
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.Length < batchHeaderSize-logOverhead || int64(len(b)) < h.Size() {
		return h, kerr.CorruptMessage
	}
	if crc32.Checksum(b[offAttributes:h.Size()], castagnoli) != h.CRC {
		return h, kerr.CorruptMessage
	}
	if h.LastOffsetDelta < 0 || h.RecordCount < 0 {
		return h, kerr.CorruptMessage
	}
	return h, nil
}

// ValidateBatch fully validates one batch at the start of b (b may hold more
// bytes after it) as the leader does for a client's produce request: frame,
// CRC, the count and offset deltas of records, and — for uncompressed batches —
// the structure of every record. Compressed batches are not decompressed
// (only their header is checked) unless requireKeys is set, which rejects a
// record without a key (compacted topics) with kerr.InvalidRecord. The
// leader path (Append) adds the timestamp checks of record_checks.go.
func ValidateBatch(b []byte, requireKeys bool) (BatchHeader, error) {
	return validateBatch(b, &recordChecks{requireKeys: requireKeys})
}

// validateBatch is ValidateBatch with the per-record checks chk (nil: none).
// Structural problems are kerr values and end the walk; records failing
// chk are all collected into one *RecordErrors.
func validateBatch(b []byte, chk *recordChecks) (BatchHeader, error) {
	h, err := checkBatchFrame(b)
	if err != nil {
		return h, err
	}
	if h.Codec() > CodecZstd {
		return h, kerr.CorruptMessage
	}
	if h.RecordCount == 0 && !h.IsControl() {
		return h, kerr.InvalidRecord
	}
	if h.Codec() == CodecNone {
		if int64(h.RecordCount) != int64(h.LastOffsetDelta)+1 {
			return h, kerr.InvalidRecord
		}
	} else if int64(h.RecordCount) > int64(h.LastOffsetDelta)+1 {
		return h, kerr.InvalidRecord
	}
	checkRecords := chk.needRecords(&h)
	if h.Codec() != CodecNone && !checkRecords {
		return h, nil
	}
	var prev int32 = -1
	n := int32(0)
	var bad recordErrorCollector
	err = forEachRecord(b[:h.Size()], &h, chk.decompressors(), func(r *Record) bool {
		if r.OffsetDelta <= prev || r.OffsetDelta > h.LastOffsetDelta {
			err = kerr.InvalidRecord
			return false
		}
		if h.Codec() == CodecNone && r.OffsetDelta != prev+1 {
			err = kerr.InvalidRecord
			return false
		}
		if checkRecords {
			if e, code, failed := chk.check(&h, r, n); failed {
				bad.add(e, code)
			}
		}
		prev = r.OffsetDelta
		n++
		return true
	})
	if err != nil {
		if errors.Is(err, errRecordParse) {
			return h, kerr.CorruptMessage
		}
		return h, err
	}
	if n != h.RecordCount {
		return h, kerr.InvalidRecord
	}
	if err := bad.err(); err != nil {
		return h, err
	}
	return h, nil
}

// Header is one record header.
type Header struct {
	Key   []byte // aliases the batch, like Record.Key: decoding allocates nothing per header
	Value []byte
}

// Record is one decoded record of a batch. Key and Value alias the batch
// (or the decompressed buffer); nil means null.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte
	Headers        []Header
}

var errRecordParse = errors.New("storage: malformed record")

// maxDecompressed bounds decompression output so a hostile batch cannot
// inflate without limit.
const maxDecompressed = 256 << 20

// forEachRecord decodes the records of one whole batch b (decompressing
// with dec if needed; nil: one-off readers) and calls fn for each until it
// returns false.
func forEachRecord(b []byte, h *BatchHeader, dec *decompressors, fn func(*Record) bool) error {
	body := b[batchHeaderSize:h.Size()]
	if h.Codec() != CodecNone {
		var err error
		body, err = dec.decompress(h.Codec(), body)
		if err != nil {
			return errRecordParse
		}
	}
	var r Record
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(body)
		if n <= 0 || length < 0 || int64(len(body)-n) < length {
			return errRecordParse
		}
		rec := body[n : int64(n)+length]
		body = body[int64(n)+length:]
		if err := decodeRecord(rec, &r); err != nil {
			return err
		}
		if !fn(&r) {
			return nil
		}
	}
	if len(body) != 0 {
		return errRecordParse
	}
	return nil
}

func decodeRecord(rec []byte, r *Record) error {
	if len(rec) < 1 {
		return errRecordParse
	}
	r.Attributes = int8(rec[0])
	rec = rec[1:]
	var ok bool
	var v int64
	if r.TimestampDelta, rec, ok = readVarlong(rec); !ok {
		return errRecordParse
	}
	if v, rec, ok = readVarlong(rec); !ok || v < 0 || v > 1<<31-1 {
		return errRecordParse
	}
	r.OffsetDelta = int32(v)
	if r.Key, rec, ok = readBytes(rec); !ok {
		return errRecordParse
	}
	if r.Value, rec, ok = readBytes(rec); !ok {
		return errRecordParse
	}
	var nh int64
	if nh, rec, ok = readVarlong(rec); !ok || nh < 0 || nh > int64(len(rec)) {
		return errRecordParse
	}
	r.Headers = r.Headers[:0]
	for j := int64(0); j < nh; j++ {
		var k, val []byte
		if k, rec, ok = readBytes(rec); !ok || k == nil {
			return errRecordParse
		}
		if val, rec, ok = readBytes(rec); !ok {
			return errRecordParse
		}
		r.Headers = append(r.Headers, Header{Key: k, Value: val})
	}
	if len(rec) != 0 {
		return errRecordParse
	}
	return nil
}

func readVarlong(b []byte) (int64, []byte, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

func readBytes(b []byte) ([]byte, []byte, bool) {
	l, rest, ok := readVarlong(b)
	if !ok || l < -1 || l > int64(len(rest)) {
		return nil, b, false
	}
	if l == -1 {
		return nil, rest, true
	}
	return rest[:l:l], rest[l:], true
}

// xerialMagic starts snappy data framed by the Java client (snappy-java's
// SnappyOutputStream): magic, version, compatible version, then chunks of a
// 4-byte big-endian length and a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func decompress(codec int8, in []byte) ([]byte, error) {
	switch codec {
	case CodecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(in))
		if err != nil {
			return nil, err
		}
		return readLimited(zr)
	case CodecSnappy:
		if bytes.HasPrefix(in, xerialMagic) && len(in) >= 16 {
			in = in[16:]
			var out []byte
			for len(in) > 0 {
				if len(in) < 4 {
					return nil, errRecordParse
				}
				n := binary.BigEndian.Uint32(in)
				in = in[4:]
				if uint64(n) > uint64(len(in)) {
					return nil, errRecordParse
				}
				dl, err := snappy.DecodedLen(in[:n])
				if err != nil || len(out)+dl > maxDecompressed {
					return nil, errRecordParse
				}
				chunk, err := snappy.Decode(nil, in[:n])
				if err != nil {
					return nil, err
				}
				out = append(out, chunk...)
				in = in[n:]
			}
			return out, nil
		}
		dl, err := snappy.DecodedLen(in)
		if err != nil || dl > maxDecompressed {
			return nil, errRecordParse
		}
		return snappy.Decode(nil, in)
	case CodecLZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(in)))
	case CodecZstd:
		zr, err := zstd.NewReader(bytes.NewReader(in), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return readLimited(zr)
	}
	return nil, errRecordParse
}

func readLimited(r io.Reader) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxDecompressed {
		return nil, errRecordParse
	}
	return out, nil
}

func compress(codec int8, in []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return in, nil
	case CodecGzip:
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(in); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case CodecSnappy:
		return snappy.Encode(nil, in), nil
	case CodecLZ4:
		zw := lz4.NewWriter(&buf)
		if _, err := zw.Write(in); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case CodecZstd:
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(in); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("storage: unknown codec")
	}
	return buf.Bytes(), nil
}

// Control record types (the key of a control batch's single record:
// version int16, type int16).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// controlType returns the marker type of a control batch: its one record's
// key is version int16 + type int16.
func controlType(batch []byte, h *BatchHeader) (int16, error) {
	typ := int16(-1)
	err := forEachRecord(batch, h, nil, func(r *Record) bool {
		if len(r.Key) >= 4 {
			typ = int16(binary.BigEndian.Uint16(r.Key[2:]))
		}
		return false
	})
	if err != nil {
		return -1, err
	}
	if typ != ControlAbort && typ != ControlCommit {
		return -1, kerr.InvalidRecord
	}
	return typ, nil
}

// setCRC recomputes the CRC of a whole batch after its attributes or
// timestamps were patched.
func setCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}
