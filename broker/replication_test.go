package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// startClusterBroker starts broker id against the etcd at url.
func startClusterBroker(t *testing.T, url string, id int32, dir string, overrides ...string) *testBroker {
	t.Helper()
	ov := append([]string{
		fmt.Sprintf("broker.id=%d", id),
		"listeners=PLAINTEXT://127.0.0.1:0",
		"log.dirs=" + filepath.Join(dir, fmt.Sprint("logs", id)),
		"runnel.admin.listener=",
		"etcd.endpoints=" + url,
		"replica.fetch.wait.max.ms=100",
		"replica.fetch.backoff.ms=100",
	}, overrides...)
	cfg, _, err := config.Load("", nil, ov)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).With(zap.Int32("b", id))})
	if err != nil {
		t.Fatal(err)
	}
	return &testBroker{Broker: b, addr: b.Addrs()[0].String()}
}

// startClusterBrokers starts brokers 1..n against the etcd at url and waits
// until every one of them sees all n registered, so that a CreateTopics with
// replication factor n sent right after cannot meet a controller that has not
// yet seen the last registration (INVALID_REPLICATION_FACTOR).
func startClusterBrokers(t *testing.T, url string, n int32, dir string, overrides ...string) []*testBroker {
	t.Helper()
	var bs []*testBroker
	for id := int32(1); id <= n; id++ {
		bs = append(bs, startClusterBroker(t, url, id, dir, overrides...))
	}
	waitAllRegistered(t, bs)
	return bs
}

// waitAllRegistered waits until every broker of bs sees all of them
// registered.
func waitAllRegistered(t *testing.T, bs []*testBroker) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d brokers registered", len(bs)), func() bool {
		for _, b := range bs {
			if len(b.ctrl.Snapshot().Brokers) != len(bs) {
				return false
			}
		}
		return true
	})
}

// waitLeadersEverywhere waits until every broker of bs knows a leader for
// each of topic's first partitions.
func waitLeadersEverywhere(t *testing.T, bs []*testBroker, topic string, partitions int32) {
	t.Helper()
	testenv.Eventually(t, "topic on every broker", func() bool {
		for _, b := range bs {
			for p := int32(0); p < partitions; p++ {
				if partitionState(b, topic, p).Leader < 0 {
					return false
				}
			}
		}
		return true
	})
}

// partitionState reads topic/partition from b's metadata.
func partitionState(b *testBroker, topic string, p int32) controller.Partition {
	t := b.ctrl.Snapshot().Topics[topic]
	if t == nil || t.Partition(p) == nil {
		return controller.Partition{Leader: -1}
	}
	return *t.Partition(p)
}

