// Package fetchsession is the broker's KIP-227 fetch session cache (Kafka's
// FetchSession.scala): it turns a Fetch request into the list of
// partitions to read, and decides which of them the response carries. It
// reads no log and knows no broker; the Fetch handler (broker/01_fetch.go)
// calls [Cache.Open] once per request and [Context.Include] once per
// partition read.
//
// A fetch session lets a client send only what changed since its last
// fetch. The request's (session id, session epoch) selects the kind of
// fetch:
//
//	(0, -1)   sessionless full fetch: the request lists every partition,
//	          the response answers every one; no session is made. Fetch
//	          v4–v6 (no session fields) is always this.
//	(0, 0)    full fetch that opens a session: if the cache has a slot, the
//	          session holds the request's partitions and the response
//	          carries its new id; else the response's id is 0 and the
//	          client stays sessionless. The response answers every
//	          partition either way.
//	(id, 0)   as (0, 0), after dropping session id.
//	(id, -1)  closes session id; the request is then a sessionless full
//	          fetch (it usually lists no partitions).
//	(id, n>0) incremental fetch on session id. The request lists only
//	          partitions that are new to the session or whose fetch
//	          position or limits changed, and under ForgottenTopics the ones
//	          to drop; the session's partitions are then read. The response
//	          lists only partitions with records, an error, a diverging
//	          epoch, or a high watermark, last stable offset or log start
//	          other than the one the session last answered.
//
// Invariants the cache keeps:
//
//   - Epochs. A session's epoch counts the incremental requests it has
//     accepted: a new session expects epoch 1 next, and each accepted
//     incremental request moves the expected epoch on by one, wrapping from
//     MaxInt32 to 1 (0 and -1 are the initial and final epochs above and
//     never name an incremental request). A request with another epoch is
//     INVALID_FETCH_SESSION_EPOCH and an unknown id FETCH_SESSION_ID_NOT_FOUND;
//     both are answered at the top level with no partitions, and a refused
//     request leaves the session as it was (its epoch is not used up), so a
//     client that retries the same request is not refused again.
//   - Topic naming. A session opened with topic ids (Fetch v13+) continues
//     only with topic ids, and one opened with names only with names;
//     otherwise FETCH_SESSION_TOPIC_ID_ERROR. A session's partitions are
//     keyed by whichever the session uses ([Key]).
//   - Order. A session keeps its partitions in the order they were added;
//     a partition that returned records in an incremental response moves to
//     the end, so that a response cut short by its byte limit starts with
//     other partitions next time (as Kafka does). A partition listed twice
//     in one request is held once, with its last parameters.
//   - What was answered. For each partition the session remembers the high
//     watermark, last stable offset and log start it last answered; an
//     error answer forgets them, so the partition is answered again once
//     the error clears.
//   - Eviction. The cache holds at most max.incremental.fetch.session.cache.slots
//     sessions broker-wide (0: no sessions; every fetch is sessionless).
//     When it is full, a new session takes the slot of the least recently
//     used session only if that one has been idle (no request accepted on
//     it) for at least evictAfter, two minutes; a replica's (follower's)
//     session gives way only to another replica's, never to a consumer's.
//     Otherwise the newcomer gets no session and is answered as a
//     sessionless full fetch. Sessions are never expired on a timer: an
//     idle session stays until it is closed, replaced or evicted.
//
// Concurrency: a Cache is safe for concurrent use. A session's state is
// locked only inside Open and Include, never while the caller reads logs
// or long-polls, so concurrent requests on one session (a misbehaving
// client) interleave at those points without corrupting it.
package fetchsession
