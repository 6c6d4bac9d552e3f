package protocol

import (
	"unsafe"

	"github.com/twmb/franz-go/pkg/kmsg"
)

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

// tagCost bounds the heap one unknown tagged field costs once decoded
// (its map entry, with the map's growth), beyond its bytes in the frame.
const tagCost = 160

// DecodedSize is the heap a decoded Produce request holds beyond its
// frame, computed from the decoded value: the request, topic and
// partition values, the copied strings and the unknown tagged fields; its
// record batches alias the frame. The connection layer charges the worst
// case, DecodeBudget, while it decodes and then keeps only this: a
// Produce request is most of all a frame of record bytes, and the pool
// holds it until it is answered. ok is false for other keys, which keep
// their DecodeBudget (they are small).
func DecodedSize(req *Request) (n int64, ok bool) {
	r, ok := req.Body.(*kmsg.ProduceRequest)
	if !ok {
		return 0, false
	}
	n = int64(unsafe.Sizeof(*r)) + decodeOverhead + int64(r.UnknownTags.Len())*tagCost
	if r.TransactionID != nil {
		n += int64(len(*r.TransactionID))
	}
	for i := range r.Topics {
		t := &r.Topics[i]
		n += int64(unsafe.Sizeof(*t)) + int64(len(t.Topic)) + int64(t.UnknownTags.Len())*tagCost
		for j := range t.Partitions {
			n += int64(unsafe.Sizeof(t.Partitions[j])) + int64(t.Partitions[j].UnknownTags.Len())*tagCost
		}
	}
	return n, true
}
