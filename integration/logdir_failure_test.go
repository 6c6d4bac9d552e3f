package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestClusterLogDirFailure: three runnel processes on an external etcd,
// each with its log dir on a 64 MiB tmpfs (root only; skipped otherwise),
// an RF=3 min.insync.replicas=2 topic under continuous acks=all
// idempotent produce (franz-go). The log dir of partition 0's leader is
// filled to the last byte: that broker exits non-zero on its own, without
// a signal; the partitions it led get new leaders and take
// acknowledgements again within the session timeout (9 s) plus a margin;
// every acknowledged record is read back from the two survivors at its
// acknowledged offset, in order, once. Then the filler is removed and the
// broker restarted: it rejoins every ISR.
func TestClusterLogDirFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs log dir")
	}
	const topic = "dirfail"
	const partitions = 3
	base := t.TempDir()
	for id := 1; id <= 3; id++ {
		// Mounted before the brokers start, so unmounted after they stop.
		mountTmpfs(t, filepath.Join(base, fmt.Sprint(id)), 64)
	}
	c := startCluster(t, 3, "min.insync.replicas=2", "default.replication.factor=3", "offsets.topic.replication.factor=3",
		"log.dirs="+filepath.Join(base, "{id}", "logs"))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	adm := c.replicatedTopic(ctx, topic, partitions)
	rec, stopProducing := c.produceInBackground(ctx, topic, partitions)
	defer stopProducing()
	for p := int32(0); p < partitions; p++ {
		rec.waitAcksAfter(t, p, time.Now())
	}
	time.Sleep(time.Second)

	td, _, err := c.metadata(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	x := td.Partitions[0].Leader
	var led []int32
	for _, p := range td.Partitions {
		if p.Leader == x {
			led = append(led, p.Partition)
		}
	}
	nd := c.node(x)
	mnt := filepath.Join(base, fmt.Sprint(x))
	logFrom := nd.b.logLen()
	watch := watchReadyz(nd.adminAddr)
	start := time.Now()
	filler := fillDisk(t, mnt)
	nd.b.waitExit(t, 60*time.Second, logFrom)
	exited := time.Since(start)
	failedBody := watch.result()
	if failedBody == "" {
		failedBody = fmt.Sprintf("(no 503 seen in %d polls before the exit)", watch.polls)
	}
	exitAt := time.Now()
	for _, p := range led {
		rec.waitAcksAfter(t, p, exitAt)
	}
	resumed := time.Since(exitAt)
	// Leadership must have moved off the failed broker.
	td, _, err = c.metadata(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range td.Partitions {
		if p.Leader == x {
			t.Errorf("partition %d still led by the failed broker %d", p.Partition, x)
		}
	}
	// Keep producing on the two survivors for a while.
	time.Sleep(2 * time.Second)
	gap, gp := rec.longestGap(start, time.Now())
	t.Logf("log dir of broker %d (leader of %v) filled: it exited after %v; /readyz said %q; the first acknowledgement on each of its partitions after the exit came within %v; longest gap without an acknowledgement %v (partition %d)",
		x, led, exited.Round(time.Millisecond), failedBody, resumed.Round(time.Millisecond), gap.Round(time.Millisecond), gp)
	// Kafka's bound: leadership moves within the session timeout (9 s,
	// the etcd lease); controlled shutdown should do it much sooner.
	if limit := 9*time.Second + 10*time.Second; gap > limit {
		t.Errorf("a partition went %v without an acknowledgement, more than the session timeout + 10 s (%v)", gap, limit)
	}

	// Free the disk and restart the broker: it recovers and rejoins.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	nd.b.start()
	c.waitFullISR(ctx, adm, topic)
	time.Sleep(time.Second)
	stopProducing()
	verifyAcknowledged(t, ctx, c, topic, partitions, rec)
}
