// Package coordinator is the group coordinator: it runs consumer groups —
// the classic JoinGroup/SyncGroup/Heartbeat/LeaveGroup protocol with Kafka's
// state machine (Empty, PreparingRebalance, CompletingRebalance, Stable,
// Dead), static membership (KIP-345) and KIP-394 member ids, and the KIP-848
// ConsumerGroupHeartbeat protocol with server-side assignors — and it keeps
// their committed offsets.
//
// # Ownership and persistence
//
// Groups are spread over the partitions of the internal topic
// __consumer_offsets by placement.Partition (Kafka's abs(String.hashCode) modulo
// the partition count). The coordinator serves the groups of a partition
// only between Load (the broker became its leader; the partition's Log is
// replayed to rebuild every group and offset) and Unload (leadership moved).
// Requests for a group of any other partition get NOT_COORDINATOR, or
// COORDINATOR_LOAD_IN_PROGRESS while its partition replays.
//
// Every change that must survive a coordinator move is written through the
// partition's Log before it is acknowledged, as records in Kafka's
// __consumer_offsets key/value schema (kmsg.OffsetCommitKey/Value for a
// committed offset, key version 0/1; kmsg.GroupMetadataKey/Value for a
// classic group, key version 2; a null value is a tombstone). The topic is
// compacted, so the latest record per key is the state.
//
// KIP-848 groups are persisted as Kafka's consumer-group records (key
// versions 3–8, records_848.go): every change is written as the difference
// from what the log holds before it is answered, and a failed write rolls
// the group back (consumer_persist.go). After a coordinator move, members
// keep their ids, epochs and partitions, each on a fresh session timer.
//
// # Concurrency and time
//
// Each group has its own mutex; a request holds it for its whole handling,
// including the Log append, so the records of one group reach the log in the
// order their changes were made. Timeouts (session, rebalance, initial
// rebalance delay, offset expiry) are timers of a Clock, which tests replace
// with a fake one.
package coordinator
