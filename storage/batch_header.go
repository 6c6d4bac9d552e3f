package storage

// Exported offsets into a RecordBatch v2 header, for the code outside
// storage that must look at a batch before the log does (the Produce
// handler's request-level checks, a follower trimming a fetched partial
// batch). The layout and its comment live in batch.go; these name the same
// offsets so that no other package re-declares them.
const (
	// BatchLogOverhead is baseOffset + batchLength: the bytes of a batch not
	// counted by its batchLength field.
	BatchLogOverhead = logOverhead
	// BatchHeaderSize is the fixed header before the records.
	BatchHeaderSize = batchHeaderSize

	BatchLengthAt          = offLength          // int32 batchLength
	BatchMagicAt           = offMagic           // int8 magic (2)
	BatchAttributesAt      = offAttributes      // int16 attributes
	BatchLastOffsetDeltaAt = offLastOffsetDelta // int32 lastOffsetDelta

	// Attribute bits (of the int16 at BatchAttributesAt).
	BatchAttrCodecMask     = attrCodecMask // compression codec (Codec*)
	BatchAttrTransactional = attrTransactional
)
