package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Log-dir failure, after Kafka's LogDirFailureChannel: the first I/O error
// on a write, fsync, roll, index write, truncation, producer snapshot,
// checkpoint or a missing segment file marks the whole log dir failed.
// From then on, for every log of the dir:
//
//   - Append, Read, Flush, Truncate, AdvanceLogStart and AssignEpoch answer
//     kerr.KafkaStorageError; retention, the cleaner and producer expiry
//     stop touching files;
//   - nothing written after the failure point is acknowledged or made
//     visible: the Append that met the error returns KafkaStorageError and
//     its batches are cut from the log end (best effort on disk, always in
//     memory: the LEO goes back to where it was);
//   - Manager.Close writes nothing (no flush, checkpoint, snapshot or
//     clean-shutdown marker), so the next OpenManager recovers every log
//     from its recovery point and keeps exactly the complete batches.
//
// The state never clears while the Manager lives: a new Manager (a broker
// restart, after the disk was fixed or freed) starts healthy.
//
// The layer above learns of a failure at once through Manager.FailureC, a
// channel closed at the first failure (a channel rather than a callback so
// that nothing outside storage runs under storage's locks), and reads the
// cause with Manager.Failed.
type dirHealth struct {
	dir    string
	logger *zap.Logger

	err  atomic.Pointer[error] // the first failure, nil while healthy
	once sync.Once
	ch   chan struct{} // closed at the first failure
}

func newDirHealth(dir string, logger *zap.Logger) *dirHealth {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &dirHealth{dir: dir, logger: logger, ch: make(chan struct{})}
}

// failed returns the first failure, or nil.
func (h *dirHealth) failed() error {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return nil
}

// fail marks the dir failed (the first call wins), and returns the error a
// client must see: kerr.KafkaStorageError.
func (h *dirHealth) fail(what string, err error) error {
	h.once.Do(func() {
		e := fmt.Errorf("storage: log dir %s failed: %s: %w", h.dir, what, err)
		h.err.Store(&e)
		h.logger.Error("log dir failed: its partitions go offline on this broker",
			zap.String("dir", h.dir), zap.String("op", what), zap.Error(err))
		close(h.ch)
	})
	return kerr.KafkaStorageError
}

// Failed returns nil while the log dir is healthy, and after its first I/O
// failure that error (wrapping the cause). A failed dir stays failed for
// the Manager's life.
func (m *Manager) Failed() error { return m.health.failed() }

// FailureC returns a channel that is closed when the log dir fails. The
// replica layer selects on it, then takes every partition of All() offline
// on this broker (they answer KAFKA_STORAGE_ERROR) and tells the
// controller, which moves their leadership to other in-sync replicas.
func (m *Manager) FailureC() <-chan struct{} { return m.health.ch }

// Failed returns the log dir's failure (see Manager.Failed), or nil.
func (l *Log) Failed() error { return l.health.failed() }

// fail marks the log's dir failed and returns kerr.KafkaStorageError.
func (l *Log) fail(what string, err error) error { return l.health.fail(what, err) }

// checkHealthy is the gate at the top of every operation that touches the
// dir's files.
func (l *Log) checkHealthy() error {
	if l.health.failed() != nil {
		return kerr.KafkaStorageError
	}
	return nil
}

// isIOError reports whether err came from a file-system call (as opposed to
// bad data found by a check), for callers such as the cleaner whose errors
// are of both kinds.
func isIOError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se) || errors.As(err, &errno)
}

// isNoSpace reports whether err is a full disk (or quota).
func isNoSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT))
}
