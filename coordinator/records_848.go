package coordinator

// The KIP-848 consumer-group records of __consumer_offsets, in the layout of
// Kafka's group coordinator (its message JSON files
// ConsumerGroup*Key.json/ConsumerGroup*Value.json). kmsg has no types for
// them, so they are encoded here.
//
// A key is the non-flexible encoding of its version (which names the record
// type) and the group id, plus the member id for per-member records. A value
// is version 0, flexible: compact strings and arrays, a tagged-field section
// after every struct. Tagged fields are written empty and skipped when read
// (Kafka puts ClassicMemberMetadata, used for online migration from the
// classic protocol, and from 4.1 the group's metadata hash there; neither is
// used by this coordinator). A nil value is a tombstone.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Key versions (Kafka's record types) of the consumer-group records.
const (
	cgMetadataKeyVersion                 int16 = 3 // ConsumerGroupMetadata: the group epoch
	cgPartitionMetadataKeyVersion        int16 = 4 // ConsumerGroupPartitionMetadata: subscribed topics
	cgMemberMetadataKeyVersion           int16 = 5 // ConsumerGroupMemberMetadata: a member's subscription
	cgTargetAssignmentMetadataKeyVersion int16 = 6 // ConsumerGroupTargetAssignmentMetadata: assignment epoch
	cgTargetAssignmentMemberKeyVersion   int16 = 7 // ConsumerGroupTargetAssignmentMember: a member's target
	cgCurrentMemberAssignmentKeyVersion  int16 = 8 // ConsumerGroupCurrentMemberAssignment: a member's epochs and partitions
)

// cgKey is the key of a consumer-group record; member is empty for the
// group-level records (versions 3, 4, 6).
type cgKey struct {
	version       int16
	group, member string
}

func (k cgKey) perMember() bool {
	switch k.version {
	case cgMemberMetadataKeyVersion, cgTargetAssignmentMemberKeyVersion, cgCurrentMemberAssignmentKeyVersion:
		return true
	}
	return false
}

