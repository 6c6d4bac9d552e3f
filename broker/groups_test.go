package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/runnel/runnel/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"
)

// groupOverrides make group tests quick: no initial rebalance delay,
// short sessions allowed, a small __consumer_offsets.
var groupOverrides = []string{
	"group.initial.rebalance.delay.ms=0",
	"group.min.session.timeout.ms=500",
	"offsets.topic.num.partitions=5",
}

// grpProduce writes values "0".."n-1" (from start) round-robin over the
// topic's partitions.
func grpProduce(t *testing.T, tb *testBroker, topic string, start, n int) {
	t.Helper()
	cl := tb.client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var recs []*kgo.Record
	for i := start; i < start+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestFindCoordinatorCreatesOffsetsTopic(t *testing.T) {
	tb := startTestBroker(t)
	cl := tb.client(t)
	ctx := testCtx(t)
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = []string{"g1", "g2"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Coordinators {
		if c.ErrorCode != 0 || c.NodeID != 1 || c.Port == 0 {
			t.Fatalf("%+v", c)
		}
	}
	topic := tb.ctrl.Snapshot().Topics["__consumer_offsets"]
	if topic == nil || !topic.Internal || len(topic.Partitions) != 50 || topic.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("%+v", topic)
	}
	// Unknown key types.
	req.CoordinatorType = 7
	resp, err = req.RequestWith(ctx, cl)
	if err != nil || resp.Coordinators[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatal(err, resp)
	}
	// v3: one key.
	old := kmsg.NewPtrFindCoordinatorRequest()
	old.Version = 3
	old.CoordinatorKey = "g1"
	oresp, err := old.RequestWith(ctx, cl)
	if err != nil || oresp.ErrorCode != 0 || oresp.NodeID != 1 {
		t.Fatal(err, oresp)
	}
}

func TestOffsetFetchUnknownGroup(t *testing.T) {
	tb := startTestBroker(t, groupOverrides...)
	dataTopic(t, tb, "t", 2, nil)
	offs, err := tb.admin(t).FetchOffsets(testCtx(t), "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 0 {
		t.Fatalf("%+v", offs)
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = "nobody"
	rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	req.Groups = append(req.Groups, rg)
	// Route it to the coordinator.
	resp, err := req.RequestWith(testCtx(t), tb.client(t))
	if err != nil {
		t.Fatal(err)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 || len(g.Topics[0].Partitions) != 2 || g.Topics[0].Partitions[0].Offset != -1 || g.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("%+v", g)
	}
}

// tracker records which values were processed.
type tracker struct {
	mu   sync.Mutex
	seen map[int]int
}

func (tr *tracker) add(v []byte) {
	n, _ := strconv.Atoi(string(v))
	tr.mu.Lock()
	tr.seen[n]++
	tr.mu.Unlock()
}

func (tr *tracker) missing(n int) []int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []int
	for i := 0; i < n; i++ {
		if tr.seen[i] == 0 {
			out = append(out, i)
		}
	}
	return out
}

// kgoMember runs a franz-go group consumer that commits after processing
// each poll; stop ends it (leaving the group unless static).
func kgoMember(t *testing.T, tb *testBroker, group, topic string, tr *tracker, opts ...kgo.Opt) (stop func()) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(tb.addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(1500 * time.Millisecond),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 100)
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				tr.add(r.Value)
				recs = append(recs, r)
			})
			if len(recs) > 0 {
				if err := cl.CommitRecords(context.Background(), recs...); err != nil {
					t.Logf("commit: %v", err)
				}
			}
			cl.AllowRebalance()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			cl.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

