package broker

import (
	"maps"
	"testing"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/replica"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A broker leads a partition only while the partition state records its
// current broker epoch as the leader's: state written for a previous
// process of the broker (it restarted before the controller moved the
// leadership) is answered NOT_LEADER_OR_FOLLOWER for produce and fetch,
// and the coordinators do not load it, until the leadership is written
// again under the broker's epoch (in a new leader epoch).
func TestStateFromBeforeRestartIsNotLed(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "fence", 1, nil)
	br := tb.client(t).SeedBrokers()[0]
	ctx := testCtx(t)
	produce := func(tag string) kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "fence", tb.ctrl.Snapshot().Topics["fence"].ID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = testBatch(tag, 1, 1)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, br)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	fetch := func() kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "fence", tb.ctrl.Snapshot().Topics["fence"].ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, br)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := produce("a"); p.ErrorCode != 0 {
		t.Fatalf("produce while leading: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	snap := tb.ctrl.Snapshot()
	own := tb.ctrl.OwnEpoch(snap)
	p0 := snap.Topics["fence"].Partitions[0]
	if own == 0 || p0.Leader != tb.ID() || p0.LeaderBrokerEpoch != own {
		t.Fatalf("created state %+v, own epoch %d", p0, own)
	}

	// A snapshot far ahead of etcd (so that the real ones that follow are
	// ignored) with the partition as a previous process left it.
	with := func(rev int64, p controller.Partition) *controller.Snapshot {
		n := *snap
		n.Revision = rev
		n.Topics = maps.Clone(snap.Topics)
		nt := *snap.Topics["fence"]
		nt.Partitions = []controller.Partition{p}
		n.Topics["fence"] = &nt
		return &n
	}
	stale := p0
	stale.LeaderBrokerEpoch = own - 1
	tb.replicas.Apply(with(snap.Revision+1_000_000, stale))
	if p := produce("b"); kerr.ErrorForCode(p.ErrorCode) != kerr.NotLeaderForPartition {
		t.Fatalf("produce on state from before the restart: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := fetch(); kerr.ErrorForCode(p.ErrorCode) != kerr.NotLeaderForPartition {
		t.Fatalf("fetch on state from before the restart: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if lead := replica.LedPartitions(with(0, stale), "fence", tb.ID(), own); len(lead) != 0 {
		t.Fatalf("coordinators would load %v", lead)
	}
	old := stale
	old.LeaderBrokerEpoch = 0 // state written by an older Runnel
	if lead := replica.LedPartitions(with(0, old), "fence", tb.ID(), own); len(lead) != 0 {
		t.Fatalf("coordinators would load %v", lead)
	}

	// The controller elects it again under its epoch.
	again := p0
	again.LeaderEpoch++
	tb.replicas.Apply(with(snap.Revision+1_000_001, again))
	if p := produce("c"); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("produce after the new election: %v at %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	r, err := tb.replicas.Get(snap, "fence", 0)
	if err != nil {
		t.Fatal(err)
	}
	if e := r.Log().LatestEpoch(); e != again.LeaderEpoch {
		t.Fatalf("latest epoch in the log %d, want %d", e, again.LeaderEpoch)
	}
}
