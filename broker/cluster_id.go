package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// A log dir belongs to one cluster. Its meta.properties records the
// cluster id once the broker has joined, and the broker refuses, at start
// and before it writes anything to etcd or removes anything from disk, a
// metadata store that holds another cluster (Kafka's
// InconsistentClusterIdException) or none while the log dir holds data: an
// empty or swapped store would otherwise make every partition a stray.
// runnel.cluster.id.recover (config.ClusterIDRecover), set for one start,
// is the operator's way out:
//
//	restore  the store is empty (lost, or a fresh etcd): create the cluster
//	         under the log dir's cluster id and re-create each topic found
//	         in the log dir, its partitions numbered as on disk, replication
//	         factor 1 on this broker, leader epochs above those in the logs.
//	         Internal topics get the configs Runnel creates them with; other
//	         topics' configs were in the lost store and are Kafka's defaults
//	         (set them again with AlterConfigs). Meant for a single broker
//	         (or the one broker whose log dir holds the data); a store that
//	         already holds a cluster is never restored into.
//	adopt    join whatever the store holds (a new cluster if it is empty);
//	         the partitions that cluster does not place on this broker are
//	         kept as <topic>-<partition>.<id>-stray directories.
//
// What the broker knows of its log dir before it opens the metadata store.
type logDirIdentity struct {
	dir     string
	meta    storage.MetaProperties
	parts   []storage.PartitionDir
	recover string // runnel.cluster.id.recover
	// store names the metadata store for messages.
	store string
}

func inspectLogDir(cfg *config.Broker, logDir string, meta storage.MetaProperties) (*logDirIdentity, error) {
	parts, err := storage.PartitionDirs(logDir)
	if err != nil {
		return nil, fmt.Errorf("broker: log dir: %w", err)
	}
	store := "the embedded etcd in " + filepath.Join(logDir, etcdDirName)
	if len(cfg.EtcdEndpoints) > 0 {
		store = config.EtcdEndpoints + "=" + strings.Join(cfg.EtcdEndpoints, ",")
	}
	return &logDirIdentity{dir: logDir, meta: meta, parts: parts, recover: cfg.ClusterIDRecover, store: store}, nil
}

// holdsData: the log dir has been part of a cluster (it records one) or
// holds partition data.
func (d *logDirIdentity) holdsData() bool { return d.meta.ClusterID != "" || len(d.parts) > 0 }

// controllerOptions sets what controller.Open does about a store with no
// cluster id: refuse when the log dir holds data, unless recovering.
func (d *logDirIdentity) controllerOptions(o *controller.Options, hint string) {
	switch {
	case d.recover == "restore":
		o.NewClusterID = d.meta.ClusterID
	case d.recover == "adopt":
	case d.holdsData():
		o.NoNewCluster = true
	default:
		// A new log dir: a new cluster gets the id the environment
		// proposes (CLUSTER_ID, cluster.id), if any.
		o.NewClusterID = hint
	}
}

func (d *logDirIdentity) what() string {
	var s []string
	if d.meta.ClusterID != "" {
		s = append(s, "data of cluster "+d.meta.ClusterID+" ("+filepath.Join(d.dir, storage.MetaPropertiesFile)+")")
	}
	if len(d.parts) > 0 {
		s = append(s, strconv.Itoa(len(d.parts))+" partition directories")
	}
	return strings.Join(s, " and ")
}

// noClusterError is the refusal when the store holds no cluster.
func (d *logDirIdentity) noClusterError() error {
	return fmt.Errorf("broker: refusing to start: the metadata store (%s) holds no cluster, but log dir %s holds %s. "+
		"Starting would create a new cluster without this data's topics. Nothing was changed. "+
		"If the metadata store was lost, start once with %s=restore to re-create the cluster and its topics from this log dir; "+
		"to start a new cluster instead and keep this data aside as -stray directories, use %s=adopt",
		d.store, d.dir, d.what(), config.ClusterIDRecover, config.ClusterIDRecover)
}

// checkClusterID compares the store's cluster id with the log dir's after
// controller.Open, and restores the topics when asked to. It runs before
// meta.properties is written and before the partition logs are opened.
func (b *Broker) checkClusterID(ctx context.Context, d *logDirIdentity) error {
	got, want := b.ctrl.ClusterID(), d.meta.ClusterID
	if want != "" && got != want {
		switch d.recover {
		case "adopt":
			b.log.Warn("joining the metadata store's cluster, not the one this log dir recorded ("+config.ClusterIDRecover+"=adopt); partitions it does not place here are kept as -stray directories",
				zap.String("cluster_id", got), zap.String("log_dir_cluster_id", want))
			return b.setStraysAside(d)
		case "restore":
			return fmt.Errorf("broker: refusing to start: %s=restore re-creates a lost cluster only in an empty metadata store, but %s holds cluster %s (log dir %s belongs to %s). Nothing was changed. "+
				"To join cluster %s, use %s=adopt; to restore, point the broker at an empty metadata store",
				config.ClusterIDRecover, d.store, got, d.dir, want, got, config.ClusterIDRecover)
		default:
			return fmt.Errorf("broker: refusing to start: the metadata store (%s) holds cluster %s, but log dir %s belongs to cluster %s (%s; Kafka's InconsistentClusterIdException): "+
				"the broker is pointed at another cluster's metadata store. Nothing was changed. Check %s; to join cluster %s anyway, start once with %s=adopt "+
				"(partitions it does not place on this broker are kept as -stray directories)",
				d.store, got, d.dir, want, storage.MetaPropertiesFile, config.EtcdEndpoints, got, config.ClusterIDRecover)
		}
	}
	switch {
	case d.recover == "restore" && b.ctrl.CreatedCluster():
		if err := b.restoreTopics(ctx, d); err != nil {
			return err
		}
	case d.recover != "" && !(d.recover == "adopt" && b.ctrl.CreatedCluster()):
		b.log.Warn(config.ClusterIDRecover+" is set but there was nothing to recover: remove it", zap.String("value", d.recover), zap.String("cluster_id", got))
	}
	return b.setStraysAside(d)
}

