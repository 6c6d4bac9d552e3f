package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fencedLine is what a broker logs when partition state names it leader
// for another (older) broker epoch, and it does not lead.
const fencedLine = "partition state names this broker leader for another broker epoch"

// TestClusterBouncedLeader: three runnel processes on one external etcd,
// an RF=3 min.insync.replicas=2 topic under continuous acks=all produce
// from franz-go and sarama. The leader of partition 0 and then the
// controller are killed with SIGKILL and restarted at once, well within
// their 9 s lease (Kafka's "bounced broker"). While each restarts, a
// client sends acks=1 writes straight to it. Afterwards:
//
//	(a) every acknowledged record of both producers is in the log at the
//	    offset it was acknowledged with, once, in each producer's order,
//	    read back alike by franz-go and kafka-go;
//	(b) the partitions the bounced broker led have a higher leader epoch
//	    than before, the restarted broker did not lead on the old state
//	    (it logged so), and every direct write it accepted is in the log
//	    under a newer leader epoch;
//	(c) the restarted broker is back in every ISR.
func TestClusterBouncedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	const topic = "bounce"
	const partitions = 3
	c := startCluster(t, 3, "min.insync.replicas=2", "default.replication.factor=3")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	adm := c.replicatedTopic(ctx, topic, partitions)

	// franz-go: idempotent acks=all over every partition.
	rec := &ackRecorder{acks: map[int32][]ackedRecord{}}
	pcl := c.failoverProducer()
	pctx, stopProducing := context.WithCancel(ctx)
	var producers sync.WaitGroup
	producers.Add(2)
	go func() {
		defer producers.Done()
		produceContinuously(pctx, pcl, topic, partitions, rec)
	}()
	// sarama: idempotent acks=all, one record at a time, into partition 0.
	srec := &saramaAcks{}
	go func() {
		defer producers.Done()
		produceSaramaContinuously(t, pctx, c.seeds(), topic, srec)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopProducing()
			producers.Wait()
		}
	}
	defer stop()
	for p := int32(0); p < partitions; p++ {
		rec.waitAcksAfter(t, p, time.Now())
	}
	srec.waitAcks(t, 1)

	var probes []probeWrite
	// (1) the leader of partition 0; (2) the controller (whatever it leads).
	for round, pick := range []string{"leader of partition 0", "controller"} {
		td, ctrlID, err := c.metadata(ctx, adm, topic)
		if err != nil {
			t.Fatal(err)
		}
		victim := td.Partitions[0].Leader
		if pick == "controller" {
			victim = ctrlID
		}
		epochsBefore := map[int32]int32{}
		var led []int32
		for _, p := range td.Partitions {
			if p.Leader == victim {
				led = append(led, p.Partition)
				epochsBefore[p.Partition] = p.LeaderEpoch
			}
		}
		if len(led) == 0 {
			t.Logf("round %d: the %s (broker %d) leads no partition of %s", round, pick, victim, topic)
		}
		nd := c.node(victim)
		logBefore := len(nd.b.logs())
		start := time.Now()
		nd.b.kill9()

		// Restart at once; a client writes to it directly (acks=1) from
		// before its listener accepts until it is back in every ISR.
		probeDone := make(chan struct{})
		probeRes := make(chan []probeWrite, 1)
		go func() { probeRes <- probeProduce(nd.b.addr(), topic, td.ID, led, round, probeDone) }()
		nd.b.start()
		restarted := time.Since(start)
		c.waitFullISR(ctx, adm, topic)
		// A restart faster than the controller's reaction finds the ISR
		// whole before the new leader epochs are written: wait for them.
		testenv.Eventually(t, "the bounced broker's partitions led in newer leader epochs", func() bool {
			td2, _, err := c.metadata(ctx, adm, topic)
			if err != nil {
				return false
			}
			for _, p := range td2.Partitions {
				if e, ok := epochsBefore[p.Partition]; ok && p.LeaderEpoch <= e {
					return false
				}
			}
			return true
		})
		close(probeDone)
		got := <-probeRes
		for i := range got {
			got[i].epochBefore = epochsBefore[got[i].partition]
		}
		probes = append(probes, got...)
		accepted, codes := 0, map[string]int{}
		for _, pw := range got {
			codes[kerrName(pw.code)]++
			if pw.code == 0 {
				accepted++
			}
		}
		t.Logf("round %d: %s (broker %d, led %v at epochs %v) killed and restarted; serving again after %v; back in every ISR after %v; its answers to direct writes: %v",
			round, pick, victim, led, epochsBefore, restarted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), codes)

		// (b) The restarted process did not lead on the old state...
		after := nd.b.logs()[logBefore:]
		if len(led) > 0 && !strings.Contains(after, fencedLine) {
			t.Errorf("round %d: broker %d did not report the state naming it leader as from another broker epoch", round, victim)
		}
		// ... and its partitions are led in newer leader epochs.
		td2, _, err := c.metadata(ctx, adm, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range td2.Partitions {
			if e, ok := epochsBefore[p.Partition]; ok && p.LeaderEpoch <= e {
				t.Errorf("round %d: partition %d leader epoch %d after the bounce, %d before", round, p.Partition, p.LeaderEpoch, e)
			}
			// (c) back in the ISR.
			if !slices.Contains(p.ISR, victim) {
				t.Errorf("round %d: broker %d not in the ISR %v of partition %d", round, victim, p.ISR, p.Partition)
			}
		}
	}

	time.Sleep(time.Second)
	stop()
	verifyBounce(t, ctx, c, topic, partitions, rec, srec, probes)
}

