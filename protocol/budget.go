package protocol

// decodeExpansion bounds kmsg's heap allocation per frame byte when it
// decodes a request. TestDecodeExpansion measures the worst case over every
// key and version — arrays filled with the shortest elements the wire
// allows, each decoded into a whole Go value (up to 27× for StopReplica,
// 21× Produce) — and the worst of all, unknown tagged fields of flexible
// versions, two bytes each on the wire and a map entry each in kmsg (53×,
// whatever the key). Every key has flexible versions, so one figure serves
// all; it is FuzzParseRequest's ceiling too. The test fails when a kmsg
// upgrade allocates more (RUNNEL_PRINT_EXPANSION=1 prints the figures).
const decodeExpansion = 64

// decodeOverhead is the fixed allocation of any decode (the request value,
// its header fields) added to the per-byte bound.
const decodeOverhead = 16 << 10

// DecodeBudget bounds the heap that decoding a request frame of frameLen
// bytes may allocate beyond the frame itself. The connection layer charges
// it, with the frame, to the request memory pool (queued.max.request.bytes)
// before it reads the frame, so a hostile frame of minimal elements cannot
// allocate past the pool.
func DecodeBudget(frameLen int) int64 {
	return decodeExpansion*int64(frameLen) + decodeOverhead
}
