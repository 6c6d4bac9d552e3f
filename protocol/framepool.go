package protocol

import (
	"io"
	"math/bits"
	"sync"
)

// FramePool recycles request frame buffers of more than 32 KiB and up to
// 8 MiB, in power-of-two classes from 64 KiB, so that a steady stream of produce requests does
// not allocate, zero and later collect a fresh buffer per request (about a
// seventh of the broker's produce CPU at 1 MiB batches). Smaller frames are
// cheap to allocate; larger ones keep ReadFrame's grow-as-it-arrives rule.
//
// Only a frame whose request retains none of its bytes after it was
// handled may be put back: kmsg decodes byte fields as slices of the frame.
// The zero FramePool is ready to use; sync.Pool lets the GC drop buffers
// the broker no longer needs.
type FramePool struct {
	classes [framePoolClasses]sync.Pool
}

const (
	framePoolMinShift = 16 // 64 KiB
	framePoolClasses  = 8  // 64 KiB … 8 MiB (frameGrowStep)
)

// class returns the pool class whose buffers hold n bytes, or -1.
func framePoolClass(n int) int {
	if n <= 1<<(framePoolMinShift-1) || n > frameGrowStep {
		return -1
	}
	c := bits.Len(uint(n-1)) - framePoolMinShift
	return max(c, 0)
}

// get returns a buffer of length n, recycled when one of its class is free.
func (p *FramePool) get(n int) []byte {
	c := framePoolClass(n)
	if c < 0 {
		return nil
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<(c+framePoolMinShift))
}

// Put gives a frame returned by ReadPooledFrame back for reuse. Frames of
// other sizes are dropped.
func (p *FramePool) Put(frame []byte) {
	c := framePoolClass(cap(frame))
	if c < 0 || cap(frame) != 1<<(c+framePoolMinShift) {
		return
	}
	frame = frame[:0]
	p.classes[c].Put(&frame)
}

// ReadPooledFrame is ReadFrame with its buffer taken from pool when the
// frame's size falls in the pool's range.
func ReadPooledFrame(r io.Reader, maxSize int32, pool *FramePool) ([]byte, error) {
	size, err := readFrameSize(r, maxSize)
	if err != nil {
		return nil, err
	}
	buf := pool.get(size)
	if buf == nil {
		return readFrameBody(r, size, nil)
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		pool.Put(buf)
		return nil, noEOF(err)
	}
	return buf, nil
}

// ReadFrameHead reads a frame's size prefix, checks it against maxSize as
// ReadFrame does, and then the first len(head) bytes of the payload (fewer
// when the frame is shorter; n says how many): enough of a request header
// to learn its API key and version before any memory is committed to the
// body. ReadPooledFrameRest reads the rest.
func ReadFrameHead(r io.Reader, maxSize int32, head []byte) (size, n int, err error) {
	size, err = readFrameSize(r, maxSize)
	if err != nil {
		return 0, 0, err
	}
	n = min(size, len(head))
	if _, err := io.ReadFull(r, head[:n]); err != nil {
		return 0, 0, noEOF(err)
	}
	return size, n, nil
}

// ReadPooledFrameRest completes a frame of size bytes whose first bytes,
// head, ReadFrameHead read; as ReadPooledFrame, the buffer comes from pool
// when its size class has one.
func ReadPooledFrameRest(r io.Reader, size int, head []byte, pool *FramePool) ([]byte, error) {
	buf := pool.get(size)
	if buf == nil {
		return readFrameBodyAfter(r, size, nil, head)
	}
	copy(buf, head)
	if _, err := io.ReadFull(r, buf[len(head):]); err != nil {
		pool.Put(buf)
		return nil, noEOF(err)
	}
	return buf, nil
}