func testGroupChurn(t *testing.T, balancer kgo.GroupBalancer) {
	tb := startTestBroker(t, groupOverrides...)
	dataTopic(t, tb, "t", 6, nil)
	tr := &tracker{seen: map[int]int{}}
	const total = 3000
	grpProduce(t, tb, "t", 0, 1000)
	stopA := kgoMember(t, tb, "g", "t", tr, kgo.Balancers(balancer))
	testenv.Eventually(t, "first records", func() bool { return len(tr.missing(1000)) < 1000 })
	stopB := kgoMember(t, tb, "g", "t", tr, kgo.Balancers(balancer))
	// A static member that "crashes": closing a static member does not
	// leave the group, so the coordinator only notices by session timeout.
	stopC := kgoMember(t, tb, "g", "t", tr, kgo.Balancers(balancer), kgo.InstanceID("crashy"))
	grpProduce(t, tb, "t", 1000, 1000)
	testenv.Eventually(t, "second thousand", func() bool { return len(tr.missing(1500)) == 0 })
	stopC() // crash
	stopA() // clean leave
	grpProduce(t, tb, "t", 2000, 1000)
	stopD := kgoMember(t, tb, "g", "t", tr, kgo.Balancers(balancer))
	testenv.Eventually(t, "every record", func() bool { return len(tr.missing(total)) == 0 })
	stopB()
	stopD()
	// Everything is committed: the group's lag is zero.
	adm := tb.admin(t)
	offs, err := adm.FetchOffsets(testCtx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != total {
		t.Fatalf("committed offsets add up to %d, want %d", sum, total)
	}
}

func TestGroupEagerChurn(t *testing.T) { testGroupChurn(t, kgo.RangeBalancer()) }

func TestGroupCooperativeChurn(t *testing.T) { testGroupChurn(t, kgo.CooperativeStickyBalancer()) }

func TestStaticMemberRestartWithoutRebalance(t *testing.T) {
	tb := startTestBroker(t, groupOverrides...)
	dataTopic(t, tb, "t", 4, nil)
	grpProduce(t, tb, "t", 0, 100)
	tr := &tracker{seen: map[int]int{}}
	var mu sync.Mutex
	assigned := 0
	assignedGen := int32(-1) // the generation of the watcher's latest assignment
	watcher, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.InstanceID("watcher"), kgo.SessionTimeout(10*time.Second), kgo.Balancers(kgo.RangeBalancer()),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, _ map[string][]int32) {
			_, gen := cl.GroupMetadata()
			mu.Lock()
			assigned++
			assignedGen = gen
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	go func() {
		for {
			fs := watcher.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { tr.add(r.Value) })
		}
	}()
	static := []kgo.Opt{kgo.InstanceID("restarts"), kgo.SessionTimeout(10 * time.Second), kgo.Balancers(kgo.RangeBalancer())}
	stop := kgoMember(t, tb, "g", "t", tr, static...)
	// Stable with both members, and the watcher's assignment callback for
	// that generation has run (it runs after SyncGroup, a moment after the
	// group turns Stable).
	var gen int32
	testenv.Eventually(t, "two members, the watcher assigned", func() bool {
		d, err := tb.admin(t).DescribeGroups(testCtx(t), "g")
		if err != nil || d["g"].State != "Stable" || len(d["g"].Members) != 2 {
			return false
		}
		_, gen = watcher.GroupMetadata()
		mu.Lock()
		defer mu.Unlock()
		return assignedGen == gen
	})
	mu.Lock()
	before := assigned
	mu.Unlock()
	stop()
	stop2 := kgoMember(t, tb, "g", "t", tr, static...)
	defer stop2()
	testenv.Eventually(t, "everything read", func() bool { return len(tr.missing(100)) == 0 })
	time.Sleep(time.Second)
	if _, g2 := watcher.GroupMetadata(); g2 != gen {
		t.Fatalf("generation moved from %d to %d", gen, g2)
	}
	mu.Lock()
	defer mu.Unlock()
	if assigned != before {
		t.Fatalf("the other member was reassigned (%d → %d)", before, assigned)
	}
}

