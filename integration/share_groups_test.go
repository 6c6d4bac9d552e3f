package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Share groups (KIP-932) driven by franz-go's share consumer and raw
// kmsg requests; the Java KafkaShareConsumer and kafka-share-groups are in
// share_groups_java_test.go.

// shareBroker starts a broker serving share groups.
func shareBroker(t *testing.T, opts ...brokerOption) *broker {
	return startBroker(t, append([]brokerOption{withOverride("group.share.enable", "true")}, opts...)...)
}

// setGroupConfig sets a GROUP config key with IncrementalAlterConfigs.
func setGroupConfig(t *testing.T, b *broker, group, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name, c.Value = kmsg.IncrementalAlterConfigOpSet, key, &value
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, b.franz(t))
	if err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("set %s=%s on group %s: %v %+v", key, value, group, err, resp)
	}
}

// produceN produces n records "0".."n-1" to partition 0 of topic.
func produceN(t *testing.T, b *broker, topic string, from, n int) {
	t.Helper()
	cl := b.franz(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i)), Partition: 0})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestShareGroupFranzConsumers: several franz-go share consumers share one
// partition; every record is delivered and accepted exactly once.
func TestShareGroupFranzConsumers(t *testing.T) {
	b := shareBroker(t)
	const topic, group, n = "share-t", "share-g", 3000
	b.createTopic(t, topic, 1)
	setGroupConfig(t, b, group, "share.auto.offset.reset", "earliest")
	produceN(t, b, topic, 0, n)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	per := make([]int, 3)
	var wg sync.WaitGroup
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := b.franz(t, kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ShareMaxRecords(50))
			for ctx.Err() == nil {
				fs := cl.PollRecords(ctx, 50)
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)]++
					per[c]++
					if len(seen) == n {
						cancel() // everyone stops
					}
					mu.Unlock()
				})
			}
			if err := cl.FlushAcks(context.Background()); err != nil {
				t.Errorf("flush acks: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d distinct records of %d delivered\n%s", len(seen), n, tail(b.logs(), 40))
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("record %s delivered %d times", v, c)
		}
	}
	t.Logf("records per consumer: %v", per)
}

// shareMember drives ShareFetch and ShareAcknowledge with raw kmsg
// requests, one share session on one broker.
type shareMember struct {
	t      *testing.T
	cl     *kgo.Client
	group  string
	member string
	topic  [16]byte
	epoch  int32
}

func newShareMember(t *testing.T, b *broker, group, member string, topic [16]byte) *shareMember {
	return &shareMember{t: t, cl: b.franz(t), group: group, member: member, topic: topic}
}

type acquired struct {
	first, last int64
	count       int16
}

// fetch sends a ShareFetch with acks piggy-backed and returns what it
// acquired.
func (m *shareMember) fetch(maxRecords int32, maxWait int32, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) []acquired {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID = &m.group, &m.member
	req.ShareSessionEpoch, req.MaxWaitMillis, req.MaxRecords, req.BatchSize, req.MaxBytes = m.epoch, maxWait, maxRecords, maxRecords, 1<<20
	t := kmsg.NewShareFetchRequestTopic()
	t.TopicID = m.topic
	p := kmsg.NewShareFetchRequestTopicPartition()
	p.PartitionMaxBytes = 1 << 20
	p.AcknowledgementBatches = acks
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, m.cl.SeedBrokers()[0])
	if err != nil || resp.ErrorCode != 0 {
		m.t.Fatalf("ShareFetch %s epoch %d: %v %+v", m.member, m.epoch, err, resp)
	}
	m.epoch++
	var out []acquired
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 || rp.AcknowledgeErrorCode != 0 {
				m.t.Fatalf("ShareFetch %s partition: %+v", m.member, rp)
			}
			for _, a := range rp.AcquiredRecords {
				out = append(out, acquired{a.FirstOffset, a.LastOffset, a.DeliveryCount})
			}
		}
	}
	return out
}

