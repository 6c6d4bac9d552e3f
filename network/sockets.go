package network

import (
	"context"
	"net"
	"syscall"
)

// Socket buffer sizes, as Kafka's acceptor sets them: SO_RCVBUF on the
// listening socket, before any connection exists, so that accepted
// connections inherit it and their TCP window scale is chosen with it in
// mind; SO_SNDBUF on each accepted connection. A size of 0 or less
// (Kafka's -1) leaves the kernel's default, which on Linux also leaves
// its buffer auto-tuning on.

// listen binds addr with the receive buffer size applied.
func listen(ctx context.Context, addr string, receiveBuffer int) (net.Listener, error) {
	lc := net.ListenConfig{}
	if receiveBuffer > 0 {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, receiveBuffer)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(ctx, "tcp", addr)
}

// setSendBuffer applies the send buffer size to an accepted connection.
func setSendBuffer(nc net.Conn, size int) error {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn() // under TLS
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok || size <= 0 {
		return nil
	}
	return tc.SetWriteBuffer(size)
}
