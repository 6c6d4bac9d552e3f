package controller

import (
	"net/url"
	"strconv"
	"strings"
)

// keys builds and parses the etcd keys under one prefix. docs/etcd-keys.md
// is the reference for the layout and the value formats.
//
// Topic names are path-escaped (url.PathEscape) inside keys so that any name
// is safe as a key segment; every legal Kafka name ([a-zA-Z0-9._-]) is left
// unchanged by the escaping.
type keys struct{ pfx string } // e.g. "/runnel", no trailing slash

func (k keys) root() string             { return k.pfx + "/" }
func (k keys) clusterID() string        { return k.pfx + "/cluster_id" }
func (k keys) broker(id int32) string   { return k.pfx + "/brokers/" + strconv.Itoa(int(id)) }
func (k keys) election() string         { return k.pfx + "/controller" }
func (k keys) topic(name string) string { return k.pfx + "/topics/" + url.PathEscape(name) }
func (k keys) partitions(name string) string {
	return k.pfx + "/partitions/" + url.PathEscape(name) + "/"
}
func (k keys) partition(name string, p int32) string {
	return k.partitions(name) + strconv.Itoa(int(p))
}
func (k keys) topicConfig(name string) string {
	return k.pfx + "/configs/topics/" + url.PathEscape(name)
}
func (k keys) brokerConfig(entity string) string {
	return k.pfx + "/configs/brokers/" + entity
}
func (k keys) producerIDs() string { return k.pfx + "/producer_ids" }
func (k keys) features() string    { return k.pfx + "/features" }

// groupConfig is the key of one group's dynamic configs (config resource
// GROUP); group ids are path-escaped, as any string is a group id.
func (k keys) groupConfig(group string) string {
	return k.pfx + "/configs/groups/" + url.PathEscape(group)
}

// progressMarker is the key WaitRevision writes to see its watch pass a
// revision that brought no event (controller.go); nothing reads it.
func (k keys) progressMarker(broker int32) string {
	return k.pfx + "/progress/" + strconv.Itoa(int(broker))
}

// scram is the key of one user's SCRAM credential for one mechanism
// (SCRAM-SHA-256 or SCRAM-SHA-512); user names are path-escaped.
func (k keys) scram(mechanism, user string) string {
	return k.pfx + "/scram/" + mechanism + "/" + url.PathEscape(user)
}

type keyKind int

const (
	kindOther keyKind = iota
	kindClusterID
	kindBroker
	kindElection
	kindTopic
	kindPartition
	kindTopicConfig
	kindBrokerConfig
	kindGroupConfig
	kindScram
	kindACL
	kindFeatures
	kindQuota
)

type parsedKey struct {
	kind      keyKind
	topic     string      // kindTopic, kindPartition, kindTopicConfig
	partition int32       // kindPartition
	broker    int32       // kindBroker
	entity    string      // kindBrokerConfig: "" or a broker id
	group     string      // kindGroupConfig
	mechanism string      // kindScram
	user      string      // kindScram
	quota     QuotaEntity // kindQuota
}