// saramaAcks are the acknowledged records of the sarama producer, in
// acknowledgement order (all in partition 0).
type saramaAcks struct {
	mu     sync.Mutex
	acks   []ackedRecord
	failed int
}

func (s *saramaAcks) waitAcks(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.acks)
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sarama: %d acknowledgements after 60s, want %d", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func saramaValue(seq int64) string { return fmt.Sprintf("s-%09d", seq) }

// produceSaramaContinuously sends one record at a time to partition 0 with
// a sarama SyncProducer (acks=all, idempotent) until ctx ends.
func produceSaramaContinuously(t *testing.T, ctx context.Context, seeds []string, topic string, rec *saramaAcks) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Max = 300
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Timeout = 5 * time.Second
	cfg.Net.MaxOpenRequests = 1
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 300
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	p, err := sarama.NewSyncProducer(seeds, cfg)
	if err != nil {
		t.Errorf("sarama producer: %v", err)
		return
	}
	defer p.Close()
	for seq := int64(0); ctx.Err() == nil; seq++ {
		m := &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(saramaValue(seq))}
		_, off, err := p.SendMessage(m)
		rec.mu.Lock()
		if err != nil {
			rec.failed++
		} else {
			rec.acks = append(rec.acks, ackedRecord{seq: seq, offset: off, at: time.Now()})
		}
		rec.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// probeWrite is one partition's answer to a direct write to a restarted
// broker.
type probeWrite struct {
	partition   int32
	value       string
	code        int16
	offset      int64
	epochBefore int32 // the partition's leader epoch before the bounce
}

func kerrName(code int16) string {
	if code == 0 {
		return "accepted"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		return e.Error()
	}
	return fmt.Sprint(code)
}

// probeProduce sends acks=1 writes for parts straight to addr (not
// through its proxy) until done is closed, and returns every partition
// answer.
func probeProduce(addr, topic string, topicID [16]byte, parts []int32, round int, done <-chan struct{}) []probeWrite {
	var out []probeWrite
	if len(parts) == 0 {
		<-done
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(5*time.Second), kgo.DialTimeout(time.Second))
	if err != nil {
		return nil
	}
	defer cl.Close()
	br := cl.SeedBrokers()[0]
	for i := 0; ; i++ {
		select {
		case <-done:
			return out
		default:
		}
		vals := map[int32]string{}
		for _, p := range parts {
			vals[p] = fmt.Sprintf("probe-%d-%d-%d", round, p, i)
		}
		answers, err := produceDirect(br, topic, topicID, 1, vals)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for _, p := range answers {
			out = append(out, probeWrite{partition: p.Partition, value: vals[p.Partition], code: p.ErrorCode, offset: p.BaseOffset})
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type loggedRecord struct {
	value string
	epoch int32
}

// readAllFranz reads every partition from the start to its end offset
// with franz-go.
func readAllFranz(t *testing.T, ctx context.Context, c *cluster, topic string, ends kadm.ListedOffsets, partitions int32) map[int32]map[int64]loggedRecord {
	t.Helper()
	offs := map[string]map[int32]kgo.Offset{topic: {}}
	need := 0
	got := map[int32]map[int64]loggedRecord{}
	for p := int32(0); p < partitions; p++ {
		offs[topic][p] = kgo.NewOffset().AtStart()
		o, _ := ends.Lookup(topic, p)
		need += int(o.Offset)
		got[p] = map[int64]loggedRecord{}
	}
	cons := c.client(kgo.ConsumePartitions(offs), kgo.FetchMaxWait(500*time.Millisecond))
	total := 0
	for total < need {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go consumed %d of %d records: %v", total, need, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("franz-go fetch p%d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if _, dup := got[r.Partition][r.Offset]; !dup {
				got[r.Partition][r.Offset] = loggedRecord{string(r.Value), r.LeaderEpoch}
				total++
			}
		})
	}
	return got
}

// readAllKafkaGo reads every partition from the start to its end offset
// with kafka-go.
func readAllKafkaGo(t *testing.T, ctx context.Context, c *cluster, topic string, ends kadm.ListedOffsets, partitions int32) map[int32]map[int64]string {
	t.Helper()
	got := map[int32]map[int64]string{}
	for p := int32(0); p < partitions; p++ {
		got[p] = map[int64]string{}
		end, _ := ends.Lookup(topic, p)
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.seeds(), Topic: topic, Partition: int(p), MaxWait: 200 * time.Millisecond})
		if err := r.SetOffset(kafkago.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for int64(len(got[p])) < end.Offset {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("kafka-go read partition %d after %d records: %v", p, len(got[p]), err)
			}
			got[p][m.Offset] = string(m.Value)
		}
		r.Close()
	}
	return got
}

