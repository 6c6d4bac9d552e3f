package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuMeter takes the CPU time of this process (the client, and kfake when
// it runs inside the benchmark) and, through Config.ServerCPU, of the
// server under test, at the start and end of a measured window. On a
// machine with few cores the two compete for the same CPUs, so a
// throughput figure alone does not say which side was the limit; the CPU
// seconds per GB of each side do.
type cpuMeter struct {
	cfg            *Config
	client, server time.Duration
	serverOK       bool
}

func startCPU(cfg *Config) *cpuMeter {
	m := &cpuMeter{cfg: cfg, client: processCPU()}
	if cfg.ServerCPU != nil {
		if d, err := cfg.ServerCPU(); err == nil {
			m.server, m.serverOK = d, true
		}
	}
	return m
}

// stop files the window's CPU times in res.
func (m *cpuMeter) stop(res *Result) {
	res.ClientCPU = processCPU() - m.client
	if m.serverOK {
		if d, err := m.cfg.ServerCPU(); err == nil {
			res.ServerCPU = d - m.server
		}
	}
}

// processCPU is this process's user plus system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcCPU returns a Config.ServerCPU for a local process: its user plus
// system time from /proc/PID/stat (Linux), in clock ticks of 1/100 s, the
// USER_HZ every Linux build reports there.
func ProcCPU(pid int) func() (time.Duration, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	return func() (time.Duration, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		// The command name (field 2) may hold spaces; fields count from
		// after its closing parenthesis, where field 3 (state) starts.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			return 0, fmt.Errorf("%s: no command name", path)
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return 0, fmt.Errorf("%s: %d fields", path, len(f))
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
		stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
		if err := errors.Join(err1, err2); err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		return time.Duration(utime+stime) * (time.Second / 100), nil
	}
}
