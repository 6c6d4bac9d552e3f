package protocol

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// haveSendfile: WriteTo uses sendfile for sockets on this platform.
const haveSendfile = true

// maxSendfile bounds one sendfile call (Linux moves at most 0x7ffff000 bytes).
const maxSendfile = 1 << 30

// sendfile copies region r from its file to the socket behind raw, with the
// file offset passed explicitly so the *os.File's own offset never moves and
// concurrent fetches of one file do not race (PITFALLS item 10). The file's
// descriptor is held through its own SyscallConn for the duration, so a
// concurrent Close cannot recycle it underneath. EAGAIN parks the goroutine
// on the poller until the socket is writable again (and honours the
// connection's write deadline).
func sendfile(raw syscall.RawConn, r Region) (int64, error) {
	fileRaw, err := r.File.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		written int64
		werr    error
	)
	off := r.Offset
	cerr := fileRaw.Control(func(infd uintptr) {
		err := raw.Write(func(outfd uintptr) bool {
			for written < r.Length {
				n, err := unix.Sendfile(int(outfd), int(infd), &off, int(min(r.Length-written, maxSendfile)))
				if n > 0 {
					written += int64(n)
				}
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return false // wait for the socket to drain
				case err != nil:
					werr = err
					return true
				case n == 0:
					werr = io.ErrUnexpectedEOF // the file is shorter than the region
					return true
				}
			}
			return true
		})
		if werr == nil {
			werr = err
		}
	})
	if werr == nil {
		werr = cerr
	}
	return written, werr
}
