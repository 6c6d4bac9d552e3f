package bench

import (
	"fmt"
	"strings"
	"time"
)

// mb is the MB of MB/s: 2^20 bytes, as Kafka's perf-test tools count.
const mb = 1 << 20

// Result holds what one workload achieved.
type Result struct {
	Mode Mode
	// Records and Bytes count what was acknowledged (produce) or received
	// (consume, e2e) inside the measured window, over Elapsed.
	Records int64
	Bytes   int64
	Elapsed time.Duration
	// Sent is the number of records e2e sent in its measured window, at
	// its target Rate.
	Sent int64
	Rate int
	// Latency is produce → promise callback for produce, send → receipt
	// for e2e; empty for consume.
	Latency Summary
	// ProduceLatency is e2e's produce → promise callback.
	ProduceLatency Summary
	// ClientCPU is this process's CPU time over the measured window (the
	// benchmark's clients, and anything else in the process); ServerCPU
	// the server's, when Config.ServerCPU was set (else zero).
	ClientCPU time.Duration
	ServerCPU time.Duration
	// Failed counts records whose produce failed.
	Failed int64
	// Err is set when the workload did not finish: out of time, failed
	// produces, records missing at the consumer. The figures above still
	// describe what was done.
	Err error
}

// RecordsPerSec is Records over Elapsed.
func (r Result) RecordsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Records) / r.Elapsed.Seconds()
}

// MBPerSec is Bytes over Elapsed, in MB (2^20 bytes) per second.
func (r Result) MBPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / mb / r.Elapsed.Seconds()
}

// ClientCPUPerGB is ClientCPU in seconds per GB (2^30 bytes) moved.
func (r Result) ClientCPUPerGB() float64 { return perGB(r.ClientCPU, r.Bytes) }

// ServerCPUPerGB is ServerCPU in seconds per GB (2^30 bytes) moved.
func (r Result) ServerCPUPerGB() float64 { return perGB(r.ServerCPU, r.Bytes) }

func perGB(d time.Duration, bytes int64) float64 {
	if bytes <= 0 {
		return 0
	}
	return d.Seconds() / (float64(bytes) / (1 << 30))
}

// String is one line, for a terminal.
func (r Result) String() string {
	var b strings.Builder
	switch r.Mode {
	case ModeE2E:
		fmt.Fprintf(&b, "%-7s %d/%d records received, target %d rec/s, %s: %.0f rec/s %.2f MB/s; e2e latency %s; produce latency %s",
			r.Mode, r.Records, r.Sent, r.Rate, r.Elapsed.Round(time.Millisecond), r.RecordsPerSec(), r.MBPerSec(),
			latencyString(r.Latency), latencyString(r.ProduceLatency))
	case ModeConsume, ModeFetch:
		fmt.Fprintf(&b, "%-7s %d records %.2f MB in %s: %.0f rec/s %.2f MB/s",
			r.Mode, r.Records, float64(r.Bytes)/mb, r.Elapsed.Round(time.Millisecond), r.RecordsPerSec(), r.MBPerSec())
	default:
		fmt.Fprintf(&b, "%-7s %d records %.2f MB in %s: %.0f rec/s %.2f MB/s; latency %s",
			r.Mode, r.Records, float64(r.Bytes)/mb, r.Elapsed.Round(time.Millisecond), r.RecordsPerSec(), r.MBPerSec(),
			latencyString(r.Latency))
	}
	if r.Mode != ModeE2E && r.Bytes > 0 {
		fmt.Fprintf(&b, "; CPU s/GB client %.2f", r.ClientCPUPerGB())
		if r.ServerCPU > 0 {
			fmt.Fprintf(&b, " server %.2f", r.ServerCPUPerGB())
		}
	}
	if r.Failed > 0 {
		fmt.Fprintf(&b, "; %d failed", r.Failed)
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "; INCOMPLETE: %v", r.Err)
	}
	return b.String()
}

func latencyString(s Summary) string {
	if s.Count == 0 {
		return "n/a"
	}
	return fmt.Sprintf("p50 %s p99 %s p999 %s max %s", Millis(s.P50), Millis(s.P99), Millis(s.P999), Millis(s.Max))
}

// Millis formats a duration as milliseconds with three significant
// decimals, the unit every latency figure here is printed in.
func Millis(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
