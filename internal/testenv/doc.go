// Package testenv is the one home of what tests across the module need
// from their environment: an external etcd process (Debian's etcd-server,
// the real thing a cluster runs against), free loopback ports (outside the
// kernel's ephemeral range, see port.go), children that die with the test
// process (DieWithTest), short temporary directories for unix sockets,
// Apache Kafka itself (StartKafka: the pinned release's jars from
// integration/java/lib, KRaft combined mode, one node or several) as the
// reference for conformance and benchmarks, and the one polling helper,
// Eventually.
//
// It is imported only by _test.go files. Helpers that speak Kafka (topic
// creation, clients) stay beside the tests of the package they drive: they
// need that package's server types.
package testenv
