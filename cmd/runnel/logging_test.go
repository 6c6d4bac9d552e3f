package main

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestSubsystemLevels: runnel.log.levels sets a level per logger name and
// its dotted children; other loggers keep the base level.
func TestSubsystemLevels(t *testing.T) {
	obs, logs := observer.New(zapcore.DebugLevel)
	lg := zap.New(&levelsCore{Core: obs, base: zapcore.InfoLevel, byName: map[string]zapcore.Level{
		"controller": zapcore.DebugLevel,
		"etcd":       zapcore.ErrorLevel,
	}})
	lg.Named("controller").Debug("controller debug")
	lg.Named("controller").Named("election").Debug("child debug")
	lg.Named("storage").Debug("storage debug")
	lg.Named("storage").Info("storage info")
	lg.Named("etcd").Warn("etcd warn")
	lg.Named("etcd").With(zap.String("k", "v")).Error("etcd error")
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Message)
	}
	want := []string{"controller debug", "child debug", "storage info", "etcd error"}
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logged %q, want %q", got, want)
		}
	}
}

func TestNewLoggerFormats(t *testing.T) {
	for _, f := range []string{"console", "json"} {
		if _, err := newLogger(f, "info", map[string]string{"controller": "debug"}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := newLogger("console", "loud", nil); err == nil {
		t.Error("bad level accepted")
	}
}
