package integration

import "testing"

// TestTwoBrokersSideBySide runs two independent single-node brokers on one
// machine configured with nothing but their listeners and log dirs: the
// embedded etcd needs no TCP port and the default admin port is taken by
// only one of them.
func TestTwoBrokersSideBySide(t *testing.T) {
	first := startBroker(t, withOnlyListenerAndLogDir())
	second := startBroker(t, withOnlyListenerAndLogDir())
	for _, b := range []*broker{first, second} {
		b.createTopic(t, "side", 2)
		acked := produceFranz(t, b, "side", 50, "none")
		assertSamePerPartition(t, acked, consumeFranz(t, b, "side", 50))
	}
}