func (k cgKey) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(k.version))
	b = appendString(b, k.group)
	if k.perMember() {
		b = appendString(b, k.member)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// decodeCGKey parses a consumer-group record key (versions 3–8).
func decodeCGKey(key []byte) (cgKey, error) {
	r := &recReader{b: key}
	k := cgKey{version: r.int16()}
	k.group = r.string()
	if k.perMember() {
		k.member = r.string()
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return k, r.err
}

// cgMetadataValue is ConsumerGroupMetadataValue.
type cgMetadataValue struct {
	epoch int32
}

// cgTopicMetadata is one topic of ConsumerGroupPartitionMetadataValue. Its
// PartitionMetadata (racks per partition, unused since Kafka 4.0) is
// written empty and not kept when read.
type cgTopicMetadata struct {
	id         [16]byte
	name       string
	partitions int32
}

// cgPartitionMetadataValue is ConsumerGroupPartitionMetadataValue.
type cgPartitionMetadataValue struct {
	topics []cgTopicMetadata
}

// cgMemberMetadataValue is ConsumerGroupMemberMetadataValue.
type cgMemberMetadataValue struct {
	instanceID, rackID   *string
	clientID, clientHost string
	topicNames           []string
	regex                *string
	rebalanceTimeoutMs   int32
	serverAssignor       *string
}

// cgTopicPartitions is Kafka's TopicPartitions/TopicPartition struct.
type cgTopicPartitions struct {
	id         [16]byte
	partitions []int32
}

// cgTargetAssignmentMetadataValue is ConsumerGroupTargetAssignmentMetadataValue.
type cgTargetAssignmentMetadataValue struct {
	assignmentEpoch int32
}

// cgTargetAssignmentMemberValue is ConsumerGroupTargetAssignmentMemberValue.
type cgTargetAssignmentMemberValue struct {
	topics []cgTopicPartitions
}

// cgCurrentMemberAssignmentValue is ConsumerGroupCurrentMemberAssignmentValue.
// state is Kafka's MemberState byte: 0 STABLE, 1 UNREVOKED_PARTITIONS,
// 2 UNRELEASED_PARTITIONS.
type cgCurrentMemberAssignmentValue struct {
	memberEpoch, previousMemberEpoch int32
	state                            int8
	assigned, pendingRevocation      []cgTopicPartitions
}

// Kafka's MemberState bytes.
const (
	kafkaMemberStable     int8 = 0
	kafkaMemberUnrevoked  int8 = 1
	kafkaMemberUnreleased int8 = 2
)

// recWriter appends a flexible (version 0) value.
type recWriter struct{ b []byte }

func newValueWriter() *recWriter {
	return &recWriter{b: binary.BigEndian.AppendUint16(nil, 0)}
}

func (w *recWriter) int8(v int8)   { w.b = append(w.b, byte(v)) }
func (w *recWriter) int32(v int32) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *recWriter) uvarint(v int) { w.b = binary.AppendUvarint(w.b, uint64(v)) }
func (w *recWriter) uuid(v [16]byte) {
	w.b = append(w.b, v[:]...)
}
func (w *recWriter) string(s string) {
	w.uvarint(len(s) + 1)
	w.b = append(w.b, s...)
}
func (w *recWriter) nullableString(s *string) {
	if s == nil {
		w.uvarint(0)
		return
	}
	w.string(*s)
}
func (w *recWriter) strings(ss []string) {
	w.uvarint(len(ss) + 1)
	for _, s := range ss {
		w.string(s)
	}
}
func (w *recWriter) int32s(vs []int32) {
	w.uvarint(len(vs) + 1)
	for _, v := range vs {
		w.int32(v)
	}
}
func (w *recWriter) noTags() { w.uvarint(0) }
func (w *recWriter) topicPartitions(tps []cgTopicPartitions) {
	w.uvarint(len(tps) + 1)
	for _, tp := range tps {
		w.uuid(tp.id)
		w.int32s(tp.partitions)
		w.noTags()
	}
}

func (v cgMetadataValue) encode() []byte {
	w := newValueWriter()
	w.int32(v.epoch)
	w.noTags()
	return w.b
}

func (v cgPartitionMetadataValue) encode() []byte {
	w := newValueWriter()
	w.uvarint(len(v.topics) + 1)
	for _, t := range v.topics {
		w.uuid(t.id)
		w.string(t.name)
		w.int32(t.partitions)
		w.uvarint(1) // PartitionMetadata: empty
		w.noTags()
	}
	w.noTags()
	return w.b
}

func (v cgMemberMetadataValue) encode() []byte {
	w := newValueWriter()
	w.nullableString(v.instanceID)
	w.nullableString(v.rackID)
	w.string(v.clientID)
	w.string(v.clientHost)
	w.strings(v.topicNames)
	w.nullableString(v.regex)
	w.int32(v.rebalanceTimeoutMs)
	w.nullableString(v.serverAssignor)
	w.noTags()
	return w.b
}

func (v cgTargetAssignmentMetadataValue) encode() []byte {
	w := newValueWriter()
	w.int32(v.assignmentEpoch)
	w.noTags()
	return w.b
}

func (v cgTargetAssignmentMemberValue) encode() []byte {
	w := newValueWriter()
	w.topicPartitions(v.topics)
	w.noTags()
	return w.b
}

func (v cgCurrentMemberAssignmentValue) encode() []byte {
	w := newValueWriter()
	w.int32(v.memberEpoch)
	w.int32(v.previousMemberEpoch)
	w.int8(v.state)
	w.topicPartitions(v.assigned)
	w.topicPartitions(v.pendingRevocation)
	w.noTags()
	return w.b
}

// recReader reads a key or value; the first error sticks and every later
// read returns zero values. Every count is checked against the bytes left
// before anything is allocated.
type recReader struct {
	b   []byte
	err error
}

var errShortRecord = errors.New("record too short")

func (r *recReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errShortRecord
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *recReader) int8() int8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return int8(b[0])
}

func (r *recReader) int16() int16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

func (r *recReader) int32() int32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (r *recReader) uuid() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

// string reads a non-flexible (int16 length) string, as keys have.
func (r *recReader) string() string {
	n := r.int16()
	if n < 0 && r.err == nil {
		r.err = errors.New("null string in a key")
	}
	return string(r.take(int(n)))
}

func (r *recReader) uvarint() int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > uint64(len(r.b)) {
		// A length or count can never exceed the bytes that follow.
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

// tag reads a tagged field's number, which (unlike a length) is not
// bounded by the bytes left.
func (r *recReader) tag() {
	if r.err != nil {
		return
	}
	_, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return
	}
	r.b = r.b[n:]
}

// compactLen reads a compact length (length+1, 0 for null); null is -1.
func (r *recReader) compactLen() int {
	return r.uvarint() - 1
}

func (r *recReader) compactString() string {
	n := r.compactLen()
	if n < 0 {
		if r.err == nil {
			r.err = errors.New("null in a non-nullable string")
		}
		return ""
	}
	return string(r.take(n))
}

func (r *recReader) compactNullableString() *string {
	n := r.compactLen()
	if n < 0 || r.err != nil {
		return nil
	}
	s := string(r.take(n))
	return &s
}

// arrayLen reads a compact array count and checks it against the bytes
// left, each element being at least minSize bytes.
func (r *recReader) arrayLen(minSize int) int {
	n := r.compactLen()
	if r.err != nil {
		return 0
	}
	if n < 0 {
		r.err = errors.New("null in a non-nullable array")
		return 0
	}
	if n > len(r.b)/minSize {
		r.err = errShortRecord
		return 0
	}
	return n
}

