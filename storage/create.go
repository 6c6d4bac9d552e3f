package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Creating many new partition logs at once (a topic of thousands of
// partitions, issue 14's 5,000 partitions a second).
//
// Invariant: a partition is acknowledged as created (CreateTopics,
// CreatePartitions answer) only after its new log is durable — its
// directory's entry in the log dir, the entries of the files in it and
// their contents — so that a broker restarted after a crash finds every
// log it was told about. GetOrCreateLogs keeps it with one syncfs(2) of the
// log dir's file system after the whole batch instead of the fsyncs of
// each new file, each new directory and the log dir (four or more per
// log): the batch's files are written without syncing, then the one
// syncfs makes all of them durable before GetOrCreateLogs returns them. A
// failed syncfs fails the log dir, as a failed fsync does, and returns no
// log of the batch that it created.

// createThreads is how many new logs of one batch are created at once:
// most of a creation is directory and inode work in the kernel.
const createThreads = 4

// NewLog names a partition log for GetOrCreateLogs, with its config.
type NewLog struct {
	Topic     string
	Partition int32
	Config    Config
}

// GetOrCreateLogs is GetOrCreate for many partitions: logs[i] is the log
// of specs[i], created if needed, or nil with errs[i] saying why. Every
// log it created is durable when it returns (see above).
func (m *Manager) GetOrCreateLogs(specs []NewLog) (logs []*Log, errs []error) {
	logs, errs = make([]*Log, len(specs)), make([]error, len(specs))
	for i, s := range specs {
		if !validPartition(s.Topic, s.Partition) {
			errs[i] = fmt.Errorf("storage: invalid partition %q/%d", s.Topic, s.Partition)
		}
	}
	setAll := func(todo []int, err error) {
		for _, i := range todo {
			logs[i], errs[i] = nil, err
		}
	}
	m.mu.Lock()
	var todo []int
	for i, s := range specs {
		if errs[i] != nil {
			continue
		}
		if l := m.logs[tp{s.Topic, s.Partition}]; l != nil {
			l.SetConfig(s.Config)
			logs[i] = l
			continue
		}
		todo = append(todo, i)
	}
	switch {
	case len(todo) == 0:
		m.mu.Unlock()
		return logs, errs
	case m.closed:
		m.mu.Unlock()
		setAll(todo, errors.New("storage: manager closed"))
		return logs, errs
	}
	if err := m.health.failed(); err != nil {
		m.mu.Unlock()
		setAll(todo, fmt.Errorf("%w: %w", kerr.KafkaStorageError, err))
		return logs, errs
	}
	var created atomic.Bool
	_ = inParallel(len(todo), createThreads, func(j int) error {
		i := todo[j]
		s := specs[i]
		l, isNew, err := m.createLog(s.Topic, s.Partition, s.Config)
		logs[i], errs[i] = l, err
		if isNew {
			created.Store(true)
		}
		return nil
	})
	for _, i := range todo {
		if logs[i] != nil {
			m.logs[tp{specs[i].Topic, specs[i].Partition}] = logs[i]
		}
	}
	m.mu.Unlock()
	if created.Load() && !m.opts.noSync {
		start := time.Now()
		if err := syncFS(m.opts.Dir); err != nil {
			setAll(todo, fmt.Errorf("%w: %w", m.health.fail("sync new partition logs", err), err))
			return logs, errs
		}
		if m.opts.ObserveFlush != nil {
			m.opts.ObserveFlush(time.Since(start))
		}
	}
	return logs, errs
}

func validPartition(topic string, partition int32) bool {
	return topic != "" && !strings.ContainsAny(topic, "/\\") && topic != "." && topic != ".." && partition >= 0
}

// createLog creates the partition's directory and an empty log in it
// without reading anything (isNew), or, when the directory already
// exists (left by an earlier process), opens what is there as
// GetOrCreate does. Nothing is synced: the caller syncs the file system.
func (m *Manager) createLog(topic string, part int32, cfg Config) (l *Log, isNew bool, err error) {
	o := m.logOptions(topic, part, cfg, false, false)
	if err := os.Mkdir(o.dir, 0o755); errors.Is(err, fs.ErrExist) {
		l, err := openLog(o)
		return l, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("storage: create %s: %w", o.dir, err)
	}
	o.created = true
	l, err = openLog(o)
	return l, true, err
}

// initCreated is load for a directory createLog has just made: one empty
// active segment at offset 0 (its .log file created), no leader epochs,
// and the partition checkpoint, written without an fsync (the caller's
// syncfs makes it durable) and in place rather than through a .tmp and a
// rename: in a directory nobody was told of, a crash can only leave a
// checkpoint that is missing, empty or torn, which the next open reads
// as no checkpoint (an empty log is recovered from offset 0, the same
// log).
func (l *Log) initCreated() error {
	s := l.newSegment(0)
	s.active, s.rollTs, s.fresh = true, l.clock(), true
	s.mu.Lock()
	err := s.openLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	l.segs = []*segment{s}
	l.logStart, l.leo, l.recoveryPoint, l.hw = 0, 0, 0, 0
	// As loadEpochCache reads a missing file: no entries.
	l.epochs = &epochCache{path: filepath.Join(l.dir, epochCheckpointFile), onDisk: encodeEpochs(nil), noSync: l.noSync, fs: l.fs}
	// Everything is at offset 0, and the end is the empty segment 0: a
	// crash-open after the caller's syncfs need not scan it.
	cp := partitionCheckpoint{recoveryPoint: 0, logStart: 0, highWatermark: 0, endSegment: 0, endPosition: 0}
	if err := writeSynced(l.fs, filepath.Join(l.dir, partitionCheckpointFile), cp.encode(), true); err != nil {
		return err
	}
	if !l.noSync {
		l.checkpointOnDisk = &cp
	}
	return nil
}