func (k keys) parse(key string) parsedKey {
	rel, ok := strings.CutPrefix(key, k.root())
	if !ok {
		return parsedKey{}
	}
	unesc := func(s string) (string, bool) {
		n, err := url.PathUnescape(s)
		return n, err == nil
	}
	switch {
	case rel == "cluster_id":
		return parsedKey{kind: kindClusterID}
	case rel == "features":
		return parsedKey{kind: kindFeatures}
	case strings.HasPrefix(rel, "brokers/"):
		id, err := strconv.ParseInt(rel[len("brokers/"):], 10, 32)
		if err != nil {
			return parsedKey{}
		}
		return parsedKey{kind: kindBroker, broker: int32(id)}
	case strings.HasPrefix(rel, "controller/"):
		return parsedKey{kind: kindElection}
	case strings.HasPrefix(rel, "topics/"):
		if n, ok := unesc(rel[len("topics/"):]); ok {
			return parsedKey{kind: kindTopic, topic: n}
		}
	case strings.HasPrefix(rel, "partitions/"):
		rest := rel[len("partitions/"):]
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			return parsedKey{}
		}
		p, err := strconv.ParseInt(rest[i+1:], 10, 32)
		n, ok := unesc(rest[:i])
		if err != nil || !ok {
			return parsedKey{}
		}
		return parsedKey{kind: kindPartition, topic: n, partition: int32(p)}
	case strings.HasPrefix(rel, "configs/topics/"):
		if n, ok := unesc(rel[len("configs/topics/"):]); ok {
			return parsedKey{kind: kindTopicConfig, topic: n}
		}
	case strings.HasPrefix(rel, "configs/brokers/"):
		return parsedKey{kind: kindBrokerConfig, entity: rel[len("configs/brokers/"):]}
	case strings.HasPrefix(rel, "configs/groups/"):
		if n, ok := unesc(rel[len("configs/groups/"):]); ok && n != "" {
			return parsedKey{kind: kindGroupConfig, group: n}
		}
	case strings.HasPrefix(rel, "quotas/"):
		if e, ok := k.parseQuota(rel); ok {
			return parsedKey{kind: kindQuota, quota: e}
		}
	case strings.HasPrefix(rel, "acls/"):
		return parsedKey{kind: kindACL}
	case strings.HasPrefix(rel, "scram/"):
		mech, user, ok := strings.Cut(rel[len("scram/"):], "/")
		if n, uok := unesc(user); ok && uok && mech != "" && n != "" {
			return parsedKey{kind: kindScram, mechanism: mech, user: n}
		}
	}
	return parsedKey{}
}

// Values stored in etcd (JSON).

// topicRecord is the value of topics/<name>: identity and partition
// count. It is written last when a topic is created or extended, and its
// count is the commit: every partition key below Count exists at an
// earlier (or the same) revision, so a watcher that shows the partitions
// below the count shows all of them (docs/etcd-keys.md).
type topicRecord struct {
	ID       string `json:"id"`
	Internal bool   `json:"internal,omitempty"`
	// Count is the number of partitions.
	Count int32 `json:"partition_count,omitempty"`
	// Partitions is the replica assignment Runnel wrote before it wrote
	// Count (its length is the count then); read, never written, and
	// dropped when the record is next rewritten.
	Partitions [][]int32 `json:"partitions,omitempty"`
	// Creating marks a creation claim: the partition keys are still being
	// written (the key is under the creator's lease). Such a topic does
	// not exist for readers.
	Creating bool `json:"creating,omitempty"`
}

// count is the topic's partition count, from either format.
func (r topicRecord) count() int32 {
	if r.Count > 0 {
		return r.Count
	}
	return int32(len(r.Partitions))
}

// partitionRecord is the value of partitions/<name>/<p>: the current
// replica set and leadership state. Replicas here is authoritative (a
// reassignment changes it here only).
type partitionRecord struct {
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	// LeaderBrokerEpoch is absent in state written before Runnel recorded
	// it; it then reads as 0, which no broker epoch equals.
	LeaderBrokerEpoch int64   `json:"leader_broker_epoch,omitempty"`
	Offline           []int32 `json:"offline,omitempty"`
	Adding            []int32 `json:"adding_replicas,omitempty"`
	Removing          []int32 `json:"removing_replicas,omitempty"`
}

func (r partitionRecord) partition(index int32, modRev int64) Partition {
	return Partition{
		Index: index, Replicas: r.Replicas, ISR: r.ISR, Leader: r.Leader,
		LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
		LeaderBrokerEpoch: r.LeaderBrokerEpoch, Offline: r.Offline, Adding: r.Adding, Removing: r.Removing, ModRevision: modRev,
	}
}

func recordOf(p Partition) partitionRecord {
	return partitionRecord{
		Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), Leader: p.Leader,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		LeaderBrokerEpoch: p.LeaderBrokerEpoch, Offline: p.Offline,
		Adding: p.Adding, Removing: p.Removing,
	}
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
