package storage

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Files of a log dir itself, beside the partition directories (the
// partition files are listed in doc.go):
//
//	.lock             Kafka's LogManager lock: an flock, held by the one
//	                  process that uses the dir. The kernel drops it when
//	                  the process dies, so a crash leaves nothing to clean.
//	meta.properties   Kafka's identity file, java.util.Properties text:
//	                  version=1, cluster.id (once the broker has joined a
//	                  cluster), node.id and broker.id (the same value), and
//	                  KIP-858's directory.id (a Kafka Uuid, created once).
//	                  Written with WriteFileAtomic, and only when its content
//	                  changes. Kafka's own file (keys sorted, a date comment)
//	                  reads the same.
const (
	LockFile           = ".lock"
	MetaPropertiesFile = "meta.properties"
)

// LockLogDir takes the exclusive lock of dir, or fails at once with
// Kafka's message when another process holds it. Closing the returned
// file releases it.
func LockLogDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: log dir lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("storage: failed to acquire lock on file %s in %s: another Runnel (or Kafka) process is using this directory", LockFile, dir)
		}
		return nil, fmt.Errorf("storage: log dir lock %s: %w", path, err)
	}
	return f, nil
}

// MetaProperties is a log dir's meta.properties.
type MetaProperties struct {
	// ClusterID is the cluster the log dir's data belongs to; "" until the
	// broker has joined one (or in a file written before Runnel recorded
	// it).
	ClusterID   string
	BrokerID    int32
	HasBrokerID bool
	// DirectoryID is the log dir's directory.id (a Kafka Uuid); "" when
	// absent.
	DirectoryID string
}

// ReadMetaProperties reads dir's meta.properties; a missing file is the
// zero MetaProperties.
func ReadMetaProperties(dir string) (MetaProperties, error) {
	var m MetaProperties
	path := filepath.Join(dir, MetaPropertiesFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "cluster.id":
			m.ClusterID = v
		case "node.id", "broker.id":
			if m.HasBrokerID {
				continue
			}
			id, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return m, fmt.Errorf("storage: %s: bad %s %q", path, k, v)
			}
			m.BrokerID, m.HasBrokerID = int32(id), true
		case "directory.id":
			if b, err := base64.RawURLEncoding.DecodeString(v); err != nil || len(b) != 16 {
				return m, fmt.Errorf("storage: %s: bad directory.id %q", path, v)
			}
			m.DirectoryID = v
		}
	}
	return m, sc.Err()
}

// encode is the file's content. It holds no timestamp, so the same
// MetaProperties always encode to the same bytes and an unchanged file is
// never rewritten.
func (m MetaProperties) encode() []byte {
	var b bytes.Buffer
	b.WriteString("#Written by runnel\nversion=1\n")
	if m.ClusterID != "" {
		fmt.Fprintf(&b, "cluster.id=%s\n", m.ClusterID)
	}
	if m.HasBrokerID {
		fmt.Fprintf(&b, "node.id=%d\nbroker.id=%d\n", m.BrokerID, m.BrokerID)
	}
	if m.DirectoryID != "" {
		fmt.Fprintf(&b, "directory.id=%s\n", m.DirectoryID)
	}
	return b.Bytes()
}

// WriteMetaProperties records m in dir's meta.properties, atomically, and
// only if the file does not already hold exactly that: a restart with the
// same identity writes nothing. It reports whether it wrote.
func WriteMetaProperties(dir string, m MetaProperties) (bool, error) {
	path := filepath.Join(dir, MetaPropertiesFile)
	body := m.encode()
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, body) {
		return false, nil
	}
	if err := WriteFileAtomic(path, body); err != nil {
		return false, err
	}
	return true, nil
}

// NewDirectoryID returns a fresh directory.id: a random Kafka Uuid (16
// bytes, 22 characters of unpadded base64url). As Kafka's Uuid.randomUuid
// does, it avoids the reserved all-zero and one values and strings that
// start with '-' (they read as command-line options).
func NewDirectoryID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // IETF variant
		s := base64.RawURLEncoding.EncodeToString(b[:])
		if s[0] != '-' {
			return s
		}
	}
}

// PartitionDir is a <topic>-<partition> directory found in a log dir.
type PartitionDir struct {
	Topic     string
	Partition int32
}

// PartitionDirs lists the partition directories of dir, as OpenManager
// would load them: neither -delete nor -stray directories, nor anything
// whose name is not <topic>-<partition> (the embedded etcd's directory).
// It opens nothing, so it may run before the Manager, to decide whether
// the log dir holds data.
func PartitionDirs(dir string) ([]PartitionDir, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []PartitionDir
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if topic, part, ok := parsePartitionDir(e.Name()); ok {
			out = append(out, PartitionDir{topic, part})
		}
	}
	return out, nil
}

// CheckpointedLeaderEpoch is the latest leader epoch in the partition's
// leader-epoch-checkpoint under dir, or -1 (none, or unreadable). It opens
// no log: restoring a lost metadata store starts each partition's leader
// epoch above it, so epochs keep increasing along the log.
func CheckpointedLeaderEpoch(dir string, p PartitionDir) int32 {
	es, err := readEpochs(filepath.Join(dir, fmt.Sprintf("%s-%d", p.Topic, p.Partition), epochCheckpointFile))
	if err != nil || len(es) == 0 {
		return -1
	}
	return es[len(es)-1].epoch
}
