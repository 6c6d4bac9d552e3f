package storage

import (
	"bytes"
	"compress/gzip"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// decompressors reuses decompression state across the batches the leader
// checks on append (record_checks.go decompresses every compressed batch,
// as Kafka's LogValidator does) and the lookups that read records by time.
// Building a zstd decoder costs several times more than decoding a 16 KiB
// batch, and an lz4 reader allocates its block buffers anew. One belongs to
// a Manager and is shared by its logs; it is safe for concurrent use. A nil
// *decompressors decompresses with one-off readers.
type decompressors struct {
	zstdOnce sync.Once
	zstd     *zstd.Decoder // DecodeAll is safe for concurrent use
	zstdErr  error
	lz4      sync.Pool // *lz4.Reader
	gzip     sync.Pool // *gzip.Reader
}

func (d *decompressors) decompress(codec int8, in []byte) ([]byte, error) {
	if d == nil {
		return decompress(codec, in)
	}
	switch codec {
	case CodecZstd:
		d.zstdOnce.Do(func() {
			d.zstd, d.zstdErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecompressed))
		})
		if d.zstdErr != nil {
			return nil, d.zstdErr
		}
		return d.zstd.DecodeAll(in, nil)
	case CodecLZ4:
		lr, _ := d.lz4.Get().(*lz4.Reader)
		if lr == nil {
			lr = lz4.NewReader(nil)
		}
		defer d.lz4.Put(lr)
		lr.Reset(bytes.NewReader(in))
		return readLimited(lr)
	case CodecGzip:
		zr, _ := d.gzip.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(in))
		} else {
			err = zr.Reset(bytes.NewReader(in))
		}
		if err != nil {
			return nil, err
		}
		defer d.gzip.Put(zr)
		return readLimited(zr)
	}
	return decompress(codec, in)
}

// close releases the zstd decoder's buffers.
func (d *decompressors) close() {
	if d != nil && d.zstd != nil {
		d.zstd.Close()
	}
}
