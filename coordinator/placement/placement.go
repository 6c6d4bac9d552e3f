// Package placement maps a coordinator key — a group id or a
// transactional id — to the partition of its internal topic
// (__consumer_offsets, __transaction_state) whose leader coordinates it,
// as Kafka computes it: abs(Java String.hashCode(key)) % partitions. Every
// broker and client must agree on it, so it has exactly one home.
package placement

// Partition is the internal-topic partition of key among n partitions:
// Java's String.hashCode over the key's UTF-16 code units, made
// non-negative as Kafka's Utils.abs does (MinInt32 becomes 0), modulo n.
func Partition(key string, n int32) int32 {
	var h int32
	for _, r := range key {
		if r >= 0x10000 { // Java strings are UTF-16: a surrogate pair
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}
