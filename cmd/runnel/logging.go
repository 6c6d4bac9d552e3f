package main

import (
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the broker's logger: format "console" or "json" on
// standard error, base level, and per-subsystem levels keyed by logger
// name prefix (runnel.log.levels).
func newLogger(format, level string, subsystems map[string]string) (*zap.Logger, error) {
	base, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]zapcore.Level, len(subsystems))
	for name, l := range subsystems {
		if byName[name], err = parseLevel(l); err != nil {
			return nil, fmt.Errorf("runnel.log.levels %s: %w", name, err)
		}
	}
	zc := zap.NewProductionConfig()
	zc.Encoding = format
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	if format == "console" {
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	zc.Sampling = nil
	// The configured core lets everything through that any subsystem
	// wants; levelsCore decides per entry.
	lowest := base
	for _, l := range byName {
		lowest = min(lowest, l)
	}
	zc.Level = zap.NewAtomicLevelAt(lowest)
	lg, err := zc.Build()
	if err != nil {
		return nil, err
	}
	if len(byName) == 0 {
		return lg, nil
	}
	return lg.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return &levelsCore{Core: c, base: base, byName: byName}
	})), nil
}

func parseLevel(s string) (zapcore.Level, error) {
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: %w", s, err)
	}
	return l, nil
}

// levelsCore applies a level per logger name: the level of the longest
// configured name that is the entry's logger name or a dot-separated
// prefix of it ("controller" covers "controller.election"), else base.
type levelsCore struct {
	zapcore.Core
	base   zapcore.Level
	byName map[string]zapcore.Level
}

func (c *levelsCore) levelFor(name string) zapcore.Level {
	for {
		if l, ok := c.byName[name]; ok {
			return l
		}
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			return c.base
		}
		name = name[:i]
	}
}

func (c *levelsCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Level < c.levelFor(e.LoggerName) {
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c *levelsCore) With(fields []zapcore.Field) zapcore.Core {
	return &levelsCore{Core: c.Core.With(fields), base: c.base, byName: c.byName}
}
