package storage

import (
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Region is bytes [Offset, Offset+Length) of File: whole batches. File is
// shared; use explicit offsets (pread, sendfile with an offset), never the
// file's own position.
type Region struct {
	File   *os.File
	Offset int64
	Length int64
}

// ReadResult is what Read returns: file regions holding whole batches. The
// files stay open until Release, even if their segment is rolled, closed as
// idle, deleted by retention or truncated away.
type ReadResult struct {
	Regions []Region
	Size    int64

	once sync.Once
	refs []*fileRef
}

// Release drops the result's references to its files. Call it once the
// bytes were sent; calling it again does nothing.
func (r *ReadResult) Release() {
	if r == nil {
		return
	}
	r.once.Do(func() {
		for _, f := range r.refs {
			f.release()
		}
		r.refs = nil
	})
}

// WriteTo copies the regions to w through pread (for TLS and tests).
func (r *ReadResult) WriteTo(w io.Writer) (int64, error) {
	var total int64
	buf := make([]byte, 64<<10)
	for _, rg := range r.Regions {
		n, err := io.CopyBuffer(w, io.NewSectionReader(rg.File, rg.Offset, rg.Length), buf)
		total += n
		if err != nil {
			return total, err
		}
		if n != rg.Length {
			return total, io.ErrUnexpectedEOF
		}
	}
	return total, nil
}

// SendTo writes the regions to a socket with sendfile(2), passing each
// region's file offset explicitly (the *os.File's own offset is never used
// or moved), so concurrent reads of one file cannot race. conn is usually a
// *net.TCPConn or *net.UnixConn.
func (r *ReadResult) SendTo(conn syscall.Conn) (int64, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, rg := range r.Regions {
		off, end := rg.Offset, rg.Offset+rg.Length
		infd := int(rg.File.Fd())
		var serr error
		werr := rc.Write(func(outfd uintptr) bool {
			for off < end {
				chunk := end - off
				if chunk > 1<<30 {
					chunk = 1 << 30
				}
				n, err := unix.Sendfile(int(outfd), infd, &off, int(chunk))
				if n > 0 {
					total += int64(n)
				}
				if err == unix.EAGAIN {
					return false // wait for the socket to be writable
				}
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					serr = err
					return true
				}
				if n == 0 {
					serr = io.ErrUnexpectedEOF
					return true
				}
			}
			return true
		})
		if werr != nil {
			return total, werr
		}
		if serr != nil {
			return total, serr
		}
	}
	return total, nil
}
