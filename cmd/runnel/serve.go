package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/runnel/runnel/broker"
	"github.com/runnel/runnel/config"
	"go.uber.org/zap"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// serve runs a broker until SIGINT or SIGTERM, then shuts it down cleanly.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configFile := fs.String("config", "", "a Kafka server.properties file")
	var overrides stringList
	fs.Var(&overrides, "override", "key=value, overriding the file and the environment (repeatable)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides runnel.log.level)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Kafka's own scripts take the properties file as a positional argument.
	if *configFile == "" && fs.NArg() > 0 {
		*configFile = fs.Arg(0)
	}

	cfg, warnings, err := config.Load(*configFile, os.Environ(), overrides)
	if err != nil {
		return err
	}
	level := cfg.LogLevel
	if *logLevel != "" {
		level = *logLevel
	}
	lg, err := newLogger(cfg.LogFormat, level, cfg.LogLevels)
	if err != nil {
		return err
	}
	defer lg.Sync()
	for _, w := range warnings {
		lg.Warn(w)
	}
	for _, n := range cfg.Notes {
		lg.Info(n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	b, err := broker.New(startCtx, broker.Options{Config: cfg, Logger: lg})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			lg.Info("interrupted while starting", zap.Error(err))
			return nil
		}
		return err
	}
	select {
	case <-ctx.Done():
	case <-b.Failed():
		// The log dir failed: hand leadership over and exit non-zero, as
		// Kafka halts when its only log dir fails.
		lg.Error("shutting down: log dir failed", zap.Error(b.LogDirError()))
		b.Close()
		return fmt.Errorf("log dir failed: %w", b.LogDirError())
	}
	lg.Info("shutting down")
	if path := os.Getenv(shutdownProfileEnv); path != "" {
		defer profileShutdown(lg, path)()
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	lg.Info("stopped")
	return nil
}

// shutdownProfileEnv names a file that receives a CPU profile of the
// shutdown, from the signal to the exit: where a broker with 100k
// partitions spends its stop, which the admin listener's /debug/pprof
// cannot show (it closes early in the shutdown). make bench-scale-cluster
// sets it.
const shutdownProfileEnv = "RUNNEL_SHUTDOWN_CPUPROFILE"

// profileShutdown starts a CPU profile into path and returns what stops
// it; a failure to start is logged and profiles nothing.
func profileShutdown(lg *zap.Logger, path string) (stop func()) {
	f, err := os.Create(path)
	if err != nil {
		lg.Warn("shutdown profile not taken", zap.Error(err))
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		lg.Warn("shutdown profile not taken", zap.Error(err))
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			lg.Warn("shutdown profile not written", zap.Error(err))
		}
	}
}
