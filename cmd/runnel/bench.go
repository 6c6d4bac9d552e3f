package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/runnel/runnel/bench"
)

// benchCmd runs the load generator against any Kafka bootstrap address and
// prints one line per workload. SIGINT stops it early; what was measured so
// far is still printed.
func benchCmd(args []string) error {
	def := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap addresses, comma separated")
	mode := fs.String("mode", "all", "produce, consume, fetch, e2e or all")
	topic := fs.String("topic", def.Topic, "topic (created when missing)")
	records := fs.Int("records", def.Records, "records to produce / consume")
	size := fs.Int("size", def.RecordSize, "record value size in bytes")
	partitions := fs.Int("partitions", int(def.Partitions), "partitions of a topic created by the run")
	replication := fs.Int("replication", int(def.ReplicationFactor), "replication factor of a topic created by the run")
	rate := fs.Int("rate", def.Rate, "e2e send rate, records/s")
	duration := fs.Duration("duration", def.Duration, "e2e measured duration")
	linger := fs.Duration("linger", def.Linger, "producer linger (produce mode)")
	batch := fs.Int("batch-bytes", 0, "producer max record batch bytes (0: client default)")
	concurrency := fs.Int("concurrency", def.Concurrency, "producer clients (produce mode)")
	buffered := fs.Int("max-buffered", 0, "max buffered records per producer client (0: client default)")
	timeout := fs.Duration("timeout", def.Timeout, "upper bound on each workload")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	serverPID := fs.Int("server-pid", 0, "a local server process whose CPU time to report per workload (Linux /proc)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	m, err := bench.ParseMode(*mode)
	if err != nil {
		return err
	}

	cfg := def
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	cfg.Topic = *topic
	cfg.Records = *records
	cfg.RecordSize = *size
	cfg.Partitions = int32(*partitions)
	cfg.ReplicationFactor = int16(*replication)
	cfg.Rate = *rate
	cfg.Duration = *duration
	cfg.Linger = *linger
	cfg.BatchMaxBytes = int32(*batch)
	cfg.Concurrency = *concurrency
	cfg.MaxBufferedRecords = *buffered
	cfg.Timeout = *timeout
	if *serverPID > 0 {
		cfg.ServerCPU = bench.ProcCPU(*serverPID)
	}
	if !*quiet {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	results, err := bench.Run(ctx, cfg, m)
	for _, r := range results {
		fmt.Println(r)
	}
	return err
}