// ack sends a ShareAcknowledge and returns the partition's error code.
func (m *shareMember) ack(acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) int16 {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.member, m.epoch
	t := kmsg.NewShareAcknowledgeRequestTopic()
	t.TopicID = m.topic
	p := kmsg.NewShareAcknowledgeRequestTopicPartition()
	for _, a := range acks {
		b := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
		b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = a.FirstOffset, a.LastOffset, a.AcknowledgeTypes
		p.AcknowledgementBatches = append(p.AcknowledgementBatches, b)
	}
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, m.cl.SeedBrokers()[0])
	if err != nil || resp.ErrorCode != 0 {
		m.t.Fatalf("ShareAcknowledge %s epoch %d: %v %+v", m.member, m.epoch, err, resp)
	}
	m.epoch++
	return resp.Topics[0].Partitions[0].ErrorCode
}

func ackBatch(first, last int64, types ...int8) kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch {
	b := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, types
	return b
}

// shareStartOffset is DescribeShareGroupOffsets' start offset and lag of
// partition 0.
func shareStartOffset(t *testing.T, b *broker, group, topic string) (int64, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	g.GroupID = group
	rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	g.Topics = append(g.Topics, rt)
	req.Groups = append(req.Groups, g)
	resp, err := req.RequestWith(ctx, b.franz(t))
	if err != nil || resp.Groups[0].ErrorCode != 0 || resp.Groups[0].Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("DescribeShareGroupOffsets: %v %+v", err, resp)
	}
	p := resp.Groups[0].Topics[0].Partitions[0]
	return p.StartOffset, p.Lag
}

// TestShareGroupAcknowledgementsAndRestart, with raw requests: accepted
// records are done; released ones come back with a higher delivery count;
// rejected ones never; a member's lock running out frees its records;
// nothing is delivered past group.share.delivery.count.limit; and the
// share-partition's state (start offset, delivery counts) survives a
// broker restart.
func TestShareGroupAcknowledgementsAndRestart(t *testing.T) {
	b := shareBroker(t,
		withOverride("group.share.min.record.lock.duration.ms", "1000"),
		withOverride("group.share.record.lock.duration.ms", "1500"),
		withOverride("group.share.delivery.count.limit", "2"))
	const topic, group = "share-acks", "share-acks-g"
	b.createTopic(t, topic, 1)
	setGroupConfig(t, b, group, "share.auto.offset.reset", "earliest")
	produceN(t, b, topic, 0, 10)
	md, err := b.admin(t).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	topicID := [16]byte(md[topic].ID)
	const accept, release, reject = 1, 2, 3

	a := newShareMember(t, b, group, "member-a", topicID)
	if got := a.fetch(100, 1000); len(got) != 1 || got[0] != (acquired{0, 9, 1}) {
		t.Fatalf("a's first fetch: %v", got)
	}
	// a accepts 0-2, releases 3, rejects 4, keeps 5-9.
	if code := a.ack(ackBatch(0, 4, accept, accept, accept, release, reject)); code != 0 {
		t.Fatalf("a's acks: %d", code)
	}
	bm := newShareMember(t, b, group, "member-b", topicID)
	if got := bm.fetch(100, 500); len(got) != 1 || got[0] != (acquired{3, 3, 2}) {
		t.Fatalf("b gets the released record only: %v", got)
	}
	// b releases 3 at the delivery limit (2): archived. a's locks on 5-9
	// run out and b gets them, second delivery.
	got := bm.fetch(100, 5000, ackBatch(3, 3, release))
	if len(got) != 1 || got[0] != (acquired{5, 9, 2}) {
		t.Fatalf("after a's locks expired: %v", got)
	}
	// a may no longer acknowledge what it lost.
	if code := a.ack(ackBatch(5, 9, accept)); code != 121 {
		t.Fatalf("a's stale ack: code %d, want INVALID_RECORD_STATE", code)
	}
	// b's locks run out too: delivered twice, 5-9 are archived; nothing
	// comes back.
	time.Sleep(2 * time.Second)
	c := newShareMember(t, b, group, "member-c", topicID)
	if got := c.fetch(100, 500); len(got) != 0 {
		t.Fatalf("records delivered past the delivery limit: %v", got)
	}
	if start, lag := shareStartOffset(t, b, group, topic); start != 10 || lag != 0 {
		t.Fatalf("start offset %d lag %d, want 10 and 0", start, lag)
	}

	// In flight across a restart: 10-14 acquired, 10-11 accepted.
	produceN(t, b, topic, 10, 5)
	if got := c.fetch(100, 2000); len(got) != 1 || got[0] != (acquired{10, 14, 1}) {
		t.Fatalf("c's fetch: %v", got)
	}
	if code := c.ack(ackBatch(10, 11, accept)); code != 0 {
		t.Fatalf("c's ack: %d", code)
	}
	b.restart()
	if start, lag := shareStartOffset(t, b, group, topic); start != 12 || lag != 3 {
		t.Fatalf("after restart: start offset %d lag %d, want 12 and 3", start, lag)
	}
	d := newShareMember(t, b, group, "member-d", topicID)
	if got := d.fetch(100, 2000); len(got) != 1 || got[0] != (acquired{12, 14, 2}) {
		t.Fatalf("after restart: %v, want 12-14 at their second delivery", got)
	}
}

