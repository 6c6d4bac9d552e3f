// Package quota is Kafka's client quotas without the wire or the store:
// which quota applies to a (user, client-id) pair, the windowed rate a
// quota is measured with, and the throttle time a violation earns. The
// broker feeds it what a request cost (bytes produced or fetched, the
// share of a thread's time a request took, partitions mutated), puts the
// throttle time in the response and mutes the connection for that long
// (KIP-219); the controller stores the quotas in etcd.
//
// # Which quota applies
//
// Quotas are set on entities: a user, a client id, or a user and client
// id, each name possibly the default (Kafka's <default>). For one quota
// kind, the most specific entity that has a quota of that kind wins, in
// Kafka's order:
//
//  1. user U, client C
//  2. user U, default client
//  3. user U
//  4. default user, client C
//  5. default user, default client
//  6. default user
//  7. client C
//  8. default client
//
// Clients share a measurement when they resolve to the same sensor: a
// quota set on user U (level 3) is shared by every client id of U; one
// set on the default user (level 6) is measured per user. Sensor tags are
// (user, client-id) with the dimension the winning level does not name
// left empty, exactly as Kafka's DefaultQuotaCallback does.
//
// # How a rate is measured
//
// A Rate keeps Samples windows of WindowSize each (quota.window.num = 11,
// quota.window.size.seconds = 1). Its value is the sum of the live
// windows over the time they span, counted as at least Samples-1 whole
// windows so that a quiet client's first burst is not measured over a
// few milliseconds. Recording past the quota earns a throttle of
// (rate - quota) / quota × window: the delay that brings the rate back to
// the quota if nothing more is recorded.
package quota
