package protocol

import (
	"fmt"
	"io"
	"net"
	"syscall"
)

// copyBufSize is the buffer of the copying fallback.
const copyBufSize = 64 << 10

// WriteTo writes the whole frame to c and returns the bytes written. Runs of
// byte chunks go out in one writev (net.Buffers); each region goes out with
// sendfile(2) at its explicit offset when c exposes its socket through
// syscall.Conn (a *net.TCPConn), else through a pread copy (TLS, pipes). A
// region that ends early (a file truncated underneath) fails with
// io.ErrUnexpectedEOF: the frame's size prefix is already on the wire, so
// the caller must close the connection after any error.
func (f *Frame) WriteTo(c net.Conn) (int64, error) {
	var raw syscall.RawConn
	if sc, ok := c.(syscall.Conn); ok && haveSendfile && f.Regions() > 0 {
		if rc, err := sc.SyscallConn(); err == nil {
			raw = rc
		}
	}
	var (
		written int64
		bufs    net.Buffers
		copyBuf []byte
	)
	flush := func() error {
		if len(bufs) == 0 {
			return nil
		}
		n, err := bufs.WriteTo(c)
		written += n
		bufs = bufs[:0]
		return err
	}
	for _, ch := range f.chunks {
		if ch.region.File == nil {
			bufs = append(bufs, f.buf[ch.start:ch.end])
			continue
		}
		if err := flush(); err != nil {
			return written, err
		}
		var (
			n   int64
			err error
		)
		if raw != nil {
			n, err = sendfile(raw, ch.region)
		} else {
			if copyBuf == nil {
				copyBuf = make([]byte, copyBufSize)
			}
			n, err = io.CopyBuffer(onlyWriter{c}, io.NewSectionReader(ch.region.File, ch.region.Offset, ch.region.Length), copyBuf)
			if err == nil && n < ch.region.Length {
				err = io.ErrUnexpectedEOF
			}
		}
		written += n
		if err != nil {
			return written, fmt.Errorf("protocol: writing region: %w", err)
		}
	}
	return written, flush()
}

// onlyWriter hides any ReadFrom of the connection so that io.CopyBuffer uses
// the given buffer and pread.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }
