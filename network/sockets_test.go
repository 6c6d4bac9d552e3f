package network

import (
	"net"
	"syscall"
	"testing"
)

// TestSocketBufferSizes: socket.receive.buffer.bytes reaches an accepted
// connection through its listener and socket.send.buffer.bytes is set on
// it (Linux reports twice the size asked for: the kernel's bookkeeping).
func TestSocketBufferSizes(t *testing.T) {
	const size = 64 << 10
	ln, err := listen(t.Context(), "127.0.0.1:0", size)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := setSendBuffer(nc, size); err != nil {
		t.Fatal(err)
	}
	for opt, name := range map[int]string{syscall.SO_RCVBUF: "SO_RCVBUF", syscall.SO_SNDBUF: "SO_SNDBUF"} {
		if got := sockopt(t, nc, opt); got != 2*size {
			t.Errorf("%s %d, want %d", name, got, 2*size)
		}
	}
}

func sockopt(t *testing.T, nc net.Conn, opt int) int {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}
