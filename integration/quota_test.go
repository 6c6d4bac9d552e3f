package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client quotas end to end, against the runnel binary.

const quotaRate = 5 << 20 // 5 MiB/s, the 5 MB/s

// quotaPeriod is how long each rate is measured: 11 s by default, 33 s
// with RUNNEL_QUOTA_LONG=1. Kafka's rate is measured over the last 10–11
// windows (quota.window.num = 11 of 1 s), so a client that takes all it
// may gets its quota's worth in bursts: a quiet client's first burst is
// 10 windows' worth, the next comes when that window expires 11 s later.
// A period of whole 11-s cycles measures the rate the quota holds; a
// 10-s or 30-s one lands mid-cycle and reads up to ~10% high.
func quotaPeriod() time.Duration {
	if os.Getenv("RUNNEL_QUOTA_LONG") == "1" {
		return 33 * time.Second
	}
	return 11 * time.Second
}

func setClientQuota(t *testing.T, adm *kadm.Client, key string, value float64, clientID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &clientID}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: value}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("set %s for %s: %v %+v", key, clientID, err, res)
	}
}

// throttleSeen records the largest throttle franz-go was told of.
type throttleSeen struct{ max atomic.Int64 }

func (h *throttleSeen) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	for {
		cur := h.max.Load()
		if int64(d) <= cur || h.max.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

type rateResult struct {
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	MaxThrottleMs int64   `json:"max_throttle_ms"`
}

func (r rateResult) rate() float64 { return float64(r.Bytes) / r.Seconds }

// franzProduceRate produces 10 kB random records for d as client id and
// counts the bytes acknowledged within d.
func franzProduceRate(t *testing.T, b *broker, topic, clientID string, d time.Duration) rateResult {
	hook := &throttleSeen{}
	// One request of at most 256 KiB in flight: what passes the quota
	// between a throttle and the next is then small (Kafka lets every
	// request already sent through, and so does Runnel).
	cl := b.franz(t, kgo.ClientID(clientID), kgo.DefaultProduceTopic(topic), kgo.WithHooks(hook),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedBytes(4<<20),
		kgo.MaxProduceRequestsInflightPerBroker(1), kgo.ProducerBatchMaxBytes(256<<10))
	value := make([]byte, 10_000)
	rand.Read(value)
	var acked atomic.Int64
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	for time.Since(start) < d {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			if err == nil && time.Since(start) <= d {
				acked.Add(int64(len(r.Value)))
			}
		})
	}
	cl.Flush(ctx)
	return rateResult{Bytes: acked.Load(), Seconds: d.Seconds(), MaxThrottleMs: time.Duration(hook.max.Load()).Milliseconds()}
}

// franzConsumeRate reads topic from the start for d (from its first
// record) as client id.
func franzConsumeRate(t *testing.T, b *broker, topic, clientID string, d time.Duration) rateResult {
	hook := &throttleSeen{}
	cl := b.franz(t, kgo.ClientID(clientID), kgo.ConsumeTopics(topic), kgo.WithHooks(hook),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	var got int64
	var start time.Time
	for start.IsZero() || time.Since(start) < d {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			if start.IsZero() {
				start = time.Now()
			}
			if time.Since(start) <= d {
				got += int64(len(r.Value))
			}
		})
		if ctx.Err() != nil {
			t.Fatal("consumer never got data")
		}
	}
	return rateResult{Bytes: got, Seconds: d.Seconds(), MaxThrottleMs: time.Duration(hook.max.Load()).Milliseconds()}
}

func librdkafkaRate(t *testing.T, b *broker, mode, topic, clientID string, d time.Duration) rateResult {
	out := python(t, "confluent_quota_rate.py", mode, b.addr(), topic, clientID, d.String()[:len(d.String())-1])
	var r rateResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("librdkafka %s: %v: %s", mode, err, out)
	}
	return r
}

