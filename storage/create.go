package storage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Creating many new partition logs at once (a topic of thousands of
// partitions, issue 14's 5,000 partitions a second).
//
// Invariant: a partition is acknowledged as created (CreateTopics,
// CreatePartitions answer) once its log exists in the Manager; nothing
// needs to be on disk for that. A new log is the empty log, created
// lazily (lazy.go): no directory, no file, no system call. A broker
// restarted after a crash that finds no directory for a partition the
// metadata places on it creates the same empty log again, so nothing
// acknowledged is lost; what is written into the log later makes its
// directory durable before it counts as durable itself (lazy.go states
// that invariant). Creating a log therefore costs memory only, and
// GetOrCreateLogs creates a batch under the Manager's lock without any
// I/O (every partition directory of the log dir was loaded when the
// Manager opened, so there is nothing to read either).

// NewLog names a partition log for GetOrCreateLogs, with its config.
type NewLog struct {
	Topic     string
	Partition int32
	Config    Config
}

// GetOrCreateLogs is GetOrCreate for many partitions: logs[i] is the log
// of specs[i], created if needed (lazily, see above), or nil with errs[i]
// saying why.
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
	for _, i := range todo {
		s := specs[i]
		l, err := m.createLog(s.Topic, s.Partition, s.Config)
		logs[i], errs[i] = l, err
		if l != nil {
			m.logs[tp{s.Topic, s.Partition}] = l
		}
	}
	m.mu.Unlock()
	return logs, errs
}

func validPartition(topic string, partition int32) bool {
	return topic != "" && !strings.ContainsAny(topic, "/\\") && topic != "." && topic != ".." && partition >= 0
}

// createLog creates the partition's log lazily (lazy.go): the Manager
// holds no log for it, so the log dir holds no directory for it either
// (OpenManager loaded every one). The caller holds m.mu.
func (m *Manager) createLog(topic string, part int32, cfg Config) (*Log, error) {
	o := m.logOptions(topic, part, cfg, false, false)
	o.lazy = true
	return openLog(o)
}
