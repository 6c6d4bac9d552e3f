package bench

import (
	"errors"
	"fmt"
	"time"
)

// Mode names a workload.
type Mode string

// The workloads; ModeAll runs produce, consume, fetch and e2e in that order
// on one topic.
const (
	ModeProduce Mode = "produce"
	ModeConsume Mode = "consume"
	ModeFetch   Mode = "fetch"
	ModeE2E     Mode = "e2e"
	ModeAll     Mode = "all"
)

// ParseMode accepts "produce", "consume", "fetch", "e2e" or "all".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeProduce, ModeConsume, ModeFetch, ModeE2E, ModeAll:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want produce, consume, fetch, e2e or all)", s)
}

// Config describes one benchmark run. Start from DefaultConfig and change
// what the run needs; Brokers is the only field without a default.
type Config struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
	// Topic is created with Partitions partitions and ReplicationFactor
	// replicas when it does not exist; an existing topic is used as it is.
	Topic             string
	Partitions        int32
	ReplicationFactor int16

	// Records bounds produce and consume; RecordSize is each value's length
	// in bytes (records carry no key).
	Records    int
	RecordSize int

	// Producer knobs (produce mode). Linger is franz-go's ProducerLinger
	// (0: send as soon as a request slot is free); BatchMaxBytes caps a
	// record batch (0: franz-go's default, about 1 MB); Concurrency is the
	// number of independent producer clients, each sending its share of
	// Records; MaxBufferedRecords bounds each client's in-flight records
	// (0: franz-go's default). Producers are idempotent with acks=all and
	// send uncompressed batches (values are random bytes).
	Linger             time.Duration
	BatchMaxBytes      int32
	Concurrency        int
	MaxBufferedRecords int

	// Rate (records/s) and Duration shape e2e: the producer sends at Rate
	// for Duration, with no lingering.
	Rate     int
	Duration time.Duration

	// Timeout bounds each workload, whatever Records says; a workload that
	// runs out of time reports what it achieved, with Result.Err set.
	Timeout time.Duration

	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)

	// ServerCPU, when set, returns the CPU time the server under test has
	// used so far (for example from /proc/PID/stat, or its
	// process_cpu_seconds_total metric); each workload then reports the
	// server's CPU over its measured window beside the client's own.
	ServerCPU func() (time.Duration, error)
}

// DefaultConfig is 100 000 records of 1 KiB on topic "runnel-bench" with 6
// partitions and one replica, one producer client, no lingering, e2e at
// 10 000 records/s for 10 s, each workload bounded by 2 minutes.
func DefaultConfig() Config {
	return Config{
		Topic:             "runnel-bench",
		Partitions:        6,
		ReplicationFactor: 1,
		Records:           100_000,
		RecordSize:        1024,
		Concurrency:       1,
		Rate:              10_000,
		Duration:          10 * time.Second,
		Timeout:           2 * time.Minute,
	}
}

func (c *Config) validate(m Mode) error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("no brokers")
	case c.Topic == "":
		return errors.New("no topic")
	case c.Partitions < 1:
		return fmt.Errorf("partitions %d < 1", c.Partitions)
	case c.ReplicationFactor < 1:
		return fmt.Errorf("replication factor %d < 1", c.ReplicationFactor)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %v <= 0", c.Timeout)
	case c.Linger < 0:
		return fmt.Errorf("linger %v < 0", c.Linger)
	}
	if m == ModeProduce || m == ModeConsume || m == ModeFetch || m == ModeAll {
		if c.Records < 1 {
			return fmt.Errorf("records %d < 1", c.Records)
		}
	}
	if m == ModeProduce || m == ModeAll {
		if c.Concurrency < 1 {
			return fmt.Errorf("concurrency %d < 1", c.Concurrency)
		}
	}
	if m == ModeProduce || m == ModeE2E || m == ModeAll {
		if c.RecordSize < 0 {
			return fmt.Errorf("record size %d < 0", c.RecordSize)
		}
	}
	if m == ModeE2E || m == ModeAll {
		if c.Rate < 1 {
			return fmt.Errorf("rate %d < 1", c.Rate)
		}
		if c.Duration <= 0 {
			return fmt.Errorf("duration %v <= 0", c.Duration)
		}
		if c.RecordSize < stampLen {
			return fmt.Errorf("e2e needs records of at least %d bytes for the send time, have %d", stampLen, c.RecordSize)
		}
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}