// TestShareGroupFranzReleaseReject: franz-go share consumers acknowledge
// record by record (Record.Ack): records released at their first delivery
// come back (DeliveryCount 2) and are then accepted; rejected records are
// never seen again; a consumer that holds records and disappears gives
// them back (its connection closes, the broker releases its records), and
// another consumer gets them with their next delivery count.
func TestShareGroupFranzReleaseReject(t *testing.T) {
	b := shareBroker(t)
	const topic, group, n = "share-rr", "share-rr-g", 300
	b.createTopic(t, topic, 1)
	setGroupConfig(t, b, group, "share.auto.offset.reset", "earliest")
	produceN(t, b, topic, 0, n)

	// A consumer takes a first batch and vanishes without acknowledging.
	quitter := b.franz(t, kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ShareMaxRecords(20))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	held := map[string]bool{}
	for len(held) == 0 && ctx.Err() == nil {
		quitter.PollRecords(ctx, 20).EachRecord(func(r *kgo.Record) { held[string(r.Value)] = true })
	}
	quitter.Close() // leaves the group; its records are released, not accepted

	cl := b.franz(t, kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ShareMaxRecords(50))
	deliveries := map[string][]int32{}
	accepted := 0
	for accepted+rejectedCount(deliveries) < n && ctx.Err() == nil {
		cl.PollRecords(ctx, 50).EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			deliveries[v] = append(deliveries[v], r.DeliveryCount())
			i, _ := strconv.Atoi(v)
			switch {
			case i%10 == 3:
				r.Ack(kgo.AckReject)
			case i%10 == 7 && r.DeliveryCount() == 1 && !held[v]:
				r.Ack(kgo.AckRelease)
			default:
				r.Ack(kgo.AckAccept)
				accepted++
			}
		})
	}
	if err := cl.FlushAcks(ctx); err != nil {
		t.Fatal(err)
	}
	// The quitter's client fetched ahead of what it polled: those records
	// were acquired too and come back at their second delivery, like the
	// ones it polled.
	second := 0
	for i := 0; i < n; i++ {
		v := strconv.Itoa(i)
		got := deliveries[v]
		if len(got) == 0 {
			t.Errorf("record %s never delivered", v)
			continue
		}
		base := got[0]
		if base == 2 {
			second++
		}
		want := []int32{base}
		switch {
		case held[v] && base != 2:
			t.Errorf("record %s held by the quitter: first delivery here %d, want 2", v, base)
		case base != 1 && base != 2:
			t.Errorf("record %s: first delivery here %d", v, base)
		case i%10 == 7 && base == 1:
			want = []int32{1, 2}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("record %s: deliveries %v, want %v", v, got, want)
		}
	}
	if second < len(held) {
		t.Errorf("%d records redelivered, fewer than the %d the quitter held", second, len(held))
	}
	t.Logf("quitter polled %d records; %d came back at their second delivery", len(held), second)
	// Nothing more: rejected records are archived, the rest accepted.
	short, scancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer scancel()
	if fs := cl.PollRecords(short, 10); fs.NumRecords() != 0 {
		t.Fatalf("%d records after everything was acknowledged", fs.NumRecords())
	}
	if start, lag := shareStartOffset(t, b, group, topic); start != n || lag != 0 {
		t.Fatalf("start offset %d lag %d, want %d and 0", start, lag, n)
	}
}

