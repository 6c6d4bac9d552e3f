package integration

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ackRecorder keeps every acknowledged record of the continuous producer.
type ackRecorder struct {
	mu     sync.Mutex
	acks   map[int32][]ackedRecord // by partition, in acknowledgement order
	failed []string
	sent   int64
}

type ackedRecord struct {
	seq    int64
	offset int64
	at     time.Time
}

func value(seq int64) string { return fmt.Sprintf("v-%09d", seq) }

// produceContinuously sends records round-robin over partitions with
// acks=all and idempotence (franz-go's default), up to 32 in flight, until
// ctx ends; then it waits for every record to be acknowledged or fail.
func produceContinuously(ctx context.Context, cl *kgo.Client, topic string, partitions int32, rec *ackRecorder) {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for seq := int64(0); ctx.Err() == nil; seq++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		p := int32(seq % int64(partitions))
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(value(seq))}
		wg.Add(1)
		rec.mu.Lock()
		rec.sent++
		rec.mu.Unlock()
		s := seq
		cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			defer wg.Done()
			defer func() { <-sem }()
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if err != nil {
				rec.failed = append(rec.failed, fmt.Sprintf("seq %d p%d: %v", s, r.Partition, err))
				return
			}
			rec.acks[r.Partition] = append(rec.acks[r.Partition], ackedRecord{seq: s, offset: r.Offset, at: time.Now()})
		})
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
}

// produceInBackground runs produceContinuously with the cluster's
// failover producer until stop, which waits for every record's outcome
// (calling it again is a no-op).
func (c *cluster) produceInBackground(ctx context.Context, topic string, partitions int32) (rec *ackRecorder, stop func()) {
	rec = &ackRecorder{acks: map[int32][]ackedRecord{}}
	pcl := c.failoverProducer()
	pctx, cancel := context.WithCancel(ctx)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		produceContinuously(pctx, pcl, topic, partitions, rec)
	}()
	return rec, func() { cancel(); <-produced }
}

// lastAck is the time of the latest acknowledgement on partition p.
func (rec *ackRecorder) lastAck(p int32) time.Time {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	a := rec.acks[p]
	if len(a) == 0 {
		return time.Time{}
	}
	return a[len(a)-1].at
}

// longestGap is the longest time any partition went without an
// acknowledgement within [from, to].
func (rec *ackRecorder) longestGap(from, to time.Time) (time.Duration, int32) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var worst time.Duration
	wp := int32(-1)
	for p, as := range rec.acks {
		ts := make([]time.Time, 0, len(as))
		for _, a := range as {
			ts = append(ts, a.at)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		// Gaps that end inside the window, counted from the window's
		// start at the earliest.
		for i := 1; i < len(ts); i++ {
			if !ts[i].After(from) || ts[i].After(to) {
				continue
			}
			start := ts[i-1]
			if start.Before(from) {
				start = from
			}
			if g := ts[i].Sub(start); g > worst {
				worst, wp = g, p
			}
		}
	}
	return worst, wp
}

