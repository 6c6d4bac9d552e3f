package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// CPU pinning for TestBenchCompareKafka (RUNNEL_BENCH_PIN): the broker
// processes on one set of CPUs, the clients on the other, so that a
// client that needs a whole core cannot take the broker's, and the other
// way round.
//
// How: the test process pins every one of its threads to the client CPUs
// before it starts anything. A child inherits the affinity of the thread
// that forks it, so every broker (runnel, Kafka's JVMs, etcd), every
// client tool (rdkafka_performance, kafka-*-perf-test's JVMs) and the
// franz-go client inside the test process start on the client CPUs; Go's
// runtime and the JVM therefore size themselves for that many CPUs
// (GOMAXPROCS, GC and compiler threads), the same for both brokers. Once
// a broker answers, pinBroker moves every thread of it to the broker
// CPUs; threads it creates later inherit that. checkPinned reads every
// thread's Cpus_allowed_list back after each round.

// benchPin is the CPU split; the zero value means unpinned.
type benchPin struct {
	broker, client unix.CPUSet
	brokerList     string // as given, for the logs
	clientList     string
}

func (p benchPin) enabled() bool { return p.brokerList != "" }

func (p benchPin) String() string {
	if !p.enabled() {
		return "unpinned"
	}
	return fmt.Sprintf("pinned: brokers on CPU %s, clients on CPU %s", p.brokerList, p.clientList)
}

// parseBenchPin reads RUNNEL_BENCH_PIN: empty or 0 for none, 1 for
// brokers on CPU 0 and clients on CPU 1, or BROKERS/CLIENTS as two CPU
// lists in taskset's format (0/1, 0-1/2-3, 0,2/1,3).
func parseBenchPin(v string) (benchPin, error) {
	switch v {
	case "", "0":
		return benchPin{}, nil
	case "1":
		v = "0/1"
	}
	b, c, ok := strings.Cut(v, "/")
	if !ok {
		return benchPin{}, fmt.Errorf("RUNNEL_BENCH_PIN=%q: want 1 or BROKER-CPUS/CLIENT-CPUS (e.g. 0/1)", v)
	}
	p := benchPin{brokerList: b, clientList: c}
	var err error
	if p.broker, err = parseCPUList(b); err != nil {
		return benchPin{}, err
	}
	if p.client, err = parseCPUList(c); err != nil {
		return benchPin{}, err
	}
	for cpu := range 1024 {
		if p.broker.IsSet(cpu) && p.client.IsSet(cpu) {
			return benchPin{}, fmt.Errorf("RUNNEL_BENCH_PIN=%q: CPU %d is in both sets", v, cpu)
		}
	}
	return p, nil
}

// parseCPUList parses a list such as 0,2-3.
func parseCPUList(s string) (unix.CPUSet, error) {
	var set unix.CPUSet
	if strings.TrimSpace(s) == "" {
		return set, fmt.Errorf("empty CPU list")
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return set, fmt.Errorf("CPU list %q: %v", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return set, fmt.Errorf("CPU list %q: %v", s, err)
			}
		}
		if a < 0 || b < a || b >= 1024 {
			return set, fmt.Errorf("CPU list %q: bad range %q", s, part)
		}
		for cpu := a; cpu <= b; cpu++ {
			set.Set(cpu)
		}
	}
	return set, nil
}

// pinThreads sets the affinity of every thread of pid (0: this process)
// to set. It passes over /proc/PID/task until a pass finds every thread
// already pinned, so a thread created during a pass by a thread not yet
// moved is caught by the next.
func pinThreads(pid int, set unix.CPUSet) error {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	for pass := 0; pass < 20; pass++ {
		tids, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		moved := 0
		for _, e := range tids {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			var cur unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &cur); err != nil {
				continue // the thread exited
			}
			if cur == set {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("sched_setaffinity(%d): %w", tid, err)
			}
			moved++
		}
		if moved == 0 {
			return nil
		}
	}
	return fmt.Errorf("threads of %s kept appearing unpinned", dir)
}

// pinClient pins the test process (and so whatever it starts) to the
// client CPUs.
func (p benchPin) pinClient(t *testing.T) {
	t.Helper()
	if !p.enabled() {
		return
	}
	if err := pinThreads(0, p.client); err != nil {
		t.Fatalf("pinning the test process: %v", err)
	}
}

// pinBroker moves every thread of the broker processes to the broker
// CPUs.
func (p benchPin) pinBroker(t *testing.T, pids ...int) {
	t.Helper()
	if !p.enabled() {
		return
	}
	for _, pid := range pids {
		if err := pinThreads(pid, p.broker); err != nil {
			t.Fatalf("pinning broker %d: %v", pid, err)
		}
	}
}

// checkPinned reports an error for any thread of the brokers or of this
// process whose affinity is not its side's set.
func (p benchPin) checkPinned(t *testing.T, brokerPIDs ...int) {
	t.Helper()
	if !p.enabled() {
		return
	}
	check := func(dir, what string, want unix.CPUSet) {
		tids, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		bad := 0
		for _, e := range tids {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			var cur unix.CPUSet
			if unix.SchedGetaffinity(tid, &cur) == nil && cur != want {
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d threads not pinned", what, bad, len(tids))
		}
	}
	check("/proc/self/task", "test process", p.client)
	for _, pid := range brokerPIDs {
		check(filepath.Join("/proc", strconv.Itoa(pid), "task"), fmt.Sprintf("broker %d", pid), p.broker)
	}
}

// loadAvg is /proc/loadavg's 1-minute figure, for the logs beside each
// round's figures.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func TestParseBenchPin(t *testing.T) {
	for _, tc := range []struct {
		in             string
		broker, client []int
		err            bool
	}{
		{in: ""},
		{in: "0"},
		{in: "1", broker: []int{0}, client: []int{1}},
		{in: "0-1/2-3", broker: []int{0, 1}, client: []int{2, 3}},
		{in: "0,2/1,3", broker: []int{0, 2}, client: []int{1, 3}},
		{in: "0/0", err: true},
		{in: "0-1/1", err: true},
		{in: "2", err: true},
		{in: "a/1", err: true},
		{in: "1-0/2", err: true},
	} {
		p, err := parseBenchPin(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if tc.err {
			continue
		}
		if p.enabled() != (tc.broker != nil) {
			t.Errorf("%q: enabled %v", tc.in, p.enabled())
		}
		for _, cpu := range tc.broker {
			if !p.broker.IsSet(cpu) {
				t.Errorf("%q: broker CPU %d not set", tc.in, cpu)
			}
		}
		for _, cpu := range tc.client {
			if !p.client.IsSet(cpu) {
				t.Errorf("%q: client CPU %d not set", tc.in, cpu)
			}
		}
		if p.broker.Count() != len(tc.broker) || p.client.Count() != len(tc.client) {
			t.Errorf("%q: %d broker, %d client CPUs", tc.in, p.broker.Count(), p.client.Count())
		}
	}
}

// childPIDs lists this process's children whose command name (comm) is
// name.
func childPIDs(t *testing.T, name string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		open, close := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(string(b[close+1:]))
		if len(f) < 2 || string(b[open+1:close]) != name {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == self {
			pids = append(pids, pid)
		}
	}
	return pids
}
