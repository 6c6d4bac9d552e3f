package broker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// TestTxnOffsetCommitVisibility: offsets committed in a transaction are
// invisible until the commit marker (RequireStable fetches get
// UNSTABLE_OFFSET_COMMIT meanwhile), and an abort drops them.
func TestTxnOffsetCommitVisibility(t *testing.T) {
	tb := startTestBroker(t, "transaction.state.log.num.partitions=3", "offsets.topic.num.partitions=3")
	dataTopic(t, tb, "t", 1, nil)
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	const id, group = "toc", "toc-group"
	findTxnCoordinator(t, tb, br, id)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{group}
	if r, err := fc.RequestWith(ctx, br); err != nil || r.Coordinators[0].ErrorCode != 0 {
		t.Fatal(err, r)
	}
	fetch := func() (int64, int16) {
		for {
			of := kmsg.NewPtrOffsetFetchRequest()
			of.Version = 7
			of.Group, of.RequireStable = group, true
			ot := kmsg.NewOffsetFetchRequestTopic()
			ot.Topic, ot.Partitions = "t", []int32{0}
			of.Topics = append(of.Topics, ot)
			r, err := of.RequestWith(ctx, apiBroker(t, tb, 9, 7))
			if err != nil {
				t.Fatal(err)
			}
			if r.ErrorCode == kerr.CoordinatorLoadInProgress.Code {
				continue
			}
			p := r.Topics[0].Partitions[0]
			return p.Offset, p.ErrorCode
		}
	}
	run := func(offset int64, commit bool) {
		ip := initTxn(t, br, id, 10000)
		if ip.ErrorCode != 0 {
			t.Fatalf("%+v", ip)
		}
		ao := kmsg.NewPtrAddOffsetsToTxnRequest()
		ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = id, ip.ProducerID, ip.ProducerEpoch, group
		if r, err := ao.RequestWith(ctx, br); err != nil || r.ErrorCode != 0 {
			t.Fatal(err, r)
		}
		tc := kmsg.NewPtrTxnOffsetCommitRequest()
		tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch = id, group, ip.ProducerID, ip.ProducerEpoch
		tt := kmsg.NewTxnOffsetCommitRequestTopic()
		tt.Topic, tt.TopicID = "t", tb.ctrl.Snapshot().Topics["t"].ID
		tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		tp.Partition, tp.Offset = 0, offset
		tt.Partitions = append(tt.Partitions, tp)
		tc.Topics = append(tc.Topics, tt)
		if r, err := tc.RequestWith(ctx, br); err != nil || r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatal(err, r)
		}
		if off, code := fetch(); code != kerr.UnstableOffsetCommit.Code || off != -1 {
			t.Fatalf("pending offset fetched as %d (error %d)", off, code)
		}
		et := kmsg.NewPtrEndTxnRequest()
		et.TransactionalID, et.ProducerID, et.ProducerEpoch, et.Commit = id, ip.ProducerID, ip.ProducerEpoch, commit
		if r, err := et.RequestWith(ctx, br); err != nil || r.ErrorCode != 0 {
			t.Fatal(err, r)
		}
	}
	settled := func(want int64) {
		for {
			off, code := fetch()
			if code == 0 {
				if off != want {
					t.Fatalf("offset %d, want %d", off, want)
				}
				return
			}
			if code != kerr.UnstableOffsetCommit.Code || ctx.Err() != nil {
				t.Fatalf("error %d (%v)", code, ctx.Err())
			}
		}
	}
	run(42, true)
	settled(42)
	run(99, false)
	settled(42)
}