// TestReplicationThreeBrokers: an RF=3 topic replicates acks=all writes to
// every replica byte for byte; a follower that stops fetching leaves the
// ISR after replica.lag.time.max.ms and comes back when it catches up;
// controlled shutdown moves leadership (with a new epoch) and nothing
// acknowledged is lost.
func TestReplicationThreeBrokers(t *testing.T) {
	url := testenv.StartEtcd(t)
	dir := t.TempDir()
	bs := startClusterBrokers(t, url, 3, dir, "replica.lag.time.max.ms=1500", "min.insync.replicas=2")
	var closeOnce sync.Map
	closeB := func(b *testBroker) {
		if _, loaded := closeOnce.LoadOrStore(b.id, true); !loaded {
			if err := b.Close(); err != nil {
				t.Errorf("close %d: %v", b.id, err)
			}
		}
	}
	t.Cleanup(func() {
		for _, b := range bs {
			closeB(b)
		}
	})
	ctx := testCtx(t)
	adm := bs[0].admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "rep"); err != nil {
		t.Fatal(err)
	}
	waitLeadersEverywhere(t, bs, "rep", 1)
	st := partitionState(bs[0], "rep", 0)
	byID := map[int32]*testBroker{}
	for _, b := range bs {
		byID[b.id] = b
	}
	cl := bs[0].client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"), kgo.RecordRetries(100))
	produce := func(n int, tag string) []int64 {
		var offs []int64
		for i := 0; i < n; i++ {
			r, err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s-%d", tag, i))).First()
			if err != nil {
				t.Fatalf("produce %s-%d: %v", tag, i, err)
			}
			offs = append(offs, r.Offset)
		}
		return offs
	}
	produce(50, "a")
	leader := byID[st.Leader]
	end := localReplica(leader, "rep", 0).log.LogEndOffset()
	testenv.Eventually(t, "followers caught up", func() bool {
		for _, b := range bs {
			r := localReplica(b, "rep", 0)
			if r.log.LogEndOffset() != end || r.log.HighWatermark() != end {
				return false
			}
		}
		return true
	})

	// A follower that stops fetching leaves the ISR.
	var follower *testBroker
	for _, id := range st.Replicas {
		if id != st.Leader {
			follower = byID[id]
			break
		}
	}
	follower.replicas.PauseFetchers(true)
	testenv.Eventually(t, "ISR shrink", func() bool {
		p := partitionState(leader, "rep", 0)
		return len(p.ISR) == 2 && !containsID(p.ISR, follower.id)
	})
	produce(10, "b") // ISR of 2 still meets min.insync.replicas=2
	follower.replicas.PauseFetchers(false)
	testenv.Eventually(t, "ISR expand", func() bool {
		return len(partitionState(leader, "rep", 0).ISR) == 3
	})

	// Controlled shutdown of the leader: leadership moves, epoch bumps.
	closeB(leader)
	var rest []*testBroker
	for _, b := range bs {
		if b != leader {
			rest = append(rest, b)
		}
	}
	testenv.Eventually(t, "new leader", func() bool {
		p := partitionState(rest[0], "rep", 0)
		return p.Leader >= 0 && p.Leader != leader.id && p.LeaderEpoch > st.LeaderEpoch
	})
	// ElectLeaders through the wire: the preferred replica is gone.
	if st.Replicas[0] == leader.id {
		res, err := rest[0].admin(t).ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"rep": {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		if r := res["rep"][0]; !errors.Is(r.Err, kerr.PreferredLeaderNotAvailable) {
			t.Fatalf("preferred election without the preferred replica: %+v", r)
		}
	}
	cl2 := rest[0].client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"), kgo.RecordRetries(100))
	for i := 0; i < 10; i++ {
		if err := cl2.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("c-%d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Every acknowledged record is there, once, in order.
	cons := rest[0].client(t, kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 70 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 70: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	want := []string{}
	for i := 0; i < 50; i++ {
		want = append(want, fmt.Sprintf("a-%d", i))
	}
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf("b-%d", i))
	}
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf("c-%d", i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("consumed\n%v\nwant\n%v", got, want)
	}
}

// localRep is a broker's replica of a partition with its log at hand.
type localRep struct {
	*replica.Partition
	log *storage.Log
}

// localReplica is b's replica of topic/p, or nil.
func localReplica(b *testBroker, topic string, p int32) *localRep {
	r := b.replicas.Local(topic, p)
	if r == nil {
		return nil
	}
	return &localRep{Partition: r, log: r.Log()}
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestFollowerTruncatesByEpoch: a follower holding records of an epoch the
// new leader never had (an old leader's unreplicated tail) truncates them
// by OffsetForLeaderEpoch and then replicates the new leader's log.
func TestFollowerTruncatesByEpoch(t *testing.T) {
	ctx := testCtx(t)
	leader, follower, st, cl, fr := pausedFollower(t, "tr2")
	// The follower grows a tail of its own in a bogus newer epoch (as if
	// it had led briefly and its writes were never replicated) …
	leo := fr.log.LogEndOffset()
	raw := buildBatch(t, leo, st.LeaderEpoch, 3)
	ok, err := fr.AppendAsFollower(replica.FollowerAppend{Leader: st.Leader, LeaderEpoch: st.LeaderEpoch, LogEnd: leo, Batches: raw, LeaderHW: -1, LeaderLogStart: -1}, nil)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// … then a leader change to a new epoch on the same leader makes it
	// truncate: the leader's epoch ends at 5, so offsets 5-7 go.
	p := partitionState(leader, "tr2", 0)
	np := p
	np.LeaderEpoch++
	rev, err := leader.ctrl.UpdatePartition(ctx, "tr2", np)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.ctrl.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("y")).FirstErr(); err != nil && !isRetriable(err) {
			t.Fatal(err)
		}
	}
	follower.replicas.PauseFetchers(false)
	lr := localReplica(leader, "tr2", 0)
	testenv.Eventually(t, "follower equal to leader", func() bool {
		return fr.log.LogEndOffset() == lr.log.LogEndOffset() && lr.log.LogEndOffset() >= 7
	})
	// Byte-for-byte equal logs.
	a := readAll(t, lr.log)
	b := readAll(t, fr.log)
	if a != b {
		t.Fatalf("logs differ after truncation")
	}
}

func isRetriable(err error) bool { return kerr.IsRetriable(err) }

// OffsetForLeaderEpoch answers FENCED_LEADER_EPOCH for an older current
// epoch; used by the follower's truncation step.
func TestOffsetForLeaderEpochFencing(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	if _, err := tb.admin(t).CreateTopic(ctx, 1, 1, nil, "f"); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "f"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.CurrentLeaderEpoch = 5
	rp.LeaderEpoch = 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, tb.client(t))
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("error %d, want UNKNOWN_LEADER_EPOCH", c)
	}
}