// waitAcksAfter waits until partition p has an acknowledgement after t.
func (rec *ackRecorder) waitAcksAfter(tb testing.TB, p int32, t time.Time) {
	tb.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !rec.lastAck(p).After(t) {
		if time.Now().After(deadline) {
			tb.Fatalf("partition %d acknowledged nothing for 90s after the fault", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterFailover: three runnel processes on one external etcd, an
// RF=3 min.insync.replicas=2 topic under continuous acks=all idempotent
// produce while (a) the leader of each partition is killed with SIGKILL
// and restarted, (b) the controller is killed and restarted, (c) a leader
// is cut off from the other brokers, its clients and etcd, and then
// healed. Afterwards every acknowledged record is in the log at the offset
// it was acknowledged with, once, in order, and the cut-off leader
// acknowledged nothing at acks=all while it was isolated.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	const topic = "ha"
	const partitions = 3
	c := startCluster(t, 3, "min.insync.replicas=2", "default.replication.factor=3", "offsets.topic.replication.factor=3")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	adm := c.replicatedTopic(ctx, topic, partitions)
	rec, stopProducing := c.produceInBackground(ctx, topic, partitions)
	defer stopProducing()
	for p := int32(0); p < partitions; p++ {
		rec.waitAcksAfter(t, p, time.Now())
	}

	type fault struct {
		name     string
		from, to time.Time
	}
	var faults []fault

	// (a) SIGKILL the leader of each partition, then restart it.
	for p := int32(0); p < partitions; p++ {
		td, _, err := c.metadata(ctx, adm, topic)
		if err != nil {
			t.Fatal(err)
		}
		leader := td.Partitions[p].Leader
		nd := c.node(leader)
		start := time.Now()
		nd.b.kill9()
		rec.waitAcksAfter(t, p, start)
		t.Logf("partition %d: leader %d killed; acknowledgements resumed after %v", p, leader, time.Since(start).Round(time.Millisecond))
		nd.b.start()
		c.waitFullISR(ctx, adm, topic)
		faults = append(faults, fault{fmt.Sprintf("SIGKILL leader %d of partition %d, restart", leader, p), start, time.Now()})
	}

	// (b) SIGKILL the controller, then restart it.
	{
		_, ctrlID, err := c.metadata(ctx, adm, topic)
		if err != nil || ctrlID < 1 {
			t.Fatalf("controller: %d %v", ctrlID, err)
		}
		nd := c.node(ctrlID)
		start := time.Now()
		nd.b.kill9()
		for p := int32(0); p < partitions; p++ {
			rec.waitAcksAfter(t, p, start)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, id, err := c.metadata(ctx, adm, topic)
			if err == nil && id > 0 && id != ctrlID {
				t.Logf("controller %d killed; broker %d took over after %v", ctrlID, id, time.Since(start).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new controller after killing %d", ctrlID)
			}
			time.Sleep(100 * time.Millisecond)
		}
		nd.b.start()
		c.waitFullISR(ctx, adm, topic)
		faults = append(faults, fault{fmt.Sprintf("SIGKILL controller %d, restart", ctrlID), start, time.Now()})
	}

	// (c) Cut the leader of partition 0 off from everyone and from etcd.
	{
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
		start := time.Now()
		nd.front.setCut(true)
		nd.etcdPx.setCut(true)
		// A client that still reaches the isolated broker directly tries
		// acks=all writes on it for the whole cut.
		rogueAcks, rogueTries := rogueProduce(t, nd.b.addr(), topic, td.ID, led, func() bool {
			return time.Since(start) > 12*time.Second && rec.lastAck(0).After(start)
		})
		if rogueAcks > 0 {
			t.Errorf("the cut-off leader %d acknowledged %d of %d acks=all writes", x, rogueAcks, rogueTries)
		}
		rec.waitAcksAfter(t, 0, start)
		t.Logf("leader %d of partitions %v cut off; acknowledgements on partition 0 resumed after %v; the isolated broker acknowledged %d of %d acks=all writes sent to it directly",
			x, led, rec.lastAck(0).Sub(start).Round(time.Millisecond), rogueAcks, rogueTries)
		nd.front.setCut(false)
		nd.etcdPx.setCut(false)
		c.waitFullISR(ctx, adm, topic)
		faults = append(faults, fault{fmt.Sprintf("cut off leader %d (listener and etcd), heal", x), start, time.Now()})
	}

	// Keep producing a little on the healed cluster, then stop.
	time.Sleep(2 * time.Second)
	stopProducing()

	for _, f := range faults {
		gap, p := rec.longestGap(f.from, f.to)
		t.Logf("fault %q: longest unavailability %v (partition %d); phase took %v", f.name, gap.Round(time.Millisecond), p, f.to.Sub(f.from).Round(time.Millisecond))
	}
	verifyAcknowledged(t, ctx, c, topic, partitions, rec)
}

// rogueProduce sends acks=all produce requests straight to addr (not
// through its proxy) for the given partitions until done reports true,
// and counts partition responses without error.
func rogueProduce(t *testing.T, addr, topic string, topicID [16]byte, parts []int32, done func() bool) (acked, tries int) {
	codes := map[int16]int{}
	defer func() { t.Logf("isolated broker's answers by error code: %v", codes) }()
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	br := cl.SeedBrokers()[0]
	for i := 0; !done(); i++ {
		vals := map[int32]string{}
		for _, p := range parts {
			vals[p] = fmt.Sprintf("rogue-%d-%d", p, i)
		}
		answers, err := produceDirect(br, topic, topicID, -1, vals)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for _, p := range answers {
			tries++
			codes[p.ErrorCode]++
			if p.ErrorCode == 0 {
				acked++
			}
		}
	}
	return acked, tries
}

// verifyAcknowledged reads every partition from the start and checks the
// acknowledged records: each at its acknowledged offset, no value twice,
// per-partition order kept, nothing from the rogue writes.
func verifyAcknowledged(t *testing.T, ctx context.Context, c *cluster, topic string, partitions int32, rec *ackRecorder) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.failed) > 0 {
		t.Errorf("%d of %d records failed to produce, e.g. %v", len(rec.failed), rec.sent, rec.failed[:min(5, len(rec.failed))])
	}
	adm := kadm.NewClient(c.client())
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offs := map[string]map[int32]kgo.Offset{topic: {}}
	for p := int32(0); p < partitions; p++ {
		offs[topic][p] = kgo.NewOffset().AtStart()
	}
	cons := c.client(kgo.ConsumePartitions(offs), kgo.FetchMaxWait(500*time.Millisecond))
	got := map[int32]map[int64]string{}
	total := 0
	need := 0
	for p := int32(0); p < partitions; p++ {
		got[p] = map[int64]string{}
		o, _ := ends.Lookup(topic, p)
		need += int(o.Offset)
	}
	for total < need {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", total, need, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch p%d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if _, dup := got[r.Partition][r.Offset]; !dup {
				got[r.Partition][r.Offset] = string(r.Value)
				total++
			}
		})
	}
	seen := map[string]string{}
	acked := 0
	for p := int32(0); p < partitions; p++ {
		var offsets []int64
		for o := range got[p] {
			offsets = append(offsets, o)
		}
		slices.Sort(offsets)
		prev := ""
		for _, o := range offsets {
			v := got[p][o]
			if where, dup := seen[v]; dup {
				t.Errorf("duplicate %s at p%d@%d and %s", v, p, o, where)
			}
			seen[v] = fmt.Sprintf("p%d@%d", p, o)
			if len(v) > 5 && v[:5] == "rogue" {
				t.Errorf("a write the isolated leader took is in the log: %s at p%d@%d", v, p, o)
			}
			if prev != "" && v < prev {
				t.Errorf("order broken in partition %d at offset %d: %s after %s", p, o, v, prev)
			}
			prev = v
		}
		for _, a := range rec.acks[p] {
			acked++
			if v, ok := got[p][a.offset]; !ok || v != value(a.seq) {
				t.Errorf("acknowledged %s at p%d@%d, log has %q (present %v)", value(a.seq), p, a.offset, v, ok)
			}
		}
	}
	t.Logf("%d records sent, %d acknowledged, %d in the log; none lost, duplicated or reordered unless reported above", rec.sent, acked, total)
}
