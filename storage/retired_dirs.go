package storage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Data is never deleted on absence. A partition directory leaves the log
// dir only through one of two renames, both of Kafka's form
// (LogManager/UnifiedLog):
//
//	<topic>-<partition>.<id>-delete   a deleted partition (DeleteTopics, or
//	                                  reassigned away). Removed after
//	                                  DirDeleteDelay (file.delete.delay.ms),
//	                                  counted from the rename or, for one
//	                                  found at start, from the start.
//	<topic>-<partition>.<id>-stray    a partition the metadata does not place
//	                                  on this broker. Kept until an operator
//	                                  removes (or restores) it.
//
// <id> is 32 hex digits of a random Uuid (older Runnel wrote 16), so the
// original name is free at once: a topic deleted and created again gets a
// new, empty directory. Neither kind is ever loaded as a partition (the
// suffix is not a partition number), and nothing else in the log dir is
// ever removed by the Manager.

// Delete closes the partition's log and retires its directory: it is
// renamed to <dir>.<id>-delete at once and removed after DirDeleteDelay
// (a crash in between leaves the name, which the next start removes after
// the delay). Open ReadResults stay readable.
func (m *Manager) Delete(topic string, partition int32) error {
	path, err := m.retire(topic, partition, "-delete")
	if err != nil || path == "" {
		return err
	}
	m.scheduleRetired(path)
	return nil
}

// RenameStray closes the partition's log and renames its directory to
// <dir>.<id>-stray, where it stays: the layer above calls it for a log the
// metadata does not place on this broker (Kafka's stray logs), instead of
// deleting what may be the only copy of the data. It returns the new path
// ("" if the partition had no open log, or one never written to, which
// has nothing on disk: lazy.go).
func (m *Manager) RenameStray(topic string, partition int32) (string, error) {
	path, err := m.retire(topic, partition, "-stray")
	if err != nil || path == "" {
		return path, err
	}
	m.strays.Add(1)
	m.opts.Logger.Warn("partition not in the metadata for this broker: its log is kept, renamed as stray; remove it by hand once it is known to be unneeded",
		zap.String("topic", topic), zap.Int32("partition", partition), zap.String("dir", path))
	return path, nil
}

// Strays is how many <dir>.<id>-stray directories the log dir holds: those
// found at start plus those renamed since (a gauge for the metrics, Kafka
// has none; a stray needs an operator's look).
func (m *Manager) Strays() int { return int(m.strays.Load()) }

// retire closes the partition's log, drops it from the Manager and renames
// its directory with suffix; "" when there was no such log.
func (m *Manager) retire(topic string, partition int32, suffix string) (string, error) {
	m.mu.Lock()
	l := m.logs[tp{topic, partition}]
	delete(m.logs, tp{topic, partition})
	m.mu.Unlock()
	if l == nil {
		return "", nil
	}
	l.closeForDelete()
	if d, ok := l.fs.(*lazyDir); ok && d.retireIfAbsent() {
		return "", nil // never materialised: nothing on disk (lazy.go)
	}
	return retireDir(m.fs, l.dir, suffix, m.opts.noSync)
}

// retireDir renames dir to dir.<id><suffix> through fs and makes the
// rename durable.
func retireDir(fs FileOps, dir, suffix string, noSync bool) (string, error) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	path := dir + "." + hex.EncodeToString(id[:]) + suffix
	if err := fs.Rename(dir, path); err != nil {
		return "", err
	}
	return path, syncDirUnlessFS(fs, filepath.Dir(dir), noSync)
}

// RenameStrayDir renames partition p's directory in logDir to
// <dir>.<id>-stray before any Manager has opened the log dir: the broker
// sets aside, at start, the partitions the metadata does not place on it,
// so that nothing that runs later can take them for deletable logs. It
// returns the new path.
func RenameStrayDir(logDir string, p PartitionDir) (string, error) {
	return retireDir(osFileOps{}, filepath.Join(logDir, fmt.Sprintf("%s-%d", p.Topic, p.Partition)), "-stray", false)
}

// dirDeleteDelay is DirDeleteDelay with its default applied.
func (m *Manager) dirDeleteDelay() time.Duration {
	switch d := m.opts.DirDeleteDelay; {
	case d == 0:
		return DefaultDirDeleteDelay
	case d < 0:
		return 0
	default:
		return d
	}
}

// DefaultDirDeleteDelay is Kafka's file.delete.delay.ms default.
const DefaultDirDeleteDelay = 60 * time.Second

// scheduleRetired queues a -delete directory for removal after the delay.
func (m *Manager) scheduleRetired(path string) {
	due := m.opts.Clock().Add(m.dirDeleteDelay())
	m.delMu.Lock()
	m.pending = append(m.pending, pendingDelete{path: path, due: due, dir: true})
	m.delMu.Unlock()
}

func (m *Manager) removeRetired(path string) {
	if err := os.RemoveAll(path); err != nil {
		m.opts.Logger.Warn("removing a deleted partition directory", zap.String("dir", path), zap.Error(err))
		return
	}
	m.opts.Logger.Info("removed deleted partition directory", zap.String("dir", path))
}

// foundRetired handles a log-dir entry at open that is a retired partition
// directory: a -delete one is queued for removal after the delay, a -stray
// one counted. It reports whether name was one (and so is not a partition).
func (m *Manager) foundRetired(name string) bool {
	switch retiredKind(name) {
	case "-delete":
		m.scheduleRetired(filepath.Join(m.opts.Dir, name))
		return true
	case "-stray":
		m.strays.Add(1)
		m.opts.Logger.Warn("stray partition directory kept in the log dir", zap.String("dir", name))
		return true
	}
	return false
}

// retiredKind is "-delete" or "-stray" for a name of the form
// <topic>-<partition>.<hex id>-delete|-stray, else "".
func retiredKind(name string) string {
	for _, suffix := range []string{"-delete", "-stray"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		dot := strings.LastIndexByte(base, '.')
		if dot < 0 {
			return ""
		}
		id := base[dot+1:]
		if len(id) != 32 && len(id) != 16 {
			return ""
		}
		if _, err := hex.DecodeString(id); err != nil {
			return ""
		}
		if _, _, ok := parsePartitionDir(base[:dot]); !ok {
			return ""
		}
		return suffix
	}
	return ""
}
