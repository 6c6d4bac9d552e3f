package storage

import (
	"bytes"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// passCodecs reuses lz4 and zstd state across the batches of one cleaning
// pass: building a fresh lz4 reader/writer per batch (as the one-off
// helpers in batch.go do) costs more than the cleaning itself.
type passCodecs struct {
	lr  *lz4.Reader
	lw  *lz4.Writer
	zd  *zstd.Decoder
	ze  *zstd.Encoder
	out bytes.Buffer
}

func (c *passCodecs) decompress(codec int8, in []byte) ([]byte, error) {
	switch codec {
	case CodecLZ4:
		if c.lr == nil {
			c.lr = lz4.NewReader(nil)
		}
		c.lr.Reset(bytes.NewReader(in))
		return readLimited(c.lr)
	case CodecZstd:
		if c.zd == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
			if err != nil {
				return nil, err
			}
			c.zd = d
		}
		return c.zd.DecodeAll(in, nil)
	}
	return decompress(codec, in)
}

func (c *passCodecs) compress(codec int8, in []byte) ([]byte, error) {
	switch codec {
	case CodecLZ4:
		c.out.Reset()
		if c.lw == nil {
			c.lw = lz4.NewWriter(&c.out)
		} else {
			c.lw.Reset(&c.out)
		}
		if _, err := c.lw.Write(in); err != nil {
			return nil, err
		}
		if err := c.lw.Close(); err != nil {
			return nil, err
		}
		return bytes.Clone(c.out.Bytes()), nil
	case CodecZstd:
		if c.ze == nil {
			e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return nil, err
			}
			c.ze = e
		}
		return c.ze.EncodeAll(in, nil), nil
	}
	return compress(codec, in)
}

func (c *passCodecs) close() {
	if c.zd != nil {
		c.zd.Close()
	}
	if c.ze != nil {
		_ = c.ze.Close()
	}
}

// records decodes the records of a whole batch with the pass's codecs.
func (c *passCodecs) records(b []byte, h *BatchHeader, fn func(*Record) bool) error {
	body := b[batchHeaderSize:h.Size()]
	if h.Codec() != CodecNone {
		var err error
		if body, err = c.decompress(h.Codec(), body); err != nil {
			return errRecordParse
		}
	}
	var r Record
	for i := int32(0); i < h.RecordCount; i++ {
		raw, rest, ok := nextRawRecord(body)
		if !ok {
			return errRecordParse
		}
		body = rest
		if err := decodeRawRecord(raw, &r); err != nil {
			return err
		}
		if !fn(&r) {
			return nil
		}
	}
	return nil
}
