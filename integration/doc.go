// Package integration holds the end-to-end tests: they build the real
// runnel binary, start it as a process (with its embedded etcd, or against a
// real etcd-server), and drive it with real clients — franz-go, sarama,
// kafka-go from Go; kcat, confluent-kafka-python and kafka-python (Debian
// packages, under /usr/bin/python3) as subprocesses.
//
// The helpers in harness_test.go make a scenario read like prose:
//
//	b := startBroker(t)
//	b.createTopic(t, "orders", 3)
//	produceWithKcat(t, b, "orders", lines...)
//	b.kill9(t); b.restart(t)
package integration
