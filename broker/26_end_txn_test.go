package broker

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceTxn runs one franz-go transaction of n records on topic and ends
// it with commit or abort.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, prefix string, n int, commit bool) {
	t.Helper()
	ctx := testCtx(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// consumeAll reads every partition of topic from the start with the given
// isolation level until the end offsets (under that level) are reached.
func txnConsumeAll(t *testing.T, tb *testBroker, topic string, committed bool) []string {
	t.Helper()
	ctx := testCtx(t)
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	adm := tb.admin(t)
	listed := func(list func(context.Context, ...string) (kadm.ListedOffsets, error)) map[int32]int64 {
		lo, err := list(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int64{}
		lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out
	}
	ends := listed(adm.ListEndOffsets)
	if committed {
		// EndTxn answers before the markers are written (as in Kafka):
		// wait until every transaction is closed, the LSO at the log end.
		waitFor(t, "the markers of every transaction", func() bool {
			return maps.Equal(listed(adm.ListCommittedOffsets), ends)
		})
	}
	cl := tb.client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []string
	seen := map[int32]int64{}
	done := func() bool {
		for p, e := range ends {
			if seen[p] < e {
				return false
			}
		}
		return true
	}
	for !done() {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(fctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("consuming: %v (seen %v, ends %v)", ctx.Err(), seen, ends)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.HighWatermark >= 0 {
				if committed {
					seen[p.Partition] = max(seen[p.Partition], p.LastStableOffset)
				} else {
					seen[p.Partition] = max(seen[p.Partition], p.HighWatermark)
				}
			}
		})
	}
	return out
}

func TestTxnCommitAndAbortFranz(t *testing.T) {
	tb := startTestBroker(t, "transaction.state.log.num.partitions=3")
	ctx := testCtx(t)
	if _, err := tb.admin(t).CreateTopic(ctx, 3, 1, nil, "tx"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(t, kgo.TransactionalID("tid-1"), kgo.TransactionTimeout(30*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTxn(t, cl, "tx", "c1", 30, true)
	produceTxn(t, cl, "tx", "a1", 30, false)
	produceTxn(t, cl, "tx", "c2", 30, true)

	committed := txnConsumeAll(t, tb, "tx", true)
	if len(committed) != 60 {
		t.Fatalf("read_committed saw %d records, want 60", len(committed))
	}
	seen := map[string]bool{}
	for _, v := range committed {
		if v[0] == 'a' {
			t.Fatalf("read_committed saw aborted record %s", v)
		}
		if seen[v] {
			t.Fatalf("duplicate %s", v)
		}
		seen[v] = true
	}
	if all := txnConsumeAll(t, tb, "tx", false); len(all) != 90 {
		t.Fatalf("read_uncommitted saw %d records, want 90", len(all))
	}

	// Describe/List transactions and producers.
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"tid-1", "nope"}
	dresp, err := dt.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if s := dresp.TransactionStates[0]; s.ErrorCode != 0 || s.State != "CompleteCommit" {
		t.Fatalf("%+v", s)
	}
	if s := dresp.TransactionStates[1]; s.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("%+v", s)
	}
	lt := kmsg.NewPtrListTransactionsRequest()
	lresp, err := lt.RequestWith(ctx, cl)
	if err != nil || len(lresp.TransactionStates) != 1 || lresp.TransactionStates[0].TransactionalID != "tid-1" {
		t.Fatalf("%v %+v", err, lresp)
	}
	dp := kmsg.NewPtrDescribeProducersRequest()
	dpt := kmsg.NewDescribeProducersRequestTopic()
	dpt.Topic, dpt.Partitions = "tx", []int32{0}
	dp.Topics = append(dp.Topics, dpt)
	presp, err := dp.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if ps := presp.Topics[0].Partitions[0]; ps.ErrorCode != 0 || len(ps.ActiveProducers) != 1 || ps.ActiveProducers[0].CurrentTxnStartOffset != -1 {
		t.Fatalf("%+v", ps)
	}
}
