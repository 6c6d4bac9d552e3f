package broker

import (
	"crypto/rand"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setQuota sets one quota key on an entity through AlterClientQuotas.
func setQuota(t *testing.T, tb *testBroker, key string, value float64, pairs ...string) {
	t.Helper()
	res, err := tb.admin(t).AlterClientQuotas(testCtx(t), []kadm.AlterClientQuotaEntry{{
		Entity: entity(pairs...), Ops: []kadm.AlterClientQuotaOp{{Key: key, Value: value}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("set %s on %v: %v %+v", key, pairs, err, res)
	}
}

// rawCall sends req with clientID on c and decodes the response.
func rawCall(t *testing.T, c net.Conn, req kmsg.Request, corr int32, clientID string) kmsg.Response {
	t.Helper()
	if _, err := c.Write(wiretest.Sized(wiretest.EncodeRequest(req, corr, &clientID))); err != nil {
		t.Fatal(err)
	}
	got, body := wiretest.ReadResponse(t, c)
	if got != corr {
		t.Fatalf("correlation %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		body = body[1:] // no header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return resp
}

func throttleOf(r kmsg.Response) int32 {
	ms, _ := r.(kmsg.ThrottleResponse).Throttle()
	return ms
}

// throttleHook records the largest throttle franz-go was told of.
type throttleHook struct{ max atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	for {
		cur := h.max.Load()
		if int64(d) <= cur || h.max.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// TestProducerByteRateThrottles: a producer over its client-id quota
// gets throttle_time_ms > 0 (franz-go sees it) and its connection is
// muted: a request sent at once after the throttled response is answered
// no sooner than the throttle time; a client without a quota is never
// throttled. The metrics count the throttles.
func TestProducerByteRateThrottles(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "q-produce", 1, nil)
	setQuota(t, tb, "producer_byte_rate", 50_000, "client-id", "slow-producer")

	hook := &throttleHook{}
	cl := tb.client(t, kgo.ClientID("slow-producer"), kgo.DefaultProduceTopic("q-produce"), kgo.WithHooks(hook), kgo.ProducerLinger(0))
	ctx := testCtx(t)
	value := randomBytes(100_000) // incompressible: franz-go compresses
	for range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if hook.max.Load() > 0 {
			break
		}
	}
	if hook.max.Load() == 0 {
		t.Fatal("franz-go saw no throttle")
	}

	// Raw: a produce over quota, then a Metadata sent at once.
	c := wiretest.Dial(t, tb.addr)
	pr := producePayload(t, "q-produce", value)
	resp := rawCall(t, c, pr, 1, "slow-producer").(*kmsg.ProduceResponse)
	if resp.ThrottleMillis <= 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce over quota: throttle %d, %+v", resp.ThrottleMillis, resp.Topics)
	}
	sent := time.Now()
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	rawCall(t, c, md, 2, "slow-producer")
	if waited := time.Since(sent); waited < time.Duration(resp.ThrottleMillis)*time.Millisecond*9/10 {
		t.Fatalf("muted connection answered after %v, throttle %d ms", waited, resp.ThrottleMillis)
	}

	// Before KIP-219 (Produce v5) the client does not wait by itself: the
	// response is held for the throttle time instead.
	old := producePayload(t, "q-produce", value)
	old.Version = 5
	sent = time.Now()
	oldResp := rawCall(t, wiretest.Dial(t, tb.addr), old, 1, "slow-producer").(*kmsg.ProduceResponse)
	if oldResp.ThrottleMillis <= 0 {
		t.Fatalf("v5 produce over quota not throttled")
	}
	if waited := time.Since(sent); waited < time.Duration(oldResp.ThrottleMillis)*time.Millisecond*9/10 {
		t.Fatalf("v5 response after %v, throttle %d ms: not held", waited, oldResp.ThrottleMillis)
	}

	// No quota, no throttle.
	free := rawCall(t, wiretest.Dial(t, tb.addr), producePayload(t, "q-produce", value), 1, "free").(*kmsg.ProduceResponse)
	if free.ThrottleMillis != 0 {
		t.Fatalf("unquota'd client throttled %d ms", free.ThrottleMillis)
	}
	if tb.quotas.throttled[0].Load() == 0 || tb.quotas.throttleNanos[0].Load() == 0 {
		t.Fatal("producer throttles not counted")
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// producePayload is a v9 Produce of one uncompressed record of value.
func producePayload(t *testing.T, topic string, value []byte) *kmsg.ProduceRequest {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = oneRecordBatch(value)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// oneRecordBatch is a RecordBatch v2 holding one record.
func oneRecordBatch(value []byte) []byte {
	var bb storage.BatchBuilder
	bb.Add(time.Now().UnixMilli(), nil, value)
	return bb.Build()
}

// TestConsumerByteRateThrottles: a consumer over its quota gets an empty
// fetch response with the throttle time (Kafka's getThrottledResponse),
// and the bytes it was not given are not counted against it.
func TestConsumerByteRateThrottles(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "q-fetch", 1, nil)
	ctx := testCtx(t)
	pcl := tb.client(t, kgo.DefaultProduceTopic("q-fetch"))
	value := randomBytes(50_000)
	for range 20 {
		if err := pcl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	setQuota(t, tb, "consumer_byte_rate", 20_000, "user", "<default>", "client-id", "<default>")

	c := wiretest.Dial(t, tb.addr)
	fetchEpoch := func(corr int32, offset int64, sessionEpoch int32) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxBytes, req.MaxWaitMillis, req.ReplicaID, req.SessionEpoch = 12, 10<<20, 0, -1, sessionEpoch
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "q-fetch"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LastFetchedEpoch = offset, 10<<20, -1, -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		return rawCall(t, c, req, corr, "slow-consumer").(*kmsg.FetchResponse)
	}
	fetch := func(corr int32, offset int64) *kmsg.FetchResponse { return fetchEpoch(corr, offset, -1) }
	first := fetch(1, 0)
	if len(first.Topics) != 1 || len(first.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("first fetch: %+v", first)
	}
	// The quota bounds the first response: 10 windows of 20 kB.
	if n := len(first.Topics[0].Partitions[0].RecordBatches); n > 200_000+60_000 {
		t.Fatalf("first fetch returned %d bytes, above the quota's window", n)
	}
	throttled := first
	for i := int32(2); throttled.ThrottleMillis == 0 && i < 20; i++ {
		throttled = fetch(i, 0)
	}
	if throttled.ThrottleMillis == 0 {
		t.Fatal("no fetch throttled")
	}
	if len(throttled.Topics) != 0 || throttled.ErrorCode != 0 {
		t.Fatalf("throttled fetch not empty: %+v", throttled)
	}
	if tb.quotas.throttled[1].Load() == 0 {
		t.Fatal("consumer throttles not counted")
	}
	// A throttled full fetch creates no session (Kafka's FullFetchContext).
	c = wiretest.Dial(t, tb.addr) // the other is muted
	if s := fetchEpoch(100, 0, 0); s.ThrottleMillis == 0 || s.SessionID != 0 || tb.fetchSessions.Len() != 0 {
		t.Fatalf("throttled session-creating fetch: throttle %d, session %d, %d sessions cached", s.ThrottleMillis, s.SessionID, tb.fetchSessions.Len())
	}

	// franz-go is told of the throttle time too.
	hook := &throttleHook{}
	ccl := tb.client(t, kgo.ClientID("franz-consumer"), kgo.ConsumeTopics("q-fetch"), kgo.WithHooks(hook),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 20 && hook.max.Load() == 0 {
		fs := ccl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if hook.max.Load() == 0 {
		t.Fatal("franz-go consumer saw no throttle")
	}
}

// TestRequestPercentageThrottlesMetadataFlood: a tiny request_percentage
// throttles a flood of Metadata requests; another client id is not.
func TestRequestPercentageThrottlesMetadataFlood(t *testing.T) {
	tb := startTestBroker(t)
	setQuota(t, tb, "request_percentage", 0.01, "client-id", "flood")
	c := wiretest.Dial(t, tb.addr)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	var throttle int32
	for i := int32(1); throttle == 0 && i < 10_000; i++ {
		throttle = throttleOf(rawCall(t, c, md, i, "flood"))
	}
	if throttle == 0 {
		t.Fatal("Metadata flood never throttled")
	}
	if free := throttleOf(rawCall(t, wiretest.Dial(t, tb.addr), md, 1, "calm")); free != 0 {
		t.Fatalf("other client throttled %d ms", free)
	}
	if tb.quotas.throttled[2].Load() == 0 {
		t.Fatal("request throttles not counted")
	}
}

// TestControllerMutationRate: KIP-599. Strict versions refuse a topic
// with THROTTLING_QUOTA_EXCEEDED once the bucket is empty (the first
// creation past the quota is accepted); permissive versions accept and
// return a throttle time.
func TestControllerMutationRate(t *testing.T) {
	tb := startTestBroker(t)
	setQuota(t, tb, "controller_mutation_rate", 1, "client-id", "mutator")
	c := wiretest.Dial(t, tb.addr)
	create := func(version int16, corr int32, name string, partitions int32) *kmsg.CreateTopicsResponse {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = version, 10_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
		req.Topics = append(req.Topics, rt)
		return rawCall(t, c, req, corr, "mutator").(*kmsg.CreateTopicsResponse)
	}
	// 11 tokens (1/s × 11 windows): 20 partitions are accepted, leaving -9.
	first := create(7, 1, "mut-a", 20)
	if first.Topics[0].ErrorCode != 0 {
		t.Fatalf("first creation: %+v", first.Topics[0])
	}
	second := create(7, 2, "mut-b", 1)
	if second.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || second.ThrottleMillis <= 0 {
		t.Fatalf("strict creation over quota: throttle %d %+v", second.ThrottleMillis, second.Topics[0])
	}
	if _, ok := tb.ctrl.Snapshot().Topics["mut-b"]; ok {
		t.Fatal("refused topic created")
	}
	// Permissive (v5): accepted, throttled.
	c = wiretest.Dial(t, tb.addr) // the first connection is muted
	third := create(5, 3, "mut-c", 1)
	if third.Topics[0].ErrorCode != 0 || third.ThrottleMillis <= 0 {
		t.Fatalf("permissive creation: throttle %d %+v", third.ThrottleMillis, third.Topics[0])
	}
	// CreatePartitions v3+ is strict too.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version, cp.TimeoutMillis = 3, 10_000
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "mut-c", 5
	cp.Topics = append(cp.Topics, cpt)
	c = wiretest.Dial(t, tb.addr)
	cpr := rawCall(t, c, cp, 5, "mutator").(*kmsg.CreatePartitionsResponse)
	if cpr.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || cpr.ThrottleMillis <= 0 {
		t.Fatalf("strict CreatePartitions over quota: %+v", cpr)
	}
	if n := len(tb.ctrl.Snapshot().Topics["mut-c"].Partitions); n != 1 {
		t.Fatalf("refused CreatePartitions added partitions: %d", n)
	}
	// DeleteTopics v5+ is strict too.
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version, del.TimeoutMillis, del.TopicNames = 5, 10_000, []string{"mut-a"}
	c = wiretest.Dial(t, tb.addr)
	dr := rawCall(t, c, del, 4, "mutator").(*kmsg.DeleteTopicsResponse)
	if dr.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || dr.ThrottleMillis <= 0 {
		t.Fatalf("strict delete over quota: %+v", dr)
	}
}

// TestConnectionCreationRatePerIP: KIP-612 per-IP quota: connections from
// an address over its connection_creation_rate are closed unserved;
// lifting the quota serves them again.
func TestConnectionCreationRatePerIP(t *testing.T) {
	tb := startTestBroker(t)
	setQuota(t, tb, "connection_creation_rate", 1, "ip", "127.0.0.1")
	served, refused := 0, 0
	for range 30 {
		c, err := net.Dial("tcp", tb.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(wiretest.Guard))
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version = 3
		av.ClientSoftwareName, av.ClientSoftwareVersion = "t", "1"
		if _, err := c.Write(wiretest.Sized(wiretest.EncodeRequest(av, 1, wiretest.Str("conn")))); err != nil {
			t.Fatal(err)
		}
		var size [4]byte
		if _, err := c.Read(size[:]); err != nil {
			refused++
		} else {
			served++
		}
		c.Close()
	}
	if refused == 0 || served == 0 {
		t.Fatalf("served %d, refused %d", served, refused)
	}
	res, err := tb.admin(t).AlterClientQuotas(testCtx(t), []kadm.AlterClientQuotaEntry{{
		Entity: entity("ip", "127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Remove: true}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	// The admin client above connected while it was still throttled —
	// its retry connected; now any connection is served.
	c := wiretest.Dial(t, tb.addr)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	rawCall(t, c, md, 1, "after")
}