func rejectedCount(d map[string][]int32) int {
	c := 0
	for v := range d {
		if i, _ := strconv.Atoi(v); i%10 == 3 {
			c++
		}
	}
	return c
}

// TestShareGroupReadCommitted: with share.isolation.level=read_committed a
// share group gets the records of committed transactions and never those
// of aborted ones (nor the markers); read_uncommitted gets both.
func TestShareGroupReadCommitted(t *testing.T) {
	b := shareBroker(t)
	const topic = "share-txn"
	b.createTopic(t, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	prod := b.franz(t, kgo.DefaultProduceTopic(topic), kgo.TransactionalID("share-txn-p"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i, commit := range []bool{true, false, true, false} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 10; j++ {
			v := fmt.Sprintf("%s-%d-%d", map[bool]string{true: "c", false: "a"}[commit], i, j)
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Partition: 0}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	consume := func(group string, want int) map[string]bool {
		t.Helper()
		setGroupConfig(t, b, group, "share.auto.offset.reset", "earliest")
		cl := b.franz(t, kgo.ShareGroup(group), kgo.ConsumeTopics(topic))
		got := map[string]bool{}
		for len(got) < want && ctx.Err() == nil {
			cl.PollRecords(ctx, 100).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
		}
		// Nothing more arrives.
		short, scancel := context.WithTimeout(ctx, 2*time.Second)
		defer scancel()
		cl.PollRecords(short, 100).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
		return got
	}
	setGroupConfig(t, b, "share-rc", "share.isolation.level", "read_committed")
	rc := consume("share-rc", 20)
	if len(rc) != 20 {
		t.Fatalf("read_committed: %d records, want the 20 committed: %v", len(rc), rc)
	}
	for v := range rc {
		if !strings.HasPrefix(v, "c-") {
			t.Fatalf("read_committed delivered %s of an aborted transaction", v)
		}
	}
	if ru := consume("share-ru", 40); len(ru) != 40 {
		t.Fatalf("read_uncommitted: %d records, want 40", len(ru))
	}
	if start, lag := shareStartOffset(t, b, "share-rc", topic); lag != 0 || start < 44 {
		t.Fatalf("read_committed group: start %d lag %d, want past all 44 offsets (40 records, 4 markers) and 0", start, lag)
	}
}

// TestShareGroupsByFeature: without group.share.enable, share groups are
// off (ShareGroupHeartbeat answers UNSUPPORTED_VERSION, as Kafka's
// handler does) until an operator finalizes share.version=1 with
// UpdateFeatures, as `kafka-features upgrade --feature share.version=1`
// does; then the same heartbeat joins.
func TestShareGroupsByFeature(t *testing.T) {
	b := startBroker(t)
	cl := b.franz(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.createTopic(t, "share-by-feature", 1)
	heartbeat := func() int16 {
		t.Helper()
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch = "sbf", "member-sbf-0000001", 0
		req.SubscribedTopicNames = []string{"share-by-feature"}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	if code := heartbeat(); code != 35 { // UNSUPPORTED_VERSION
		t.Fatalf("share heartbeat with share.version 0: error %d, want UNSUPPORTED_VERSION", code)
	}
	up := kmsg.NewPtrUpdateFeaturesRequest()
	f := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	f.Feature, f.MaxVersionLevel, f.UpgradeType = "share.version", 1, 1
	up.FeatureUpdates = append(up.FeatureUpdates, f)
	up.TimeoutMillis = 30000
	resp, err := up.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || (len(resp.Results) > 0 && resp.Results[0].ErrorCode != 0) {
		t.Fatalf("UpdateFeatures share.version=1: %v %+v", err, resp)
	}
	testenv.Eventually(t, "a share heartbeat joins after share.version=1", func() bool { return heartbeat() == 0 })
}
