package broker

import (
	"fmt"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/runnel/runnel/config"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchFromFollower: with rack-aware replica selection (KIP-392) a
// leader points a consumer in a follower's rack to that follower, which
// then serves it up to its high watermark; a consumer in the leader's rack,
// or with no rack, is served by the leader. franz-go (kgo.Rack) and sarama
// (Config.RackID) consume every record through the follower.
func TestFetchFromFollower(t *testing.T) {
	url := startEtcd(t)
	dir := t.TempDir()
	var bs []*testBroker
	for id := int32(1); id <= 3; id++ {
		bs = append(bs, startClusterBroker(t, url, id, dir, rackOf(id), "replica.selector.class="+config.RackAwareReplicaSelector))
	}
	t.Cleanup(func() {
		for _, b := range bs {
			b.Close()
		}
	})
	waitAllRegistered(t, bs)
	ctx := testCtx(t)
	if _, err := bs[0].admin(t).CreateTopic(ctx, 1, 3, nil, "ffr"); err != nil {
		t.Fatal(err)
	}
	waitLeadersEverywhere(t, bs, "ffr", 1)
	st := partitionState(bs[0], "ffr", 0)
	byID := map[int32]*testBroker{}
	for _, b := range bs {
		byID[b.id] = b
	}
	leader := byID[st.Leader]
	var follower *testBroker
	for _, id := range st.Replicas {
		if id != st.Leader {
			follower = byID[id]
			break
		}
	}

	const n = 100
	pcl := leader.client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("ffr"))
	for i := 0; i < n; i++ {
		if err := pcl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint("v", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every replica's high watermark at the log end", func() bool {
		for _, b := range bs {
			if localReplica(b, "ffr", 0).log.HighWatermark() != n {
				return false
			}
		}
		return true
	})

	fetch := func(to *testBroker, version int16, rack string, epoch int32) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version = version
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 5000, 1, 1<<20
		req.Rack = rack
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "ffr"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.CurrentLeaderEpoch, fp.PartitionMaxBytes = epoch, 1<<20
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp, err := to.pinnedClient(t, req.Key(), version).SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	followerRack := rackName(follower.id)

	p := fetch(leader, 12, followerRack, st.LeaderEpoch)
	if p.ErrorCode != 0 || p.PreferredReadReplica != follower.id || len(p.RecordBatches) != 0 || p.HighWatermark != n {
		t.Fatalf("leader, consumer in the follower's rack: %+v", p)
	}
	for _, rack := range []string{rackName(leader.id), "", "rack-nowhere"} {
		p = fetch(leader, 12, rack, st.LeaderEpoch)
		if p.ErrorCode != 0 || p.PreferredReadReplica != -1 || countRecords(t, p.RecordBatches) != n {
			t.Fatalf("leader, consumer in rack %q: error %d, preferred %d, %d records", rack, p.ErrorCode, p.PreferredReadReplica, countRecords(t, p.RecordBatches))
		}
	}
	p = fetch(follower, 12, followerRack, st.LeaderEpoch)
	if p.ErrorCode != 0 || p.PreferredReadReplica != -1 || p.HighWatermark != n || countRecords(t, p.RecordBatches) != n {
		t.Fatalf("follower, consumer v12: error %d, hw %d, %d records", p.ErrorCode, p.HighWatermark, countRecords(t, p.RecordBatches))
	}
	if p = fetch(follower, 10, "", st.LeaderEpoch); p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("follower, consumer v10 (no client metadata): error %d, want NOT_LEADER_OR_FOLLOWER", p.ErrorCode)
	}
	if p = fetch(follower, 12, followerRack, st.LeaderEpoch+1); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("follower, a newer leader epoch than it knows: error %d, want UNKNOWN_LEADER_EPOCH", p.ErrorCode)
	}

	// franz-go follows the preferred replica and reads everything there.
	before := follower.followerReads.Load()
	var mu sync.Mutex
	batchesFrom := map[int32]int{}
	ccl := leader.client(t, kgo.Rack(followerRack), kgo.ConsumeTopics("ffr"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithHooks(fetchHook(func(node int32) { mu.Lock(); batchesFrom[node]++; mu.Unlock() })))
	var got []string
	for len(got) < n && ctx.Err() == nil {
		ccl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if v != fmt.Sprint("v", i) {
			t.Fatalf("franz-go record %d is %q", i, v)
		}
	}
	mu.Lock()
	if batchesFrom[follower.id] == 0 {
		t.Fatalf("franz-go read no batch from the follower in its rack: %v", batchesFrom)
	}
	mu.Unlock()
	if follower.followerReads.Load() == before {
		t.Fatal("the follower counted no follower reads for franz-go")
	}

	// sarama too.
	before = follower.followerReads.Load()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.RackID = followerRack
	sc, err := sarama.NewConsumer([]string{leader.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	pc, err := sc.ConsumePartition("ffr", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := 0; i < n; i++ {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != fmt.Sprint("v", i) || m.Offset != int64(i) {
				t.Fatalf("sarama message %d: offset %d value %q", i, m.Offset, m.Value)
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("sarama read %d of %d messages", i, n)
		}
	}
	if follower.followerReads.Load() == before {
		t.Fatal("the follower counted no follower reads for sarama")
	}
}

func rackName(id int32) string { return fmt.Sprint("rack-", id) }
func rackOf(id int32) string   { return "broker.rack=" + rackName(id) }

// countRecords counts the records in a fetched record set.
func countRecords(t *testing.T, set []byte) int {
	t.Helper()
	n := 0
	for len(set) >= 12 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(set); err != nil {
			t.Fatalf("decoding a fetched batch: %v", err)
		}
		n += int(rb.NumRecords)
		set = set[12+int(rb.Length):]
	}
	return n
}

// fetchHook calls onBatch with the node id of every fetched batch.
type fetchHook func(node int32)

func (h fetchHook) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, _ kgo.FetchBatchMetrics) {
	h(meta.NodeID)
}