// buildBatch is a batch of n records at offset base in leader epoch epoch.
func buildBatch(t *testing.T, base int64, epoch int32, n int) []byte {
	t.Helper()
	bb := storage.BatchBuilder{BaseOffset: base, PartitionLeaderEpoch: epoch}
	for i := range n {
		bb.Add(time.Now().UnixMilli(), nil, fmt.Appendf(nil, "tail-%d", i))
	}
	return bb.Build()
}

func appendOpts() storage.AppendOptions { return storage.AppendOptions{AssignOffsets: false} }

// readAll returns every byte of l's log.
func readAll(t *testing.T, l *storage.Log) string {
	t.Helper()
	rr, err := l.Read(l.LogStartOffset(), l.LogEndOffset(), 1<<30, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	var sb strings.Builder
	for _, rg := range rr.Regions {
		buf := make([]byte, rg.Length)
		if _, err := rg.File.ReadAt(buf, rg.Offset); err != nil {
			t.Fatal(err)
		}
		sb.Write(buf)
	}
	return sb.String()
}

// TestFollowerDropsEmptyEpochAtLogEnd: a follower whose latest leader
// epoch starts at its log end and holds no batch — it led briefly in that
// epoch and wrote nothing, and the new leader never had the epoch — drops
// that epoch when it truncates, even though no record goes, and then
// replicates the leader's log. Keeping it made every fetch (whose last
// fetched epoch was that one) answer a diverging epoch whose truncation
// removed nothing: the follower looped between the two forever and never
// rejoined the ISR (found after controlled shutdowns and restarts).
func TestFollowerDropsEmptyEpochAtLogEnd(t *testing.T) {
	ctx := testCtx(t)
	leader, follower, st, _, fr := pausedFollower(t, "ee2")
	// The follower's log gets an epoch of its own at its log end, with no
	// batch (what setRole stamps when it becomes leader) …
	if err := fr.log.AssignEpoch(st.LeaderEpoch+1, fr.log.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	// … and the leader moves on to a later epoch without ever having had
	// it, and writes in it.
	p := partitionState(leader, "ee2", 0)
	np := p
	np.LeaderEpoch += 2
	rev, err := leader.ctrl.UpdatePartition(ctx, "ee2", np)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.ctrl.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := follower.ctrl.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	lr := localReplica(leader, "ee2", 0)
	testenv.Eventually(t, "leader in the new epoch", func() bool { return lr.log.LatestEpoch() == np.LeaderEpoch })
	// acks=1: the ISR may have shrunk to the leader meanwhile.
	cl1 := leader.client(t, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("ee2"))
	for i := 0; i < 3; i++ {
		if err := cl1.ProduceSync(ctx, kgo.StringRecord("y")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	follower.replicas.PauseFetchers(false)
	testenv.Eventually(t, "follower equal to leader", func() bool {
		return fr.log.LogEndOffset() == lr.log.LogEndOffset() && lr.log.LogEndOffset() == 8
	})
	if a, b := readAll(t, lr.log), readAll(t, fr.log); a != b {
		t.Fatalf("logs differ after truncation")
	}
	if got := fr.log.LatestEpoch(); got != np.LeaderEpoch {
		t.Fatalf("follower's latest epoch %d, want the leader's %d", got, np.LeaderEpoch)
	}
}

// pausedFollower starts two brokers with a two-replica topic (and a
// one-replica topic named topic minus its last character, so that
// placement alternates), writes 5 records with acks=all, waits for the
// follower to hold them and pauses its fetchers. It returns the brokers,
// the partition's state, the producing client and the follower's replica.
func pausedFollower(t *testing.T, topic string) (leader, follower *testBroker, st controller.Partition, cl *kgo.Client, fr *localRep) {
	t.Helper()
	url := testenv.StartEtcd(t)
	dir := t.TempDir()
	bs := startClusterBrokers(t, url, 2, dir, "replica.lag.time.max.ms=2000")
	b1, b2 := bs[0], bs[1]
	t.Cleanup(func() { b1.Close(); b2.Close() })
	ctx := testCtx(t)
	adm := kadm.NewClient(b1.client(t))
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, topic[:len(topic)-1]); err != nil {
		t.Fatal(err)
	}
	resp, err := adm.CreateTopic(ctx, 1, 2, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatal(err, resp.Err)
	}
	testenv.Eventually(t, "topic", func() bool {
		return partitionState(b1, topic, 0).Leader >= 0 && partitionState(b2, topic, 0).Leader >= 0 &&
			localReplica(b1, topic, 0) != nil && localReplica(b2, topic, 0) != nil
	})
	st = partitionState(b1, topic, 0)
	leader, follower = b1, b2
	if st.Leader == 2 {
		leader, follower = b2, b1
	}
	cl = leader.client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	fr = localReplica(follower, topic, 0)
	testenv.Eventually(t, "follower caught up", func() bool { return fr.log.LogEndOffset() == 5 })
	follower.replicas.PauseFetchers(true)
	return leader, follower, st, cl, fr
}
