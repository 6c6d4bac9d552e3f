// Package storage is one Kafka partition log per directory, in Apache
// Kafka's on-disk format, and the Manager that owns all logs of a log dir.
//
// # Files of a partition directory <topic>-<partition>/
//
//	<20-digit base offset>.log        RecordBatch v2 batches back to back, byte for byte as
//	                                  on the wire (baseOffset and partitionLeaderEpoch patched
//	                                  by the leader). Layout: batch.go.
//	<base>.index                      sparse offset index, 8-byte entries
//	                                  (relative offset uint32, position uint32). index.go.
//	<base>.timeindex                  time index, 12-byte entries
//	                                  (timestamp int64, relative offset uint32). index.go.
//	<base>.txnindex                   aborted transactions, 34-byte entries. txnindex.go.
//	<offset>.snapshot                 producer-state snapshot (Kafka's layout v1). producer.go.
//	leader-epoch-checkpoint           Kafka's text format. checkpoint.go.
//	partition-checkpoint              recovery point, log start, high watermark, fsynced end. checkpoint.go.
//	cleaner-offset-checkpoint         first dirty offset for compaction: "0\n<offset>\n". cleaner.go.
//	<base>.{log,index,timeindex,txnindex,range}.cleaned|.swap
//	                                  a cleaned segment being swapped in. cleaner_swap.go.
//	*.deleted                         segment files awaiting file.delete.delay.ms.
//
// and in the log dir itself .runnel_cleanshutdown (the clean-shutdown
// marker), .runnel_pending_epochs (leader epochs without batches that a
// clean close left for the next open, pendingepochs.go), .lock and
// meta.properties (logdir.go), and retired partition
// directories: <topic>-<partition>.<id>-delete awaiting removal after
// file.delete.delay.ms, <topic>-<partition>.<id>-stray kept for an operator
// (retired_dirs.go). Small files are replaced with one helper
// (atomicfile.go).
//
// # Invariants
//
//   - Offsets within a log strictly increase; segments are sorted by base
//     offset, every offset of a segment is in [base, base+MaxInt32] and
//     every position fits 32 bits.
//   - Only the last segment is written; its index entries live in memory
//     (up to segment.index.bytes) and reach the files with pwrite at each
//     sync and when it rolls or the log closes, where the files are trimmed
//     and fsynced; no index is ever written through a shared map, so a
//     full disk is ENOSPC from a write, never a SIGBUS (index.go).
//   - Every change to the dir's files goes through the FileOps seam
//     (fileops.go); the first I/O error fails the whole log dir: its logs
//     answer KAFKA_STORAGE_ERROR, the batches of the failing Append are cut
//     from the log end and never acknowledged, and nothing is written
//     again until a new Manager recovers the dir (dirfailure.go). Opening
//     a log writes nothing that needs space, so a broker starts on a full
//     disk.
//   - A .log is created only with its segment (roll, new or emptied log);
//     an existing segment's file is opened without O_CREATE, so one deleted
//     under the broker is a log-dir failure, not a silently empty range.
//   - The .txnindex is fsynced with its segment's .log; a
//     leader-epoch-checkpoint that does not parse is rebuilt from the
//     batches' partitionLeaderEpoch.
//   - logStart <= HW <= LEO; LSO = min(HW, first offset of the oldest
//     ongoing transaction).
//   - Every byte below the recovery point has been fsynced. After a crash
//     (no clean-shutdown marker) every segment from the one holding the
//     recovery point on is re-read, its indexes rebuilt, and the log cut
//     at the first torn, CRC-invalid or out-of-order batch: exactly the
//     complete valid prefix survives and no torn batch is ever served.
//     The exception is a log with nothing past its recovery point: when
//     partition-checkpoint records the log's end as fsynced (last segment
//     base and size, written only while that segment has no unsynced
//     change) and the last segment still has exactly that size, its
//     batches are not re-read, only its indexes rebuilt from the batch
//     headers; any write or cut since shows as another size or segment
//     and the log is recovered as above (checkpoint.go, log.go).
//   - A clean close keeps that too without an fsync per file: the logs
//     write what they hold (no file for an idle log, no open of an
//     evicted segment), one syncfs makes it durable, only then are the
//     checkpoints that move recovery points to the log ends written,
//     another syncfs, and the clean-shutdown marker last (Manager.Close).
//     A kill at any instant of it leaves no marker and an ordinary
//     recovery (TestCrashAtAnyPointOfClose).
//   - A new log does no file-system work: it is the empty log in memory,
//     and its directory and first files are created by the first write
//     that needs them; the directory and the log dir are fsynced once,
//     before the log's first fsync, so before anything written into the
//     log counts as durable; until then nothing on disk belongs to it
//     (lazy.go, create.go).
//   - Opening a log stats or opens only the files its directory listing
//     holds; a last segment the checkpoint records as empty costs no
//     system call, and an empty segment holds no descriptor until its
//     first append or read.
//   - An Append is all or nothing: every batch is validated before
//     anything is written, and the whole call is one write. On the leader
//     path that includes every record's key (compacted topics) and, under
//     CreateTime, its timestamp against message.timestamp.{before,after}.max.ms
//     (record_checks.go); failures come back as *RecordErrors naming each
//     offending record.
//   - Producer state holds no producer idle for producer.id.expiration.ms
//     without an ongoing transaction: the Manager loop drops them every
//     check interval, and rebuilding the state (open, truncation) drops
//     them again, so an expired producer never returns from a snapshot or
//     a replay (KIP-854).
//   - Reads return file regions of whole batches; bytes are never copied
//     through Go memory on the fetch path. A ReadResult keeps its files
//     open until Release, whatever happens to the segments meanwhile.
//   - Across a Manager at most MaxOpenFiles segments hold an open .log
//     (and mapped indexes); the rest are closed and reopen lazily.
//
// # Compaction (cleanup.policy=compact, compact,delete)
//
// The cleaner (cleaner.go, run by the Manager loop every
// log.cleaner.backoff.ms when idle, or directly with Log.Compact /
// Manager.RunCleaner) keeps the latest record per key. Its invariants:
//
//   - Only whole inactive segments entirely below min(active segment base,
//     LSO (<= HW), first segment within min.compaction.lag.ms) are
//     rewritten; the active segment and anything at or above the LSO never.
//   - Offsets never move: batches keep their baseOffset and
//     lastOffsetDelta, records their offset deltas; a compacted log has
//     gaps, which reads, both indexes and recovery handle. Segments keep
//     their base offsets (a group of small segments becomes one segment
//     with the first one's base).
//   - A record goes when a later record has its key (offset map bounded by
//     log.cleaner.dedupe.buffer.size; what does not fit waits for the next
//     pass), a tombstone when its batch's delete horizon (set to
//     now + delete.retention.ms by the pass that first kept it, KIP-534)
//     has passed; aborted transactions' batches go at once, their markers
//     (and commit markers) once no batch of the transaction is left and the
//     horizon has passed; .txnindex keeps entries only for kept abort
//     markers whose transaction still has batches. A batch holding its
//     producer's last sequence is kept, empty if need be.
//   - Swapping is crash safe: .cleaned → .swap (commit) → old segments
//     .deleted → final names; opening a log finishes or rolls back an
//     interrupted swap, leaving the old segments or the new one, never both
//     or neither (cleaner_swap.go). Readers holding regions of replaced
//     segments keep their inodes.
//   - compact,delete also applies retention.ms / retention.bytes.
package storage
