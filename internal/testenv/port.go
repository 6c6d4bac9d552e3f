package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
)

// Ports for servers that tests start as child processes (runnel, etcd,
// Kafka) are chosen here and bound by the child a moment later. Asking the
// kernel for port 0 and closing the listener is not enough: such a port
// comes from the ephemeral range, and every outgoing connection the tests
// make (clients, etcd clients, proxies) is given a port from that same
// range, so one of them can take the port before the child binds it (CI saw
// "bind: address already in use" this way). Ports are therefore drawn from
// below the ephemeral range, where the kernel never assigns a port on its
// own, and never twice in one test process, so a broker that is stopped and
// restarted on its port keeps it.
//
// The allocator is process-wide because the resource it hands out is.
var ports = portAllocator{given: map[int]bool{}}

// The range ports are drawn from when the ephemeral range starts high
// enough (Linux's default is 32768–60999): [lowestTestPort, ephemeral start).
const lowestTestPort = 10000

type portAllocator struct {
	mu    sync.Mutex
	given map[int]bool
	lo    int // first port of the range; 0 until first use
	hi    int // one past the last
}

// FreePort returns a TCP port on 127.0.0.1 that is free now, outside the
// kernel's ephemeral range and not handed out before in this process.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := ports.next()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freePort is FreePort without a test to fail.
func freePort() int {
	p, err := ports.next()
	if err != nil {
		panic(err)
	}
	return p
}

func (a *portAllocator) next() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lo == 0 {
		a.lo, a.hi = lowestTestPort, ephemeralStart()
	}
	if a.hi-a.lo < 1000 {
		// An unusual ephemeral range leaves no room below it: fall back
		// to the kernel's choice (the old, racy way).
		return kernelPort()
	}
	for range 1000 {
		p := a.lo + rand.IntN(a.hi-a.lo)
		if a.given[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // another process holds it
		}
		l.Close()
		a.given[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port in [%d, %d)", a.lo, a.hi)
}

// ephemeralStart is the first port of Linux's ephemeral range, or 32768
// where it cannot be read.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}

func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