// preload writes n bytes of 10 kB random records to topic.
func preload(t *testing.T, b *broker, topic string, n int64) {
	t.Helper()
	cl := b.franz(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	value := make([]byte, 10_000)
	rand.Read(value)
	var failed atomic.Value
	for sent := int64(0); sent < n; sent += int64(len(value)) {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := failed.Load(); err != nil {
		t.Fatal(err)
	}
}

// checkRate fails unless r is within ±20% of quotaRate and the client
// was told of a throttle.
func checkRate(t *testing.T, who string, r rateResult) {
	t.Helper()
	got := r.rate()
	t.Logf("%s: %.2f MiB/s over %.1f s (quota 5 MiB/s, %.0f%%), max throttle_time_ms %d",
		who, got/(1<<20), r.Seconds, 100*got/quotaRate, r.MaxThrottleMs)
	if got < 0.8*quotaRate || got > 1.2*quotaRate {
		t.Errorf("%s: %.2f MiB/s, outside 5 MiB/s ± 20%%", who, got/(1<<20))
	}
	if r.MaxThrottleMs <= 0 {
		t.Errorf("%s: no throttle_time_ms seen", who)
	}
}

// TestClientQuotaRates: producers and consumers quota'd to 5 MiB/s by
// client id measure 5 MiB/s ± 20% over 11 s (33 s with
// RUNNEL_QUOTA_LONG=1; see quotaPeriod), with librdkafka (confluent-kafka-python) and
// franz-go side by side, each told of throttle_time_ms.
func TestClientQuotaRates(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "quota-franz", 1)
	b.createTopic(t, "quota-rdk", 1)
	adm := b.admin(t)
	for _, id := range []string{"franz-producer", "rdk-producer", "franz-consumer", "rdk-consumer"} {
		key := "producer_byte_rate"
		if id == "franz-consumer" || id == "rdk-consumer" {
			key = "consumer_byte_rate"
		}
		setClientQuota(t, adm, key, quotaRate, id)
	}
	d := quotaPeriod()

	var wg sync.WaitGroup
	var franzP, rdkP rateResult
	wg.Add(2)
	go func() { defer wg.Done(); franzP = franzProduceRate(t, b, "quota-franz", "franz-producer", d) }()
	go func() { defer wg.Done(); rdkP = librdkafkaRate(t, b, "produce", "quota-rdk", "rdk-producer", d) }()
	wg.Wait()
	checkRate(t, "franz-go producer", franzP)
	checkRate(t, "librdkafka producer", rdkP)

	// The consumers read a topic loaded (by a client without a quota)
	// with more than they may read in the period.
	b.createTopic(t, "quota-consume", 1)
	preload(t, b, "quota-consume", int64(1.5*quotaRate*(d+5*time.Second).Seconds()))
	var franzC, rdkC rateResult
	wg.Add(2)
	go func() { defer wg.Done(); franzC = franzConsumeRate(t, b, "quota-consume", "franz-consumer", d) }()
	go func() { defer wg.Done(); rdkC = librdkafkaRate(t, b, "consume", "quota-consume", "rdk-consumer", d) }()
	wg.Wait()
	checkRate(t, "franz-go consumer", franzC)
	checkRate(t, "librdkafka consumer", rdkC)
}

// TestClientQuotasKadmSarama: kadm and sarama's ClusterAdmin alter and
// describe each other's quotas on the runnel binary (user, client-id,
// user+client-id, defaults), and each removes the other's.
func TestClientQuotasKadmSarama(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := b.admin(t)
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_6_0_0
	sa, err := sarama.NewClusterAdmin([]string{b.addr()}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()

	alice, app := "alice", "app"
	if res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: &alice}, {Type: "client-id", Name: &app}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1 << 20}, {Key: "request_percentage", Value: 25}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user"}}, Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 2 << 20}}},
	}); err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("kadm alter: %v %+v", err, res)
	}
	// sarama reads kadm's.
	got, err := sa.DescribeClientQuotas([]sarama.QuotaFilterComponent{
		{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Match: "alice"},
		{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Match: "app"},
	}, true)
	if err != nil || len(got) != 1 || got[0].Values["producer_byte_rate"] != 1<<20 || got[0].Values["request_percentage"] != 25 {
		t.Fatalf("sarama describe of kadm's user+client quota: %v %+v", err, got)
	}
	got, err = sa.DescribeClientQuotas([]sarama.QuotaFilterComponent{{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchDefault}}, true)
	if err != nil || len(got) != 1 || got[0].Values["consumer_byte_rate"] != 2<<20 || got[0].Entity[0].MatchType != sarama.QuotaMatchDefault {
		t.Fatalf("sarama describe of the default user: %v %+v", err, got)
	}

	// kadm reads sarama's.
	if err := sa.AlterClientQuotas([]sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchDefault}},
		sarama.ClientQuotasOp{Key: "controller_mutation_rate", Value: 7.5}, false); err != nil {
		t.Fatal(err)
	}
	d, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: kmsg.QuotasMatchTypeDefault}})
	if err != nil || len(d) != 1 || d[0].Values[0].Key != "controller_mutation_rate" || d[0].Values[0].Value != 7.5 || d[0].Entity[0].Name != nil {
		t.Fatalf("kadm describe of sarama's default client: %v %+v", err, d)
	}
	// A refusal reaches sarama as Kafka's error.
	if err := sa.AlterClientQuotas([]sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityIP, MatchType: sarama.QuotaMatchExact, Name: "10.0.0.1"}},
		sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: 1}, false); err == nil || !strings.Contains(err.Error(), "Invalid configuration key producer_byte_rate") {
		t.Fatalf("sarama invalid alter: %v", err)
	}

	// Each removes the other's.
	if err := sa.AlterClientQuotas([]sarama.QuotaEntityComponent{
		{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Name: "alice"},
		{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: "app"},
	}, sarama.ClientQuotasOp{Key: "producer_byte_rate", Remove: true}, false); err != nil {
		t.Fatal(err)
	}
	if res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "client-id"}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "controller_mutation_rate", Remove: true}}}}); err != nil || res[0].Err != nil {
		t.Fatalf("kadm remove: %v %+v", err, res)
	}
	all, err := sa.DescribeClientQuotas(nil, false)
	if err != nil || len(all) != 2 {
		t.Fatalf("after removals: %v %+v", err, all)
	}
	for _, e := range all {
		if _, ok := e.Values["producer_byte_rate"]; ok {
			t.Errorf("removed producer_byte_rate still listed: %+v", e)
		}
	}
}

