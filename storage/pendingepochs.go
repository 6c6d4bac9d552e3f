package storage

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// The log dir's pending-epochs file:
//
//	.runnel_pending_epochs   "0\n<count>\n" then one "<topic> <partition> <epoch> <startOffset>"
//	                         line per partition (topic names hold no space).
//
// Each line is a leader epoch that starts at its partition's log end and
// that the partition's own leader-epoch-checkpoint lacks: a leader's
// epoch with no batch yet. A restart's elections give every partition of
// the broker a new one; writing them at shutdown one file per partition
// costs 100k file writes and their share of the syncfs (seconds), so a
// clean close writes them all here, in one file, before the syncfs and
// the clean-shutdown marker, and the next OpenManager puts them back in
// the logs' epoch caches (in memory: a log writes its file with its first
// batch of the epoch, a flush, or a close that cannot defer it) and
// removes the file. An entry is applied only to a log whose end is still
// its start offset. A crash before the next clean close loses these
// entries, which recovery does not need: no batch carries them
// (epochCache.persistLazily).
const pendingEpochsFile = ".runnel_pending_epochs"

// pendingLine is one line of the pending-epochs file.
type pendingLine struct {
	tp
	epochEntry
}

// encodePendingEpochs sorts lines (a stable file) and encodes them;
// strconv rather than fmt: a clean close after a restart writes a line
// for each of 100k partitions.
func encodePendingEpochs(lines []pendingLine) []byte {
	slices.SortFunc(lines, func(a, b pendingLine) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return cmp.Compare(a.partition, b.partition)
	})
	b := make([]byte, 0, 16+len(lines)*48)
	b = append(b, "0\n"...)
	b = strconv.AppendInt(b, int64(len(lines)), 10)
	b = append(b, '\n')
	for _, l := range lines {
		b = append(b, l.topic...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(l.partition), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(l.epoch), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, l.startOffset, 10)
		b = append(b, '\n')
	}
	return b
}

// readPendingEpochs reads dir's pending-epochs file; absent is empty.
func readPendingEpochs(dir string) (map[tp]epochEntry, error) {
	path := filepath.Join(dir, pendingEpochsFile)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("storage: %s: bad header", path)
	}
	if n, err := strconv.Atoi(lines[1]); err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("storage: %s: bad count", path)
	}
	out := make(map[tp]epochEntry, len(lines)-2)
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			return nil, fmt.Errorf("storage: %s: bad line %q", path, l)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		e, err2 := strconv.ParseInt(f[2], 10, 32)
		o, err3 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("storage: %s: bad line %q", path, l)
		}
		out[tp{f[0], int32(p)}] = epochEntry{int32(e), o}
	}
	return out, nil
}

// PendingLeaderEpochs are the leader epochs of dir's pending-epochs file,
// by partition (none when absent or unreadable). With
// CheckpointedLeaderEpoch it gives the latest epoch a partition's log
// recorded; it opens no log.
func PendingLeaderEpochs(dir string) map[PartitionDir]int32 {
	es, _ := readPendingEpochs(dir)
	out := make(map[PartitionDir]int32, len(es))
	for k, e := range es {
		out[PartitionDir{Topic: k.topic, Partition: k.partition}] = e.epoch
	}
	return out
}

// applyPendingEpochs puts the pending-epochs file's entries back into the
// opened logs' epoch caches (in memory) and removes the file. A bad file
// is dropped with a warning: its entries are not needed for recovery.
func (m *Manager) applyPendingEpochs() {
	es, err := readPendingEpochs(m.opts.Dir)
	if err != nil {
		m.opts.Logger.Warn("dropping unreadable pending leader epochs (epochs without batches)", zap.Error(err))
	}
	for k, e := range es {
		l := m.logs[k]
		if l == nil {
			continue
		}
		l.mu.Lock()
		if l.leo == e.startOffset {
			if latest, ok := l.epochs.latest(); (!ok || e.epoch > latest.epoch) && l.epochs.assign(e.epoch, e.startOffset) {
				l.epochs.dirty = true
			}
		}
		l.mu.Unlock()
	}
	if es != nil || err != nil {
		_ = m.fs.Remove(filepath.Join(m.opts.Dir, pendingEpochsFile))
	}
}

// writePendingEpochs writes the epochs the closed logs left pending (or
// removes a stale file when none did), without an fsync: Close syncs the
// file system before it writes the clean-shutdown marker.
func (m *Manager) writePendingEpochs() error {
	m.mu.Lock()
	var es []pendingLine
	for k, l := range m.logs {
		if l.pendingEpoch != nil {
			if es == nil {
				es = make([]pendingLine, 0, len(m.logs))
			}
			es = append(es, pendingLine{k, *l.pendingEpoch})
		}
	}
	m.mu.Unlock()
	path := filepath.Join(m.opts.Dir, pendingEpochsFile)
	if len(es) == 0 {
		return removeIfExists(m.fs, path)
	}
	return writeFileAtomicFS(m.fs, path, encodePendingEpochs(es), true)
}
