package controller

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"

	"github.com/runnel/runnel/security/authz"
)

// TopicID is a topic's UUID (Kafka's Uuid), random and never reused.
type TopicID [16]byte

// String is Kafka's rendering of a Uuid: unpadded base64url, 22 characters.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// IsZero reports whether id is Kafka's ZERO_UUID.
func (id TopicID) IsZero() bool { return id == TopicID{} }

// ParseTopicID parses the String form.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("controller: bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// newUUID returns a random version-4 UUID that is neither Kafka's ZERO_UUID
// nor its reserved METADATA_TOPIC_ID (…0001), and does not start with '-' in
// its base64 form (Kafka avoids those so they cannot look like CLI flags).
func newUUID() TopicID {
	for {
		var id TopicID
		if _, err := rand.Read(id[:]); err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id.String()[0] == '-' {
			continue
		}
		return id
	}
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Listener         string `json:"listener"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
	SecurityProtocol string `json:"security_protocol"`
}

// BrokerInfo is a live broker's registration. Epoch is the etcd revision
// that created the registration key: it grows every time the broker
// registers anew (after a restart or a lost session), like Kafka's broker
// epoch (the czxid of the ZooKeeper node). Lease is the etcd lease the key
// lives under (its owner's session).
//
// DirectoryID is the directory.id of the broker's log dir (KIP-858's
// meta.properties key): registering with one asserts that the registering
// process holds that directory's exclusive lock, so that a registration
// found under the same DirectoryID belongs to a dead process (takeover.go).
// Empty: no such claim, and no takeover.
type BrokerInfo struct {
	ID          int32      `json:"-"`
	Rack        string     `json:"rack,omitempty"`
	Endpoints   []Endpoint `json:"endpoints"`
	DirectoryID string     `json:"directory_id,omitempty"`
	// Host and BootID name the machine and the boot of the kernel the
	// registering process ran under (hostname, and Linux's
	// /proc/sys/kernel/random/boot_id): a registration is taken over only
	// from the same log dir on the same host in the same boot, where the
	// log dir's flock proves its writer dead (takeover.go).
	Host   string `json:"host,omitempty"`
	BootID string `json:"boot_id,omitempty"`
	Epoch  int64  `json:"-"`
	Lease  int64  `json:"-"`
}

// Partition is one partition's replica assignment and state. Leader is -1
// when no replica can lead. ModRevision is the etcd mod revision of the
// partition key this value was read from; UpdatePartition compares it.
type Partition struct {
	Index          int32
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// LeaderBrokerEpoch is the broker epoch (BrokerInfo.Epoch) of the
	// leader's registration when it was made leader: a broker leads only
	// while it equals its own current epoch, so a restarted broker never
	// leads on state written for its previous process (0: not recorded,
	// as in state written by an older Runnel; nobody leads on it).
	LeaderBrokerEpoch int64
	Offline           []int32
	// Adding and Removing describe a reassignment in progress (KIP-455):
	// Replicas is then the target followed by the replicas being removed;
	// Adding are target replicas not in the original assignment, Removing
	// original replicas not in the target. Both are empty otherwise.
	Adding      []int32
	Removing    []int32
	ModRevision int64
}

// Stale reports whether p's state about broker id predates id's current
// registration: id is registered and either leads p under another, older
// broker epoch (LeaderBrokerEpoch), or is listed in p's ISR although it
// registered after p's state was last written. Either way it restarted
// since it was put there, and its log may lack what it had acknowledged.
// Such a broker is treated as failed and started again (Kafka's bounced
// broker): it leaves the ISR and the leadership, and must catch up before
// it counts again. State without a LeaderBrokerEpoch (written by an older
// Runnel) says nothing about its leader by that field.
func (s *Snapshot) Stale(p Partition, id int32) bool {
	b, ok := s.Brokers[id]
	if !ok {
		return false
	}
	if id == p.Leader && p.LeaderBrokerEpoch != 0 && p.LeaderBrokerEpoch != b.Epoch {
		return true
	}
	return b.Epoch > p.ModRevision && slices.Contains(p.ISR, id)
}

// Eligible reports whether broker id is registered and not Stale for p:
// one that may lead p or count as in sync.
func (s *Snapshot) Eligible(p Partition, id int32) bool {
	_, ok := s.Brokers[id]
	return ok && !s.Stale(p, id)
}

// BrokerEpoch is the broker epoch of id's registration, 0 when id is not
// registered.
func (s *Snapshot) BrokerEpoch(id int32) int64 { return s.Brokers[id].Epoch }

// Topic is one topic with its partitions (sorted by Index) and its
// topic-level config overrides (never nil).
type Topic struct {
	Name       string
	ID         TopicID
	Internal   bool
	Partitions []Partition
	Configs    map[string]string
}

// Partition returns partition i, or nil.
func (t *Topic) Partition(i int32) *Partition {
	if i < 0 || int(i) >= len(t.Partitions) || t.Partitions[i].Index != i {
		for k := range t.Partitions {
			if t.Partitions[k].Index == i {
				return &t.Partitions[k]
			}
		}
		return nil
	}
	return &t.Partitions[i]
}

// Snapshot is the cluster metadata as of one etcd revision. It is never
// modified after it is published; a new one replaces it on every change.
type Snapshot struct {
	Revision      int64
	ClusterID     string
	ControllerID  int32 // -1 when no controller is elected
	Brokers       map[int32]BrokerInfo
	Topics        map[string]*Topic
	TopicsByID    map[TopicID]*Topic
	BrokerConfigs map[string]map[string]string // "" = cluster-wide default, "<id>" = one broker
	// GroupConfigs are the groups' dynamic configs (config resource
	// GROUP): group id → key → value; only groups that set a key.
	GroupConfigs map[string]map[string]string
	// ScramCredentials are the SCRAM users: user → mechanism name
	// (SCRAM-SHA-256, SCRAM-SHA-512) → credential.
	ScramCredentials map[string]map[string]ScramCredential
	// ACLs are every ACL binding (acls.go), in a stable order.
	ACLs []authz.Binding
	// Features are the finalized feature levels (features.go).
	Features FinalizedFeatures
	// ClientQuotas are every client quota entity's quotas (quotas.go);
	// never nil, and the same pointer while no quota changes.
	ClientQuotas *ClientQuotas
}

// TopicSpec describes a topic to create. NumPartitions and
// ReplicationFactor of -1 mean the defaults from Options; with explicit
// Assignments both must be -1 (or 0) and Assignments decides.
type TopicSpec struct {
	Name              string
	NumPartitions     int32
	ReplicationFactor int16
	Assignments       map[int32][]int32
	Configs           map[string]string
	Internal          bool
}

// SameBrokers reports whether s and o share one Brokers map: no broker
// registered, left or re-registered between them. (A snapshot reuses its
// predecessor's maps for what did not change, and its *Topic values for
// topics that did not change.)
func (s *Snapshot) SameBrokers(o *Snapshot) bool { return sameMap(s.Brokers, o.Brokers) }

// SameBrokerConfigs reports whether s and o share one BrokerConfigs map:
// no dynamic broker config changed between them.
func (s *Snapshot) SameBrokerConfigs(o *Snapshot) bool {
	return sameMap(s.BrokerConfigs, o.BrokerConfigs)
}

func sameMap[M ~map[K]V, K comparable, V any](a, b M) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