// TestRequestPercentageHoldsMetadataFlood: a client id quota'd to 0.1%
// of a request thread floods Metadata from 4 connections (the quota's
// first 10 windows allow 10 ms of handler time at once, a few hundred to
// a thousand Metadata requests, then about 1 ms a second); it is throttled
// (franz-go sees throttle_time_ms and waits), so it is served far fewer
// requests than the same flood without a quota, and kcat's metadata
// listing still answers during the flood.
func TestRequestPercentageHoldsMetadataFlood(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "flooded", 3)
	setClientQuota(t, b.admin(t), "request_percentage", 0.1, "flood")
	const period = 4 * time.Second
	flood := func(clientID string) (int64, time.Duration) {
		hook := &throttleSeen{}
		var served atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			cl := b.franz(t, kgo.ClientID(clientID), kgo.WithHooks(hook))
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), period)
				defer cancel()
				for ctx.Err() == nil {
					req := kmsg.NewPtrMetadataRequest()
					if _, err := req.RequestWith(ctx, cl); err == nil {
						served.Add(1)
					}
				}
			}()
		}
		// Another client is served during the flood.
		kcat(t, "", "-b", b.addr(), "-L", "-t", "flooded")
		wg.Wait()
		return served.Load(), time.Duration(hook.max.Load())
	}
	quotad, throttle := flood("flood")
	free, freeThrottle := flood("free")
	t.Logf("Metadata requests served in %v: %d with request_percentage=0.1 (max throttle %v), %d without a quota",
		period, quotad, throttle, free)
	if throttle <= 0 || freeThrottle != 0 {
		t.Fatalf("throttles: quota'd %v, free %v", throttle, freeThrottle)
	}
	if quotad*4 > free {
		t.Errorf("quota'd flood served %d requests, more than a quarter of the free flood's %d", quotad, free)
	}
}

// TestClientQuotaPropagation: a quota altered through broker 1 of three
// is described by brokers 2 and 3 (whose snapshot their enforcement reads)
// soon after broker 1 answered; the delays are logged (median of 5) and
// must be under a second, the bound.
func TestClientQuotaPropagation(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var delays, fromSend []time.Duration
	for i := range 5 {
		want := float64(1000 + i)
		alter := kmsg.NewPtrAlterClientQuotasRequest()
		e := kmsg.NewAlterClientQuotasRequestEntry()
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type, ent.Name = "client-id", kmsg.StringPtr("propagated")
		e.Entity = append(e.Entity, ent)
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value = "producer_byte_rate", want
		e.Ops = append(e.Ops, op)
		alter.Entries = append(alter.Entries, e)
		sent := time.Now()
		resp, err := alter.RequestWith(ctx, cl.Broker(1))
		if err != nil || resp.Entries[0].ErrorCode != 0 {
			t.Fatalf("alter on broker 1: %v %+v", err, resp)
		}
		answered := time.Now()
		var slowest time.Duration
		for _, id := range []int{2, 3} {
			for {
				d := kmsg.NewPtrDescribeClientQuotasRequest()
				comp := kmsg.NewDescribeClientQuotasRequestComponent()
				comp.EntityType, comp.MatchType, comp.Match = "client-id", kmsg.QuotasMatchTypeExact, kmsg.StringPtr("propagated")
				d.Components = append(d.Components, comp)
				dr, err := d.RequestWith(ctx, cl.Broker(id))
				if err != nil {
					t.Fatal(err)
				}
				if len(dr.Entries) == 1 && dr.Entries[0].Values[0].Value == want {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			slowest = max(slowest, time.Since(answered))
		}
		delays = append(delays, slowest)
		fromSend = append(fromSend, time.Since(sent))
	}
	slices.Sort(delays)
	slices.Sort(fromSend)
	t.Logf("quota change visible on brokers 2 and 3: median %v after broker 1 answered (all %v), median %v after the request was sent",
		delays[len(delays)/2], delays, fromSend[len(fromSend)/2])
	if delays[len(delays)/2] > time.Second {
		t.Errorf("median propagation %v, above a second", delays[len(delays)/2])
	}
}
