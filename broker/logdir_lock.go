package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// logDirLockFile is the lock Kafka's LogManager takes in every log dir, so
// that two brokers (or a broker and a tool) never write one directory. The
// lock is an flock on the file, not the file's existence: the kernel drops
// it when the process dies, so a crashed broker leaves nothing to clean up.
const logDirLockFile = ".lock"

// lockLogDir takes the exclusive lock of logDir, or fails at once with
// Kafka's message when another process holds it. Closing the returned
// file releases it.
func lockLogDir(logDir string) (*os.File, error) {
	path := filepath.Join(logDir, logDirLockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("broker: log dir lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("broker: failed to acquire lock on file %s in %s: another Runnel (or Kafka) process is using this directory", logDirLockFile, logDir)
		}
		return nil, fmt.Errorf("broker: log dir lock %s: %w", path, err)
	}
	return f, nil
}
