package protocol

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Floor returns the lowest version of an API that Kafka 4 accepts on the
// wire (KIP-896 moved the baseline to Kafka 2.1; versions below the floor are
// refused). APIs KIP-896 did not touch have floor 0.
func Floor(key int16) int16 {
	switch key {
	case 0: // Produce v0–v2 removed; still advertised from v0 (see AdvertisedMin).
		return 3
	case 1: // Fetch v0–v3
		return 4
	case 2: // ListOffsets v0
		return 1
	case 8: // OffsetCommit v0–v1
		return 2
	case 9: // OffsetFetch v0
		return 1
	case 19: // CreateTopics v0–v1
		return 2
	case 20: // DeleteTopics v0
		return 1
	case 23: // OffsetForLeaderEpoch v0–v1
		return 2
	case 27: // WriteTxnMarkers v0
		return 1
	case 29, 30, 31: // DescribeAcls, CreateAcls, DeleteAcls v0
		return 1
	case 32: // DescribeConfigs v0
		return 1
	case 34, 35: // AlterReplicaLogDirs, DescribeLogDirs v0
		return 1
	case 38, 39, 40, 41: // Create/Renew/Expire/DescribeDelegationToken v0
		return 1
	case 56: // AlterPartition v0–v1
		return 2
	case 76, 77, 78, 79: // share-group APIs: v0 was early access only
		return 1
	}
	return 0
}

// AdvertisedMin is the lowest version listed for key in ApiVersions. It
// equals Floor except for Produce, which Kafka 4 lists from v0 while refusing
// v0–v2 on the wire, because librdkafka disables compression unless Produce
// v0 is in the table (KAFKA-18659).
func AdvertisedMin(key int16) int16 {
	if key == 0 {
		return 0
	}
	return Floor(key)
}

// MaxKnown returns the highest version kmsg can encode and decode for key,
// or -1 for a key kmsg does not know.
func MaxKnown(key int16) int16 {
	r := kmsg.RequestForKey(key)
	if r == nil {
		return -1
	}
	return r.MaxVersion()
}

// Supported reports whether a version of key can be decoded and is allowed on
// the wire by Kafka 4: Floor(key) <= version <= MaxKnown(key). A broker also
// bounds it by what it implements: see [Table.Supported].
func Supported(key, version int16) bool {
	return version >= Floor(key) && version <= MaxKnown(key)
}

// VersionRange is the advertised range of one API.
type VersionRange struct {
	Key        int16
	MinVersion int16 // advertised minimum (AdvertisedMin)
	MaxVersion int16
}

// Table is the immutable set of API versions a broker serves: for each key it
// implements, from the Kafka 4 floor up to the lower of its implemented
// maximum and kmsg's. Safe for concurrent use.
type Table struct {
	ranges []VersionRange // sorted by Key
}

// NewTable builds the table from the broker's implemented keys and the
// highest version it implements for each. Keys kmsg does not know, and keys
// whose implemented maximum is below the floor, are left out.
func NewTable(implemented map[int16]int16) *Table {
	t := &Table{}
	for key, implMax := range implemented {
		maxV := min(implMax, MaxKnown(key))
		if maxV < 0 || maxV < Floor(key) {
			continue
		}
		t.ranges = append(t.ranges, VersionRange{Key: key, MinVersion: AdvertisedMin(key), MaxVersion: maxV})
	}
	sort.Slice(t.ranges, func(i, j int) bool { return t.ranges[i].Key < t.ranges[j].Key })
	return t
}

// Range returns the advertised range for key.
func (t *Table) Range(key int16) (VersionRange, bool) {
	i := sort.Search(len(t.ranges), func(i int) bool { return t.ranges[i].Key >= key })
	if i < len(t.ranges) && t.ranges[i].Key == key {
		return t.ranges[i], true
	}
	return VersionRange{}, false
}

// Supported reports whether the broker accepts this version of key on the
// wire: the key is in the table and Floor(key) <= version <= its maximum.
// Produce v0–v2 are advertised but not supported.
func (t *Table) Supported(key, version int16) bool {
	r, ok := t.Range(key)
	return ok && version >= Floor(key) && version <= r.MaxVersion
}

// Ranges returns a copy of the table, sorted by key.
func (t *Table) Ranges() []VersionRange {
	return append([]VersionRange(nil), t.ranges...)
}

// APIKeys returns the table as the ApiKeys field of an ApiVersionsResponse,
// sorted by key.
func (t *Table) APIKeys() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, len(t.ranges))
	for i, r := range t.ranges {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = r.Key, r.MinVersion, r.MaxVersion
		out[i] = k
	}
	return out
}
