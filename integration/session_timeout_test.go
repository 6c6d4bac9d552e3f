package integration

import (
	"context"
	"testing"
	"time"
)

// TestSessionTimeoutFailover: broker.session.timeout.ms is the etcd lease
// of a broker's registration. With 3 s, three brokers under continuous
// acks=all produce: 10 s of full load with no fault move no leadership
// (no false failover), and a leader killed with SIGKILL loses its
// partitions to another replica once its session ends; every
// acknowledged record is kept. The gaps are logged, not asserted.
func TestSessionTimeoutFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	const topic = "session"
	const partitions = 3
	c := startCluster(t, 3, "min.insync.replicas=2", "default.replication.factor=3", "offsets.topic.replication.factor=3",
		"broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=1000")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := c.replicatedTopic(ctx, topic, partitions)
	rec, stopProducing := c.produceInBackground(ctx, topic, partitions)
	defer stopProducing()
	for p := int32(0); p < partitions; p++ {
		rec.waitAcksAfter(t, p, time.Now())
	}

	before, _, err := c.metadata(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	quiet := time.Now()
	time.Sleep(10 * time.Second)
	after, _, err := c.metadata(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := range partitions {
		b, a := before.Partitions[int32(p)], after.Partitions[int32(p)]
		if a.Leader != b.Leader || a.LeaderEpoch != b.LeaderEpoch {
			t.Errorf("partition %d moved from %d (epoch %d) to %d (epoch %d) under load with no fault", p, b.Leader, b.LeaderEpoch, a.Leader, a.LeaderEpoch)
		}
	}
	gap, gp := rec.longestGap(quiet, time.Now())
	t.Logf("10 s of load without a fault: longest gap between acknowledgements %v (partition %d)", gap.Round(time.Millisecond), gp)

	for round := range 2 {
		td, _, err := c.metadata(ctx, adm, topic)
		if err != nil {
			t.Fatal(err)
		}
		leader := td.Partitions[0].Leader
		nd := c.node(leader)
		start := time.Now()
		nd.b.kill9()
		rec.waitAcksAfter(t, 0, start)
		t.Logf("round %d: leader %d of partition 0 killed; acknowledgements resumed after %v (session timeout 3 s)", round, leader, rec.lastAck(0).Sub(start).Round(time.Millisecond))
		nd.b.start()
		c.waitFullISR(ctx, adm, topic)
	}
	stopProducing()
	verifyAcknowledged(t, ctx, c, topic, partitions, rec)
}
