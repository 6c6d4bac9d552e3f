// Package replica is Kafka's ReplicaManager and Partition for one broker:
// this broker's copies of the partitions the metadata assigns it, their
// roles, leader epochs, high watermarks and ISR views, the follower
// fetchers that replicate from other leaders, the ISR checks of the
// partitions it leads, and controlled shutdown. It is the only code that
// appends to a partition log (as leader or as follower) or truncates one.
//
// # Types
//
//   - Manager owns the partitions of one broker. It follows the metadata
//     (Apply, from a Metadata subscription started by Start): it opens
//     the logs of partitions assigned here, applies topic configs, records
//     roles and leader epochs, deletes the logs of deleted topics (a
//     delayed -delete rename in storage), sets aside (renames -stray, never
//     deletes) at the first snapshot the logs of partitions deleted or
//     moved away while the broker was down, and moves follower partitions to the
//     fetcher of their leader. Get and LeaderFor resolve a request's
//     partition; LeadershipChanges is the one loader of internal-topic
//     partitions the coordinators use; ControlledShutdown moves leadership
//     away before the broker stops; Close stops every goroutine it started.
//   - Partition is one local replica: its log (Log, for reads and
//     lookups), its role (State, Leads), and the only ways to change it:
//     AppendAsLeader, AppendAsFollower, TruncateAsFollower,
//     AdvanceLogStart (DeleteRecords), and Read, which on the leader also
//     records a follower's fetch position. AwaitHW is the acks=all wait
//     on the HWWait handles AppendAsLeader returns.
//   - Metadata is the few controller methods replication uses (snapshot,
//     wait for a revision, compare-and-swap of a partition state,
//     subscribe, own broker epoch); *controller.Controller satisfies it,
//     and the package's unit tests use an in-memory fake.
//   - Options are the broker's id, configuration, log manager, logger and
//     how to dial other brokers (inter-broker TLS and SASL).
//
// # Invariants
//
// Who may append. Every append and truncation happens under the
// partition's appendMu, after re-checking the role under it: the leader
// path (AppendAsLeader) only while the partition's leader is this broker,
// the follower path (AppendAsFollower, TruncateAsFollower) only while it
// follows the same leader in the same leader epoch as the fetch that
// produced the data. Role changes (Apply) take appendMu too, so a
// follower append never lands in a log that has just become the leader's,
// and a deposed leader never appends a produce. A partition whose state
// names this broker leader under another broker epoch (a previous process
// of this broker) neither leads nor follows until the controller writes
// the leadership again.
//
// When the high watermark moves. On the leader the HW is the minimum log
// end over the ISR, plus the followers whose addition to the ISR has been
// sent but not yet seen (KIP-497's maximal ISR); a follower's log end is
// the offset it last fetched from, unknown (holding the HW) until its
// first fetch in the current epoch. It only moves up, and is recomputed
// under appendMu after every leader append, after every follower fetch
// and when the role or the ISR changes. Each advance wakes the
// partition's change channel, on which long-polling fetches and acks=all
// produces (AwaitHW) wait. On a follower the HW is the leader's, capped
// at its own log end.
//
// acks=all. AppendAsLeader refuses with NOT_ENOUGH_REPLICAS when asked
// to check and the ISR is smaller than min.insync.replicas; the HWWait it
// returns is answered when the HW passes the write (every ISR member has
// it), with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR fell below the
// minimum meanwhile, NOT_LEADER_OR_FOLLOWER if leadership moved, and
// REQUEST_TIMED_OUT at the deadline.
//
// Truncation by leader epoch (KIP-101, KIP-279). A follower starting a
// new leader epoch truncates before it fetches, never by the HW alone:
// it asks the leader (OffsetForLeaderEpoch) where its latest epoch E
// ends; the leader answers the largest E' <= E it has and its end. If
// the follower has E' it truncates to min(leader's end, own end of E');
// if not, to the end of its own largest epoch below E', and asks again
// about that one. Only a leader with no epoch at all makes it fall back
// to its HW. Every truncation drops the epochs starting at or after its
// point, even when no record goes: an epoch this replica led without
// writing sits at its log end, the new leader never had it, and kept as
// the last fetched epoch it would make every fetch diverge. A Fetch answer with a diverging epoch, or OFFSET_OUT_OF_RANGE
// above the leader's log start, sends it back to truncation; below the
// leader's log start it empties its log and restarts there.
//
// ISR changes are compare-and-swaps of the partition state from the
// metadata snapshot, only while the snapshot names this broker leader in
// the partition's epoch; the ISR the partition uses changes only when the
// snapshot shows the write. docs/replication.md tells the whole story.
package replica
