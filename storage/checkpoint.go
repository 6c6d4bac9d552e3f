package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Per-partition checkpoint files (text, like Kafka's checkpoint files):
//
//	partition-checkpoint        Runnel's own: "0\n<recoveryPoint> <logStartOffset> <highWatermark>\n".
//	                            Kafka keeps these three per log dir
//	                            (recovery-point-offset-checkpoint,
//	                            log-start-offset-checkpoint,
//	                            replication-offset-checkpoint); Runnel keeps
//	                            them beside the partition so that tens of
//	                            thousands of partitions never rewrite one file.
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
}

func writePartitionCheckpoint(dir string, c partitionCheckpoint, noSync bool) error {
	return writePartitionCheckpointFS(osFileOps{}, dir, c, noSync)
}

func writePartitionCheckpointFS(fs FileOps, dir string, c partitionCheckpoint, noSync bool) error {
	return writeFileAtomicFS(fs, filepath.Join(dir, partitionCheckpointFile), c.encode(), noSync)
}

func (c partitionCheckpoint) encode() []byte {
	return fmt.Appendf(nil, "0\n%d %d %d\n", c.recoveryPoint, c.logStart, c.highWatermark)
}

func readPartitionCheckpoint(dir string) (partitionCheckpoint, bool) {
	b, err := os.ReadFile(filepath.Join(dir, partitionCheckpointFile))
	if err != nil {
		return partitionCheckpoint{}, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "0" {
		return partitionCheckpoint{}, false
	}
	f := strings.Fields(lines[1])
	if len(f) != 3 {
		return partitionCheckpoint{}, false
	}
	var v [3]int64
	for i := range f {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return partitionCheckpoint{}, false
		}
		v[i] = n
	}
	return partitionCheckpoint{v[0], v[1], v[2]}, true
}

type epochEntry struct {
	epoch       int32
	startOffset int64
}

func encodeEpochs(es []epochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.startOffset)
	}
	return b.Bytes()
}

func readEpochs(path string) ([]epochEntry, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
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
