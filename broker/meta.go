package broker

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// metaPropertiesFile is Kafka's log-dir identity file. Runnel writes the
// same keys (version, cluster.id, node.id and the older broker.id) so a
// log dir records which broker and cluster it belongs to.
const metaPropertiesFile = "meta.properties"

// readMetaBrokerID returns the broker id recorded in logDir, if any.
func readMetaBrokerID(logDir string) (int32, bool, error) {
	f, err := os.Open(filepath.Join(logDir, metaPropertiesFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || (k != "node.id" && k != "broker.id") {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return 0, false, fmt.Errorf("broker: %s: bad %s %q", metaPropertiesFile, k, v)
		}
		return int32(id), true, nil
	}
	return 0, false, sc.Err()
}

// writeMetaProperties records the cluster and broker id in logDir,
// atomically (write to a temporary file, fsync, rename).
func writeMetaProperties(logDir, clusterID string, id int32) error {
	body := fmt.Sprintf("#Written by runnel\nversion=1\ncluster.id=%s\nnode.id=%d\nbroker.id=%d\n", clusterID, id, id)
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
	return os.Rename(tmp, path)
}
