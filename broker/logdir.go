package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"go.uber.org/zap"
)

// The broker's side of its log dir's identity; the files themselves
// (meta.properties, .lock) are storage's (storage/logdir.go).

// logDirID is the directory.id recorded in meta, or a new one for a log
// dir that has none yet (writeMetaProperties records it before the first
// registration carries it). The broker puts it in its registration:
// together with the log dir lock it proves that a registration carrying
// it was left by a dead process (controller's takeover.go).
func logDirID(meta storage.MetaProperties) string {
	if meta.DirectoryID != "" {
		return meta.DirectoryID
	}
	return storage.NewDirectoryID()
}

// writeMetaProperties records the cluster id, broker id and directory id
// in the log dir (only if they changed). It runs before the broker
// registers, so a directory id is durable before any registration carries
// it.
func (b *Broker) writeMetaProperties(logDir string, old storage.MetaProperties) error {
	m := storage.MetaProperties{ClusterID: b.ctrl.ClusterID(), BrokerID: b.id, HasBrokerID: true, DirectoryID: b.dirID}
	wrote, err := storage.WriteMetaProperties(logDir, m)
	if err != nil {
		return fmt.Errorf("broker: %s: %w", storage.MetaPropertiesFile, err)
	}
	if wrote {
		b.log.Info("wrote "+storage.MetaPropertiesFile, zap.String("cluster_id", m.ClusterID), zap.String("previous_cluster_id", old.ClusterID), zap.String("directory_id", m.DirectoryID))
	}
	return nil
}

// brokerID is broker.id, checked against the id recorded in the log dir's
// meta.properties (Kafka refuses to start a log dir under another id). An
// unset id takes the recorded one, or 1 on a new log dir.
func brokerID(cfg *config.Broker, logDir string, meta storage.MetaProperties) (int32, error) {
	recorded, ok := meta.BrokerID, meta.HasBrokerID
	switch {
	case cfg.BrokerID >= 0 && ok && recorded != cfg.BrokerID:
		return 0, fmt.Errorf("broker: configured broker.id %d does not match %d stored in %s", cfg.BrokerID, recorded, filepath.Join(logDir, storage.MetaPropertiesFile))
	case cfg.BrokerID >= 0:
		return cfg.BrokerID, nil
	case ok:
		return recorded, nil
	default:
		return 1, nil
	}
}

// dirDeleteDelay is how long a deleted partition's directory is kept
// (storage.ManagerOptions.DirDeleteDelay): log.segment.delete.delay.ms, the
// broker default of file.delete.delay.ms, which Kafka's LogManager uses
// for deleted logs; 0 there means at once.
func dirDeleteDelay(cfg *config.Broker) time.Duration {
	if cfg.LogSegmentDeleteDelayMs <= 0 {
		return -1
	}
	return time.Duration(cfg.LogSegmentDeleteDelayMs) * time.Millisecond
}

// registration is what the broker registers with: besides its endpoints,
// the log dir's directory.id and the host and kernel boot it runs in,
// which together let its next process on this machine take over a
// registration it left behind (controller/takeover.go).
func (b *Broker) registration(endpoints []controller.Endpoint) controller.BrokerInfo {
	host, _ := os.Hostname()
	return controller.BrokerInfo{ID: b.id, Rack: b.cfg.BrokerRack, Endpoints: endpoints, DirectoryID: b.dirID,
		Host: host, BootID: bootID()}
}

// bootID is Linux's random id of the running kernel's boot, "" where there
// is none (no takeover is then possible: the broker waits out the lease).
func bootID() string {
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(id))
}
