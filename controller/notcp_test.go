package controller

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/testenv"
)

// tcpListenInodes returns the socket inodes of TCP sockets in LISTEN state
// that this process holds.
func tcpListenInodes(t *testing.T) map[string]bool {
	t.Helper()
	listening := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 9 && fields[3] == "0A" { // TCP_LISTEN
				listening[fields[9]] = true
			}
		}
		fh.Close()
	}
	ours := map[string]bool{}
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		l, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		ino := strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")
		if listening[ino] {
			ours[ino] = true
		}
	}
	return ours
}

func TestEmbeddedListensOnNoTCPPort(t *testing.T) {
	// The probe sees a listener of our own.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	found := len(tcpListenInodes(t))
	l.Close()
	if found == 0 {
		t.Skip("cannot see this process's TCP listeners in /proc")
	}
	before := tcpListenInodes(t)
	c := openEmbedded(t, testenv.ShortTempDir(t), 1)
	defer c.Close()
	for ino := range tcpListenInodes(t) {
		if !before[ino] {
			t.Fatalf("embedded etcd listens on a TCP socket (inode %s)", ino)
		}
	}
}
