package coordinator

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one record of a __consumer_offsets partition. A nil Value is a
// tombstone: it deletes its key when the topic is compacted, and deletes
// what the key names when the partition is replayed.
type Record struct {
	Key, Value []byte
}

// Log is one __consumer_offsets partition as the coordinator uses it. The
// broker implements it over the local leader replica.
type Log interface {
	// Append writes records as one batch, in order, and returns once they
	// are committed (acks=all: replicated to the ISR, below the high
	// watermark). An error means the records may or may not be in the log.
	Append(ctx context.Context, records []Record) error
	// Replay calls fn for every record of the partition from its start up
	// to its committed end, in offset order. Key and value are only valid
	// during the call.
	Replay(ctx context.Context, fn func(key, value []byte) error) error
}

// Record key versions of Kafka's __consumer_offsets schema: versions 0 and 1
// are offset commits (same layout), 2 is classic group metadata, 3–8 are
// KIP-848 consumer-group records (records_848.go). Higher versions (share
// and streams groups, regex resolutions) are skipped when replaying.
const (
	offsetKeyVersion        = 1
	groupMetadataKeyVersion = 2
	// offsetValueVersion 3 carries the leader epoch; 4 (flexible) adds the
	// topic id as a tagged field, which Kafka 3.x cannot read.
	offsetValueVersion = 3
	// groupValueVersion 3 carries group.instance.id.
	groupValueVersion = 3
)

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(o offsetEntry) []byte {
	v := kmsg.OffsetCommitValue{
		Version:         offsetValueVersion,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitMs,
	}
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupMetadataKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// isConsumerGroupKey reports whether a record key is a KIP-848
// consumer-group record's (key versions 3–8).
func isConsumerGroupKey(key []byte) bool {
	if len(key) < 2 {
		return false
	}
	v := int16(key[0])<<8 | int16(key[1])
	return v >= cgMetadataKeyVersion && v <= cgCurrentMemberAssignmentKeyVersion
}

// decodedRecord is one replayed record: exactly one of offset and group
// is set.
type decodedRecord struct {
	offset *struct {
		key   kmsg.OffsetCommitKey
		value *kmsg.OffsetCommitValue // nil: tombstone
	}
	group *struct {
		key   kmsg.GroupMetadataKey
		value *kmsg.GroupMetadataValue // nil: tombstone
	}
}

// decodeRecord parses a __consumer_offsets record. Records of key versions
// this coordinator does not know are skipped (ok false, no error).
func decodeRecord(key, value []byte) (rec decodedRecord, ok bool, err error) {
	if len(key) < 2 {
		return rec, false, fmt.Errorf("coordinator: record key of %d bytes", len(key))
	}
	version := int16(key[0])<<8 | int16(key[1])
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return rec, false, fmt.Errorf("coordinator: offset commit key: %w", err)
		}
		rec.offset = &struct {
			key   kmsg.OffsetCommitKey
			value *kmsg.OffsetCommitValue
		}{key: k}
		if value != nil {
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(value); err != nil {
				return rec, false, fmt.Errorf("coordinator: offset commit value: %w", err)
			}
			rec.offset.value = &v
		}
		return rec, true, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return rec, false, fmt.Errorf("coordinator: group metadata key: %w", err)
		}
		rec.group = &struct {
			key   kmsg.GroupMetadataKey
			value *kmsg.GroupMetadataValue
		}{key: k}
		if value != nil {
			var v kmsg.GroupMetadataValue
			if err := v.ReadFrom(value); err != nil {
				return rec, false, fmt.Errorf("coordinator: group metadata value: %w", err)
			}
			rec.group.value = &v
		}
		return rec, true, nil
	}
	return rec, false, nil
}