// setStraysAside renames, before the partition logs are opened, every
// partition directory that the metadata does not place on this broker to
// <topic>-<partition>.<id>-stray (Kafka's stray logs): a topic deleted or
// reassigned away while the broker was down, or data of a cluster given up
// with adopt. They are kept for an operator, never deleted, and are not
// loaded again (storage.Manager counts them: runnel_log_dir_stray_partitions).
func (b *Broker) setStraysAside(d *logDirIdentity) error {
	snap := b.ctrl.Snapshot()
	for _, p := range d.parts {
		if t := snap.Topics[p.Topic]; t != nil {
			if pp := t.Partition(p.Partition); pp != nil && slices.Contains(pp.Replicas, b.id) {
				continue
			}
		}
		path, err := storage.RenameStrayDir(d.dir, p)
		if err != nil {
			return fmt.Errorf("broker: setting aside stray partition %s-%d: %w", p.Topic, p.Partition, err)
		}
		b.log.Warn("partition not in the metadata for this broker: its log is kept, renamed as stray; remove it by hand once it is known to be unneeded",
			zap.String("topic", p.Topic), zap.Int32("partition", p.Partition), zap.String("dir", path))
	}
	return nil
}

// restoreTopics re-creates, in the store just created, every topic found
// in the log dir, on this broker alone. The broker registers first (the
// topics' leader must be registered, with the broker epoch it will lead
// under); the registration is updated in place with the bound listener
// ports by register later, keeping the epoch.
func (b *Broker) restoreTopics(ctx context.Context, d *logDirIdentity) error {
	info := b.registration(b.configuredEndpoints())
	if err := b.ctrl.RegisterBroker(ctx, info); err != nil {
		return fmt.Errorf("broker: restoring: registering: %w", err)
	}
	// Epochs without batches a clean shutdown left in the dir's
	// pending-epochs file rather than in each partition's.
	pending := storage.PendingLeaderEpochs(d.dir)
	count := map[string]int32{}
	for _, p := range d.parts {
		count[p.Topic] = max(count[p.Topic], p.Partition+1)
	}
	names := make([]string, 0, len(count))
	for n := range count {
		names = append(names, n)
	}
	sort.Strings(names)
	var last int64
	for _, name := range names {
		spec := controller.TopicSpec{Name: name, Assignments: map[int32][]int32{}}
		n := count[name]
		switch name {
		case offsetsTopicName:
			// The group → partition mapping hashes over the partition
			// count: keep the configured one.
			n = max(n, b.cfg.OffsetsTopicNumPartitions)
			spec.Internal = true
			spec.Configs = map[string]string{"cleanup.policy": "compact", "segment.bytes": strconv.Itoa(int(b.cfg.OffsetsTopicSegmentBytes))}
		case txnTopicName:
			n = max(n, b.cfg.TransactionStateLogPartitions)
			spec.Internal = true
			spec.Configs = map[string]string{"cleanup.policy": "compact", "segment.bytes": strconv.Itoa(int(b.cfg.TransactionStateLogSegmentB)),
				"min.insync.replicas": "1", "compression.type": "uncompressed"}
		}
		for p := range n {
			spec.Assignments[p] = []int32{b.id}
		}
		t, rev, err := b.ctrl.CreateTopic(ctx, spec, false)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("broker: restoring topic %s: %w", name, err)
		}
		last = max(last, rev)
		for _, p := range t.Partitions {
			pd := storage.PartitionDir{Topic: name, Partition: p.Index}
			e := storage.CheckpointedLeaderEpoch(d.dir, pd)
			if pe, ok := pending[pd]; ok {
				e = max(e, pe)
			}
			if e < p.LeaderEpoch {
				continue
			}
			p.LeaderEpoch = e + 1
			rev, err := b.ctrl.UpdatePartition(ctx, name, p)
			if err != nil {
				return fmt.Errorf("broker: restoring topic %s: leader epoch: %w", name, err)
			}
			last = max(last, rev)
		}
		b.log.Warn("restored topic from the log dir ("+config.ClusterIDRecover+"=restore): its configs were in the lost metadata store and are now the defaults",
			zap.String("topic", name), zap.Int32("partitions", n), zap.String("topic_id", t.ID.String()))
	}
	if last > 0 {
		if err := b.ctrl.WaitRevision(ctx, last); err != nil {
			return err
		}
	}
	b.log.Warn("restored the cluster from the log dir: remove "+config.ClusterIDRecover+" from the configuration",
		zap.String("cluster_id", b.ctrl.ClusterID()), zap.Int("topics", len(names)))
	return nil
}

// configuredEndpoints are the advertised listeners as configured (a port
// 0 listener is not bound yet), for the registration restoreTopics needs
// before the listeners exist.
func (b *Broker) configuredEndpoints() []controller.Endpoint {
	var out []controller.Endpoint
	for _, l := range b.cfg.AdvertisedListeners {
		out = append(out, controller.Endpoint{Listener: l.Name, Host: l.Host, Port: int32(l.Port), SecurityProtocol: l.SecurityProtocol})
	}
	return out
}
