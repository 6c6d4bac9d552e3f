package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Feature flags (KIP-584)
//
// Kafka finalizes a level for each cluster-wide feature; clients read the
// finalized levels from ApiVersions (v3+) and switch protocols on them
// (franz-go and the Java producer use transactions version 2 only when
// transaction.version >= 2 is finalized). Runnel keeps the finalized
// levels in one etcd key (docs/etcd-keys.md), written with
// compare-and-swap on its mod revision, and every broker follows it
// through the metadata watch, so a change applies without restarts.

// Feature names Runnel serves.
const (
	FeatureTransactionVersion = "transaction.version"
	FeatureGroupVersion       = "group.version"
	FeatureShareVersion       = "share.version"
)

// FeatureRange is one feature this software supports: the levels it can
// run at and the level a new cluster starts with.
type FeatureRange struct {
	Name            string
	Min, Max        int16
	NewClusterLevel int16
}

// SupportedFeatures lists the features Runnel supports, sorted by name.
// Kafka 4.x formats a new cluster at the latest production level of each
// feature: transaction.version 2 (KIP-890 part 2) and group.version 1
// (KIP-848). share.version 1 turns share groups on (KIP-932); Kafka 4.1
// leaves it at 0 in a new cluster (early access).
func SupportedFeatures() []FeatureRange {
	return []FeatureRange{
		{Name: FeatureGroupVersion, Min: 0, Max: 1, NewClusterLevel: 1},
		{Name: FeatureShareVersion, Min: 0, Max: 1, NewClusterLevel: 0},
		{Name: FeatureTransactionVersion, Min: 0, Max: 2, NewClusterLevel: 2},
	}
}

// SupportedFeature returns the range of name, ok false for a feature
// Runnel does not know.
func SupportedFeature(name string) (FeatureRange, bool) {
	for _, f := range SupportedFeatures() {
		if f.Name == name {
			return f, true
		}
	}
	return FeatureRange{}, false
}

// newClusterFeatures is the feature record a new cluster is created with.
func newClusterFeatures() map[string]int16 {
	out := map[string]int16{}
	for _, f := range SupportedFeatures() {
		if f.NewClusterLevel > 0 {
			out[f.Name] = f.NewClusterLevel
		}
	}
	return out
}

// FinalizedFeatures are the cluster's finalized feature levels. Levels
// holds only features above level 0 (Kafka leaves level 0 out of
// ApiVersions too). Epoch is the mod revision of the features key, which
// only grows; -1 when the key does not exist (a cluster created by a
// Runnel that had no features: every level is 0, as in a Kafka cluster
// upgraded from a release without them).
type FinalizedFeatures struct {
	Levels map[string]int16
	Epoch  int64
}

// Level is the finalized level of name (0 when not finalized).
func (f FinalizedFeatures) Level(name string) int16 { return f.Levels[name] }

// featuresRecord is the value of the features key: name → level.
type featuresRecord map[string]int16

// ErrFeaturesChanged is returned (wrapped, with kerr.InvalidUpdateVersion
// semantics left to the caller) by SetFeatures when the features key
// changed since the caller read it.
var ErrFeaturesChanged = errors.New("controller: finalized features changed since they were read")

// SetFeatures replaces the finalized levels with levels (level 0 entries
// are dropped) if the features key is still at epoch (its mod revision;
// -1 for an absent key). It returns the new epoch, or an error wrapping
// ErrFeaturesChanged when another writer got there first.
func (c *Controller) SetFeatures(ctx context.Context, epoch int64, levels map[string]int16) (int64, error) {
	rec := featuresRecord{}
	for n, l := range levels {
		if l > 0 {
			rec[n] = l
		}
	}
	key := c.k.features()
	guard := clientv3.Compare(clientv3.ModRevision(key), "=", epoch)
	if epoch < 0 {
		guard = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	v, _ := json.Marshal(rec)
	resp, err := c.cli.Txn(ctx).If(guard).Then(clientv3.OpPut(key, string(v))).Commit()
	if err != nil {
		return 0, fmt.Errorf("controller: set features: %w", err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%w: %w", kerr.InvalidUpdateVersion, ErrFeaturesChanged)
	}
	return resp.Header.Revision, nil
}

// featuresPut is the operation that writes a new cluster's features.
func (c *Controller) featuresPut() clientv3.Op {
	v, _ := json.Marshal(featuresRecord(newClusterFeatures()))
	return clientv3.OpPut(c.k.features(), string(v))
}

// snapshotFeatures copies the state's features for a snapshot.
func (s *state) snapshotFeatures() FinalizedFeatures {
	return FinalizedFeatures{Levels: maps.Clone(s.features), Epoch: s.featuresEpoch}
}