func TestGroupAdmin(t *testing.T) {
	tb := startTestBroker(t, groupOverrides...)
	dataTopic(t, tb, "t", 2, nil)
	dataTopic(t, tb, "u", 1, nil)
	grpProduce(t, tb, "t", 0, 10)
	ctx := testCtx(t)
	adm := tb.admin(t)
	tr := &tracker{seen: map[int]int{}}
	stop := kgoMember(t, tb, "live", "t", tr)
	testenv.Eventually(t, "records", func() bool { return len(tr.missing(10)) == 0 })

	// A simple group through kadm.
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "t", Partition: 0, At: 5, LeaderEpoch: -1, Metadata: "hello"})
	os.Add(kadm.Offset{Topic: "u", Partition: 0, At: 1, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "simple", os); err != nil {
		t.Fatal(err)
	}
	fo, err := adm.FetchOffsets(ctx, "simple")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fo.Lookup("t", 0); o.At != 5 || o.Metadata != "hello" {
		t.Fatalf("%+v", o)
	}

	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(lg) != 2 || lg["live"].State != "Stable" || lg["simple"].State != "Empty" {
		t.Fatalf("%+v", lg)
	}
	lg, err = adm.ListGroups(ctx, "Empty")
	if err != nil || len(lg) != 1 {
		t.Fatal(err, lg)
	}
	dg, err := adm.DescribeGroups(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	if d := dg["live"]; d.State != "Stable" || len(d.Members) != 1 || d.Protocol == "" {
		t.Fatalf("%+v", d)
	}
	if a, ok := dg["live"].Members[0].Assigned.AsConsumer(); !ok || len(a.Topics) != 1 {
		t.Fatalf("%+v", dg["live"].Members[0])
	}

	// OffsetDelete: live is subscribed to t.
	fetched, _ := adm.FetchOffsets(ctx, "live")
	del := kadm.TopicsSet{}
	del.Add("t", 0)
	dr, err := adm.DeleteOffsets(ctx, "live", del)
	if err != nil {
		t.Fatal(err)
	}
	if err := dr.Error(); err == nil || !isErr(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("%v (offsets %v)", err, fetched)
	}
	del = kadm.TopicsSet{}
	del.Add("u", 0)
	if dr, err := adm.DeleteOffsets(ctx, "simple", del); err != nil || dr.Error() != nil {
		t.Fatal(err, dr.Error())
	}

	resp, err := adm.DeleteGroups(ctx, "live", "simple", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if !isErr(resp["live"].Err, kerr.NonEmptyGroup) || resp["simple"].Err != nil || !isErr(resp["nobody"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("%+v", resp)
	}
	// v3 carries a message with each refusal, none with a success.
	dgr := kmsg.NewPtrDeleteGroupsRequest()
	dgr.Groups = []string{"nobody"}
	if r, err := dgr.RequestWith(ctx, tb.client(t)); err != nil || r.Version != 3 || r.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code ||
		r.Groups[0].ErrorMessage == nil || *r.Groups[0].ErrorMessage != kerr.GroupIDNotFound.Description {
		t.Fatalf("DeleteGroups v3: %v %+v", err, r)
	}
	stop()
	if resp, err := adm.DeleteGroups(ctx, "live"); err != nil || resp["live"].Err != nil {
		t.Fatal(err, resp)
	}
	lg, err = adm.ListGroups(ctx)
	if err != nil || len(lg) != 0 {
		t.Fatal(err, lg)
	}
}

func isErr(err error, want *kerr.Error) bool {
	for err != nil {
		if err == want {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// restartableBroker starts a broker on dir; the test closes it.
func restartableBroker(t *testing.T, dir string, overrides ...string) *testBroker {
	t.Helper()
	ov := append([]string{
		"broker.id=1",
		"listeners=PLAINTEXT://127.0.0.1:0",
		"log.dirs=" + filepath.Join(dir, "logs"),
		"runnel.admin.listener=",
	}, overrides...)
	cfg, _, err := config.Load("", nil, ov)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return &testBroker{Broker: b, addr: b.Addrs()[0].String()}
}

func TestBrokerRestartKeepsCommittedOffsets(t *testing.T) {
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tb := restartableBroker(t, dir, groupOverrides...)
	dataTopic(t, tb, "t", 3, nil)
	dataTopic(t, tb, "other", 3, nil)
	grpProduce(t, tb, "t", 0, 30)
	tr := &tracker{seen: map[int]int{}}
	stop := kgoMember(t, tb, "g", "t", tr, kgo.InstanceID("s"))
	testenv.Eventually(t, "records", func() bool { return len(tr.missing(30)) == 0 })
	stop()
	adm := tb.admin(t)
	before, err := adm.FetchOffsets(testCtx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	// Many more commits, so the replay reads more than one batch.
	for i := 0; i < 50; i++ {
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "other", Partition: int32(i % 3), At: int64(i), LeaderEpoch: -1, Metadata: fmt.Sprint("m", i)})
		if _, err := adm.CommitOffsets(testCtx(t), "simple", os); err != nil {
			t.Fatal(err)
		}
	}
	if simple, err := adm.FetchOffsets(testCtx(t), "simple"); err != nil {
		t.Fatal(err)
	} else if o, _ := simple.Lookup("other", 2); o.At != 47 || o.Metadata != "m47" {
		t.Fatalf("before restart: %+v", simple)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}

	tb = restartableBroker(t, dir, groupOverrides...)
	defer tb.Close()
	adm = tb.admin(t)
	var after kadm.OffsetResponses
	testenv.Eventually(t, "offsets after restart", func() bool {
		after, err = adm.FetchOffsets(testCtx(t), "g")
		return err == nil
	})
	before.Each(func(o kadm.OffsetResponse) {
		a, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("%s/%d: before %d, after %+v", o.Topic, o.Partition, o.At, a)
		}
	})
	simple, err := adm.FetchOffsets(testCtx(t), "simple")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := simple.Lookup("other", 2); o.At != 47 || o.Metadata != "m47" {
		t.Fatalf("%+v", o)
	}
	// The static member is still a member of the group (loaded Stable).
	d, err := adm.DescribeGroups(testCtx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	if len(d["g"].Members) != 1 || d["g"].State != "Stable" {
		t.Fatalf("%+v", d["g"])
	}
}
