// Package txn is the transaction coordinator: it owns the transactional ids
// of the __transaction_state partitions this broker leads and runs each one
// through Kafka's transaction state machine (KIP-98):
//
//	Empty ──AddPartitions──▶ Ongoing ──EndTxn(commit)──▶ PrepareCommit ──markers──▶ CompleteCommit
//	                            │     ──EndTxn(abort)───▶ PrepareAbort  ──markers──▶ CompleteAbort
//	                            └── timeout / fencing InitProducerId ─▶ (PrepareEpochFence) ▶ PrepareAbort
//
// Complete* and Empty accept a new transaction (AddPartitions) or an epoch
// bump (InitProducerId); Prepare* answer CONCURRENT_TRANSACTIONS until their
// markers are written; Dead is a removed (expired) id.
//
// # Persistence
//
// Every transition is written to the id's partition of __transaction_state
// before it takes effect, as one record in Kafka's schema (kmsg.TxnMetadataKey
// version 0, kmsg.TxnMetadataValue version 0: producer id and epoch, timeout,
// state, the partitions of the transaction, last-update and start
// timestamps). A null value is a tombstone (the id expired). The topic is
// compacted, so the latest record per id is its state. Load replays a
// partition and then finishes what the previous coordinator left: Prepare*
// transactions get their markers written and are completed, Ongoing ones
// are aborted when their timeout passes. PrepareEpochFence is never
// written (as in Kafka it is an in-memory step before PrepareAbort).
//
// # Producer epochs and fencing
//
// InitProducerId on an id bumps its epoch (KIP-98 fencing of zombies); an
// Ongoing transaction is first aborted with the bumped epoch and the caller
// told CONCURRENT_TRANSACTIONS, so it retries and gets the next epoch. A
// caller passing its current producer id and epoch (KIP-360, v3+) is
// recognised, also when it retries after a lost response (its epoch is the
// previous one); any other epoch is PRODUCER_FENCED. Requests with an epoch
// other than the current one are PRODUCER_FENCED (KIP-588), an unknown id
// or another producer id INVALID_PRODUCER_ID_MAPPING. An exhausted epoch
// (32766) moves the id to a fresh producer id at epoch 0. While a
// transaction's markers are being written (Prepare*), InitProducerId,
// AddPartitions and a TV2 EndTxn answer CONCURRENT_TRANSACTIONS before the
// producer id and epoch are looked at, as Kafka 4's coordinator does while
// a transition is pending: a TV2 client already holds the epoch (or next
// producer id) its EndTxn answer gave it (meta.completing). A TV1 EndTxn
// checks the producer first, as Kafka's endTransactionWithTV1.
//
// KIP-890 part 1 (partition leaders verifying that a transactional write's
// partition was added) is served by Verify. Part 2 (transaction version 2,
// chosen per request by the client: EndTxn v5) bumps the epoch at every
// EndTxn (endTxnV2, with Kafka's retry rules), writes the markers at the
// bumped epoch, and moves an exhausted id to its next producer id once the
// markers are written; partition leaders add partitions on the producer's
// behalf (AddPartitions with tv 2).
//
// # Markers
//
// Writing the commit/abort control batches to every partition of a
// transaction is the broker's job (MarkerWriter): locally for partitions it
// leads, with WriteTxnMarkers to the leader otherwise. The coordinator
// retries until every partition took its marker, then writes Complete*.
//
// # Concurrency
//
// Each transactional id has a mutex held for a whole request including its
// log append, so the records of one id reach the log in order. Marker
// writing runs in its own goroutine per completing transaction.
package txn
