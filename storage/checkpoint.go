package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Per-partition checkpoint files (text, like Kafka's checkpoint files):
//
//	partition-checkpoint        Runnel's own: "1\n<recoveryPoint> <logStartOffset> <highWatermark> <endSegment> <endPosition>\n"
//	                            (version 0, still read, has the first three
//	                            only; older Runnels read version 1 as no
//	                            checkpoint and recover the whole log).
//	                            Kafka keeps the first three per log dir
//	                            (recovery-point-offset-checkpoint,
//	                            log-start-offset-checkpoint,
//	                            replication-offset-checkpoint); Runnel keeps
//	                            them beside the partition so that tens of
//	                            thousands of partitions never rewrite one file.
//	                            endSegment and endPosition are the base offset
//	                            and the .log size of the last segment when the
//	                            recovery point was the log end (every byte of
//	                            the log fsynced), else -1 -1: after a crash, a
//	                            log whose last segment is still endSegment and
//	                            exactly endPosition bytes long has nothing past
//	                            its recovery point and is not re-read (log.go).
//	leader-epoch-checkpoint     Kafka's format: "0\n<count>\n" then one
//	                            "<epoch> <startOffset>" line per entry.
//
// And one per log dir:
//
//	.runnel_cleanshutdown       empty; present only between a clean Manager.Close
//	                            and the next OpenManager (Kafka's
//	                            .kafka_cleanshutdown). Its absence at open means a
//	                            crash: every log is recovered from its recovery
//	                            point.
//
// All are written atomically by writeFileAtomicFS (atomicfile.go).
const (
	partitionCheckpointFile = "partition-checkpoint"
	epochCheckpointFile     = "leader-epoch-checkpoint"
	cleanShutdownFile       = ".runnel_cleanshutdown"
)

type partitionCheckpoint struct {
	recoveryPoint, logStart, highWatermark int64
	// endSegment, endPosition: the last segment's base and .log size when
	// recoveryPoint was the log end, else -1 (see above).
	endSegment, endPosition int64
}

// noEnd is a checkpoint's endSegment and endPosition when the recovery
// point was below the log end (or unknown, version 0).
const noEnd = -1

func writePartitionCheckpoint(dir string, c partitionCheckpoint, noSync bool) error {
	return writePartitionCheckpointFS(osFileOps{}, dir, c, noSync)
}

func writePartitionCheckpointFS(fs FileOps, dir string, c partitionCheckpoint, noSync bool) error {
	return writeFileAtomicFS(fs, filepath.Join(dir, partitionCheckpointFile), c.encode(), noSync)
}

func (c partitionCheckpoint) encode() []byte {
	return fmt.Appendf(nil, "1\n%d %d %d %d %d\n", c.recoveryPoint, c.logStart, c.highWatermark, c.endSegment, c.endPosition)
}

// readSmallFile reads a file of a few hundred bytes with one read(2) —
// no fstat, no read to find EOF (os.ReadFile does both): a start reads
// two such files per partition. A longer file is read whole.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := f.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if n < len(buf) {
		// A short read of a regular file is its end.
		return buf[:n], nil
	}
	rest, err := io.ReadAll(f)
	return append(buf, rest...), err
}

func readPartitionCheckpoint(dir string) (partitionCheckpoint, bool) {
	b, err := readSmallFile(filepath.Join(dir, partitionCheckpointFile))
	if err != nil {
		return partitionCheckpoint{}, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		return partitionCheckpoint{}, false
	}
	f := strings.Fields(lines[1])
	switch {
	case lines[0] == "0" && len(f) == 3:
	case lines[0] == "1" && len(f) == 5:
	default:
		return partitionCheckpoint{}, false
	}
	v := [5]int64{3: noEnd, 4: noEnd}
	for i := range f {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return partitionCheckpoint{}, false
		}
		v[i] = n
	}
	c := partitionCheckpoint{v[0], v[1], v[2], v[3], v[4]}
	if c.endSegment < 0 || c.endPosition < 0 {
		c.endSegment, c.endPosition = noEnd, noEnd
	}
	return c, true
}

type epochEntry struct {
	epoch       int32
	startOffset int64
}

func encodeEpochs(es []epochEntry) []byte { return appendEpochs(nil, es) }

// appendEpochs appends the leader-epoch-checkpoint encoding of es to b.
func appendEpochs(b []byte, es []epochEntry) []byte {
	b = append(b, "0\n"...)
	b = strconv.AppendInt(b, int64(len(es)), 10)
	b = append(b, '\n')
	for _, e := range es {
		b = strconv.AppendInt(b, int64(e.epoch), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, e.startOffset, 10)
		b = append(b, '\n')
	}
	return b
}

func readEpochs(path string) ([]epochEntry, error) {
	b, err := readSmallFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, raw := range strings.Split(string(b), "\n") {
		if l := strings.TrimSpace(raw); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("storage: %s: bad header", path)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("storage: %s: bad count", path)
	}
	out := make([]epochEntry, 0, n)
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("storage: %s: bad line %q", path, l)
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("storage: %s: bad line %q", path, l)
		}
		out = append(out, epochEntry{int32(e), o})
	}
	return out, nil
}