func (r *recReader) compactStrings() []string {
	n := r.arrayLen(1)
	out := make([]string, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.compactString())
	}
	return out
}

func (r *recReader) int32s() []int32 {
	n := r.arrayLen(4)
	out := make([]int32, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.int32())
	}
	return out
}

// skipTags reads a tagged-field section and ignores every field in it.
func (r *recReader) skipTags() {
	n := r.uvarint()
	for i := 0; i < n && r.err == nil; i++ {
		r.tag()
		r.take(r.uvarint())
	}
}

func (r *recReader) topicPartitions() []cgTopicPartitions {
	n := r.arrayLen(16 + 1 + 1)
	out := make([]cgTopicPartitions, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		tp := cgTopicPartitions{id: r.uuid(), partitions: r.int32s()}
		r.skipTags()
		out = append(out, tp)
	}
	return out
}

// valueReader checks the value's version and returns a reader past it.
func valueReader(value []byte) *recReader {
	r := &recReader{b: value}
	if v := r.int16(); r.err == nil && v != 0 {
		r.err = fmt.Errorf("value version %d", v)
	}
	return r
}

func (r *recReader) finish() error {
	r.skipTags()
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

func decodeCGMetadataValue(b []byte) (v cgMetadataValue, err error) {
	r := valueReader(b)
	v.epoch = r.int32()
	return v, r.finish()
}

func decodeCGPartitionMetadataValue(b []byte) (v cgPartitionMetadataValue, err error) {
	r := valueReader(b)
	n := r.arrayLen(16 + 1 + 4 + 1 + 1)
	v.topics = make([]cgTopicMetadata, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		t := cgTopicMetadata{id: r.uuid(), name: r.compactString(), partitions: r.int32()}
		racks := r.arrayLen(4 + 1 + 1)
		for j := 0; j < racks && r.err == nil; j++ {
			r.int32()
			r.compactStrings()
			r.skipTags()
		}
		r.skipTags()
		v.topics = append(v.topics, t)
	}
	return v, r.finish()
}

func decodeCGMemberMetadataValue(b []byte) (v cgMemberMetadataValue, err error) {
	r := valueReader(b)
	v.instanceID = r.compactNullableString()
	v.rackID = r.compactNullableString()
	v.clientID = r.compactString()
	v.clientHost = r.compactString()
	v.topicNames = r.compactStrings()
	v.regex = r.compactNullableString()
	v.rebalanceTimeoutMs = r.int32()
	v.serverAssignor = r.compactNullableString()
	return v, r.finish()
}

func decodeCGTargetAssignmentMetadataValue(b []byte) (v cgTargetAssignmentMetadataValue, err error) {
	r := valueReader(b)
	v.assignmentEpoch = r.int32()
	return v, r.finish()
}

func decodeCGTargetAssignmentMemberValue(b []byte) (v cgTargetAssignmentMemberValue, err error) {
	r := valueReader(b)
	v.topics = r.topicPartitions()
	return v, r.finish()
}

func decodeCGCurrentMemberAssignmentValue(b []byte) (v cgCurrentMemberAssignmentValue, err error) {
	r := valueReader(b)
	v.memberEpoch = r.int32()
	v.previousMemberEpoch = r.int32()
	v.state = r.int8()
	v.assigned = r.topicPartitions()
	v.pendingRevocation = r.topicPartitions()
	return v, r.finish()
}

// cgRecord is one decoded consumer-group record; value is nil for a
// tombstone, else one of the cg*Value types.
type cgRecord struct {
	key   cgKey
	value any
}

// decodeCGRecord parses a consumer-group record (key versions 3–8).
func decodeCGRecord(key, value []byte) (cgRecord, error) {
	k, err := decodeCGKey(key)
	if err != nil {
		return cgRecord{}, fmt.Errorf("coordinator: consumer group record key: %w", err)
	}
	rec := cgRecord{key: k}
	if value == nil {
		return rec, nil
	}
	switch k.version {
	case cgMetadataKeyVersion:
		rec.value, err = decodeCGMetadataValue(value)
	case cgPartitionMetadataKeyVersion:
		rec.value, err = decodeCGPartitionMetadataValue(value)
	case cgMemberMetadataKeyVersion:
		rec.value, err = decodeCGMemberMetadataValue(value)
	case cgTargetAssignmentMetadataKeyVersion:
		rec.value, err = decodeCGTargetAssignmentMetadataValue(value)
	case cgTargetAssignmentMemberKeyVersion:
		rec.value, err = decodeCGTargetAssignmentMemberValue(value)
	case cgCurrentMemberAssignmentKeyVersion:
		rec.value, err = decodeCGCurrentMemberAssignmentValue(value)
	default:
		return rec, fmt.Errorf("coordinator: key version %d is not a consumer group record", k.version)
	}
	if err != nil {
		return rec, fmt.Errorf("coordinator: consumer group record %d value: %w", k.version, err)
	}
	return rec, nil
}
