package broker

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/runnel/runnel/controller"
)

// metaPropertiesFile is Kafka's log-dir identity file. Runnel writes the
// same keys (version, cluster.id, node.id and the older broker.id, and
// KIP-858's directory.id) so a log dir records which broker and cluster it
// belongs to, and its own identity.
const metaPropertiesFile = "meta.properties"

// metaProperties is what Runnel reads back from meta.properties.
type metaProperties struct {
	brokerID    int32
	hasBrokerID bool
	// directoryID is the log dir's directory.id (a Kafka Uuid); "" when
	// absent (a new log dir, or one written before Runnel recorded it).
	directoryID string
}

// readMetaProperties reads logDir's meta.properties; a missing file is an
// empty result.
func readMetaProperties(logDir string) (metaProperties, error) {
	var m metaProperties
	f, err := os.Open(filepath.Join(logDir, metaPropertiesFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "node.id", "broker.id":
			if m.hasBrokerID {
				continue
			}
			id, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return m, fmt.Errorf("broker: %s: bad %s %q", metaPropertiesFile, k, v)
			}
			m.brokerID, m.hasBrokerID = int32(id), true
		case "directory.id":
			if b, err := base64.RawURLEncoding.DecodeString(v); err != nil || len(b) != 16 {
				return m, fmt.Errorf("broker: %s: bad directory.id %q", metaPropertiesFile, v)
			}
			m.directoryID = v
		}
	}
	return m, sc.Err()
}

// logDirID is the directory.id recorded in logDir, or a new one for a log
// dir that has none yet (writeMetaProperties records it). The broker puts
// it in its registration: together with the log dir lock it proves that a
// registration carrying it was left by a dead process (controller's
// takeover.go).
func logDirID(logDir string) (string, error) {
	m, err := readMetaProperties(logDir)
	if err != nil {
		return "", err
	}
	if m.directoryID != "" {
		return m.directoryID, nil
	}
	return controller.NewDirectoryID(), nil
}

// writeMetaProperties records the cluster id, broker id and directory id
// in logDir, atomically (write to a temporary file, fsync, rename, fsync
// the directory). It runs before the broker registers, so a directory id
// is durable before any registration carries it.
func writeMetaProperties(logDir, clusterID string, id int32, dirID string) error {
	body := fmt.Sprintf("#Written by runnel\nversion=1\ncluster.id=%s\nnode.id=%d\nbroker.id=%d\ndirectory.id=%s\n", clusterID, id, id, dirID)
	path := filepath.Join(logDir, metaPropertiesFile)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(logDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
