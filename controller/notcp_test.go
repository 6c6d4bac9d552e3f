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

// The embedded etcd has no peer listener: a single member never talks to
// peers, and a listening peer socket (it used to be in the abstract
// namespace, which file permissions do not guard) would let any local
// process speak etcd's peer protocol to it. Its client socket is the only
// unix socket it adds, inside the 0700 data dir.
func TestEmbeddedListensOnNoPeerSocket(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	c := openEmbedded(t, dir, 1)
	defer c.Close()
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Skip("no /proc/net/unix")
	}
	abs, _ := filepath.Abs(dir)
	mine := map[string]bool{} // socket inodes this process holds
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var ours []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 8 || !mine[fields[6]] {
			continue
		}
		if p := fields[7]; strings.HasPrefix(p, "@runnel-etcd-peer") || strings.HasPrefix(p, abs) {
			ours = append(ours, p)
		}
	}
	for _, p := range ours {
		if p != filepath.Join(abs, "etcd", "client.sock") {
			t.Errorf("embedded etcd listens on unix socket %s", p)
		}
	}
	if len(ours) == 0 {
		t.Errorf("the client socket is not in /proc/net/unix")
	}
	st, err := os.Stat(filepath.Join(abs, "etcd"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("etcd dir mode %v, %v; want 0700", st.Mode(), err)
	}
}
