package broker

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/replica"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"
)

// A topic deleted while the broker was down leaves a stray log on disk;
// the broker removes it when it starts and sees the metadata.
func TestStrayPartitionLogsAreDeletedAtStart(t *testing.T) {
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	logDir := filepath.Join(dir, "logs")
	cfg, _, err := config.Load("", nil, []string{"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + logDir, "runnel.admin.listener="})
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Broker {
		b, err := New(testCtx(t), Options{Config: cfg, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	b := open()
	for _, name := range []string{"keep", "stray"} {
		if _, rev, err := b.ctrl.CreateTopic(testCtx(t), controller.TopicSpec{Name: name, NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		} else if err := b.ctrl.WaitRevision(testCtx(t), rev); err != nil {
			t.Fatal(err)
		}
	}
	b.replicas.Apply(b.ctrl.Snapshot())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"keep-0", "stray-0"} {
		if _, err := os.Stat(filepath.Join(logDir, d)); err != nil {
			t.Fatalf("%s should exist before the deletion: %v", d, err)
		}
	}

	// Delete "stray" with only the metadata store running, as another
	// broker would while this one is down.
	ctrl, err := controller.Open(testCtx(t), controller.Options{DataDir: filepath.Join(logDir, etcdDirName), BrokerID: 2, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.DeleteTopic(testCtx(t), "stray"); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Close(); err != nil {
		t.Fatal(err)
	}

	b = open()
	defer b.Close()
	if _, err := os.Stat(filepath.Join(logDir, "keep-0")); err != nil {
		t.Fatalf("keep-0 was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(logDir, "stray-0")); !os.IsNotExist(err) {
		t.Fatalf("stray-0 still there (%v)", err)
	}
}

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
