package broker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// transformRound runs one GroupTransactSession over topic "in" until it has
// processed want records (or the context ends), producing each value
// upper-cased to "out", and ends every transaction with commit (or abort
// for the first transaction when abortFirst is set). It returns how many
// records it processed in committed transactions.
func transformRound(t *testing.T, tb *testBroker, want int, abortFirst bool) int {
	t.Helper()
	ctx := testCtx(t)
	s, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(tb.addr),
		kgo.TransactionalID("ctp"),
		kgo.ConsumerGroup("ctp-group"),
		kgo.ConsumeTopics("in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done, first := 0, true
	for done < want {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		fs := s.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("transforming: %v after %d", ctx.Err(), done)
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := s.Begin(); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			out := &kgo.Record{Topic: "out", Value: []byte(strings.ToUpper(string(r.Value)))}
			if err := s.ProduceSync(ctx, out).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		commit := !(abortFirst && first)
		first = false
		committed, err := s.End(ctx, kgo.TransactionEndTry(commit))
		if err != nil {
			t.Fatal(err)
		}
		if committed {
			done += len(recs)
		} else if abortFirst && !commit {
			return 0 // the next session starts from the committed offsets
		}
	}
	return done
}

func TestTxnConsumeTransformProduce(t *testing.T) {
	tb := startTestBroker(t, "transaction.state.log.num.partitions=3", "offsets.topic.num.partitions=3", "group.initial.rebalance.delay.ms=0")
	ctx := testCtx(t)
	adm := tb.admin(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "in"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "out"); err != nil {
		t.Fatal(err)
	}
	const n = 200
	p := tb.client(t)
	for i := 0; i < n; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: "in", Value: []byte(fmt.Sprintf("rec-%03d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// An aborted first transaction leaves no output and no offsets; the
	// next session redoes its records.
	transformRound(t, tb, n, true)
	if got := transformRound(t, tb, n, false); got != n {
		t.Fatalf("processed %d, want %d", got, n)
	}
	out := txnConsumeAll(t, tb, "out", true)
	if len(out) != n {
		t.Fatalf("read_committed saw %d output records, want %d", len(out), n)
	}
	seen := map[string]bool{}
	for _, v := range out {
		if seen[v] {
			t.Fatalf("duplicate output %s", v)
		}
		seen[v] = true
	}
	offs, err := adm.FetchOffsets(ctx, "ctp-group")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Fatalf("committed offsets sum to %d, want %d", total, n)
	}
}