// verifyBounce checks (a) and the direct writes of (b).
func verifyBounce(t *testing.T, ctx context.Context, c *cluster, topic string, partitions int32, rec *ackRecorder, srec *saramaAcks, probes []probeWrite) {
	t.Helper()
	adm := kadm.NewClient(c.client())
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	franz := readAllFranz(t, ctx, c, topic, ends, partitions)
	kgoRead := readAllKafkaGo(t, ctx, c, topic, ends, partitions)

	// Both readers see the same log, dense from 0.
	total := 0
	seen := map[string]string{}
	for p := int32(0); p < partitions; p++ {
		end, _ := ends.Lookup(topic, p)
		for o := int64(0); o < end.Offset; o++ {
			f, ok := franz[p][o]
			k, ok2 := kgoRead[p][o]
			if !ok || !ok2 || f.value != k {
				t.Errorf("p%d@%d: franz-go read %q (%v), kafka-go %q (%v)", p, o, f.value, ok, k, ok2)
			}
			if where, dup := seen[f.value]; dup {
				t.Errorf("duplicate %s at p%d@%d and %s", f.value, p, o, where)
			}
			seen[f.value] = fmt.Sprintf("p%d@%d", p, o)
			total++
		}
	}

	// (a) Every acknowledged record at its offset, in producer order.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	srec.mu.Lock()
	defer srec.mu.Unlock()
	acked := 0
	for p := int32(0); p < partitions; p++ {
		as := slices.Clone(rec.acks[p])
		slices.SortFunc(as, func(a, b ackedRecord) int { return int(a.seq - b.seq) })
		for i, a := range as {
			acked++
			if got := franz[p][a.offset].value; got != value(a.seq) {
				t.Errorf("franz-go acknowledged %s at p%d@%d; the log has %q", value(a.seq), p, a.offset, got)
			}
			if i > 0 && a.offset <= as[i-1].offset {
				t.Errorf("franz-go order broken in p%d: %s at %d after %s at %d", p, value(a.seq), a.offset, value(as[i-1].seq), as[i-1].offset)
			}
		}
	}
	for i, a := range srec.acks {
		acked++
		if got := franz[0][a.offset].value; got != saramaValue(a.seq) {
			t.Errorf("sarama acknowledged %s at p0@%d; the log has %q", saramaValue(a.seq), a.offset, got)
		}
		if i > 0 && a.offset <= srec.acks[i-1].offset {
			t.Errorf("sarama order broken: %s at %d after %s at %d", saramaValue(a.seq), a.offset, saramaValue(srec.acks[i-1].seq), srec.acks[i-1].offset)
		}
	}

	// (b) A direct write the restarted broker accepted is in the log, at
	// its offset, in a newer leader epoch than the one it led before.
	accepted := 0
	for _, pw := range probes {
		if pw.code != 0 {
			continue
		}
		accepted++
		got, ok := franz[pw.partition][pw.offset]
		if !ok || got.value != pw.value {
			t.Errorf("the restarted broker accepted %s at p%d@%d; the log has %q", pw.value, pw.partition, pw.offset, got.value)
			continue
		}
		if got.epoch <= pw.epochBefore {
			t.Errorf("the restarted broker accepted %s at p%d@%d in leader epoch %d, not newer than %d before its restart", pw.value, pw.partition, pw.offset, got.epoch, pw.epochBefore)
		}
	}
	t.Logf("%d franz-go and %d sarama records sent, %d acknowledged (%d franz-go and %d sarama failures), %d records in the log read alike by franz-go and kafka-go; %d direct writes to the restarted brokers, %d accepted (all under a new leader epoch unless reported above)",
		rec.sent, len(srec.acks)+srec.failed, acked, len(rec.failed), srec.failed, total, len(probes), accepted)
}
