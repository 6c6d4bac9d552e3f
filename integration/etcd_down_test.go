package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEtcdUnreachable: three brokers, an RF=3 min.insync.replicas=2 topic.
// With etcd cut off from every broker (each broker's etcd proxy
// blackholes), the leaders keep taking acks=all produce (the ISR is
// unchanged and every follower still fetches) and serving fetches, and
// CreateTopics fails with REQUEST_TIMED_OUT within its timeout instead of
// hanging. When etcd is back, produce, CreateTopics and consumption work
// again and every acknowledged record is there once, in order.
func TestEtcdUnreachable(t *testing.T) {
	c := startCluster(t, 3, "min.insync.replicas=2", "default.replication.factor=3")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.client())
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "etcd-down"); err != nil {
		t.Fatal(err)
	}
	c.waitFullISR(ctx, adm, "etcd-down")

	prod := c.client(kgo.DefaultProduceTopic("etcd-down"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var acked []string
	produce := func(tag string, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			v := fmt.Sprintf("%s-%d", tag, i)
			pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
			err := prod.ProduceSync(pctx, kgo.StringRecord(v)).FirstErr()
			pcancel()
			if err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			acked = append(acked, v)
		}
	}
	consumeAll := func(what string) {
		t.Helper()
		cons := c.client(kgo.ConsumeTopics("etcd-down"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cons.Close()
		got := map[int32][]string{}
		n := 0
		cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
		defer ccancel()
		for n < len(acked) {
			fs := cons.PollFetches(cctx)
			if cctx.Err() != nil {
				t.Fatalf("%s: consumed %d of %d", what, n, len(acked))
			}
			fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], string(r.Value)); n++ })
		}
		// Round robin: record i went to some partition; within each
		// partition the order is the produce order, and the union is
		// exactly what was acknowledged.
		var all []string
		for _, vs := range got {
			idx := -1
			for _, v := range vs {
				j := slices.Index(acked, v)
				if j <= idx {
					t.Fatalf("%s: %q out of order or duplicated in a partition", what, v)
				}
				idx = j
			}
			all = append(all, vs...)
		}
		slices.Sort(all)
		want := slices.Clone(acked)
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Fatalf("%s: consumed %d records, want %d acknowledged", what, len(all), len(want))
		}
	}
	produce("before", 30)

	// etcd unreachable from every broker.
	for _, nd := range c.nodes {
		nd.etcdPx.setCut(true)
	}
	produce("during", 30)
	consumeAll("while etcd is unreachable")

	tadm := kadm.NewClient(c.client())
	tadm.SetTimeoutMillis(2000)
	start := time.Now()
	actx, acancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := tadm.CreateTopics(actx, 1, 3, nil, "etcd-down-new")
	acancel()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("CreateTopics with etcd unreachable: request failed (%v) after %v, want a REQUEST_TIMED_OUT answer", err, took)
	}
	r := res["etcd-down-new"]
	if !errors.Is(r.Err, kerr.RequestTimedOut) {
		t.Fatalf("CreateTopics with etcd unreachable: %v (%s) after %v, want REQUEST_TIMED_OUT", r.Err, r.ErrMessage, took)
	}
	t.Logf("CreateTopics with etcd unreachable: %v after %v (timeout 2 s): %s", r.Err, took.Round(time.Millisecond), r.ErrMessage)

	// etcd is back.
	for _, nd := range c.nodes {
		nd.etcdPx.setCut(false)
	}
	produce("after", 30)
	for {
		res, err := adm.CreateTopics(ctx, 1, 3, nil, "etcd-down-new")
		if err == nil && (res["etcd-down-new"].Err == nil || errors.Is(res["etcd-down-new"].Err, kerr.TopicAlreadyExists)) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("CreateTopics after etcd returned: %v %v", err, res)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.waitFullISR(ctx, adm, "etcd-down")
	consumeAll("after etcd returned")
}
