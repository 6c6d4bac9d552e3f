// Package bench is Runnel's load generator: it drives any Kafka-compatible
// cluster, reached through a bootstrap address, with franz-go and measures
// what a client sees.
//
// Three workloads, each bounded in record count and in time so a run always
// ends by itself:
//
//   - produce: N records of S bytes to a topic of P partitions with acks=all
//     and an idempotent producer; throughput (records/s, MB/s) and the
//     latency from the Produce call to its promise callback.
//   - consume: read the topic from its log start until N records (or
//     everything there is) have arrived; throughput.
//   - e2e: produce at a fixed rate for a duration, each record carrying its
//     send time, while a consumer reads concurrently; the latency from send
//     to receipt.
//
// Latencies go into a Histogram, a log-linear bucketed histogram in the
// spirit of HdrHistogram with a relative error under 1%. The topic is
// created with kadm when it does not exist. MB is 2^20 bytes, as in
// Kafka's perf-test tools.
package bench
