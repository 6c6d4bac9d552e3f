package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchReq is a Fetch request for one partition of topic.
type fetchReq struct {
	topic     string
	partition int32
	offset    int64
	maxWait   int32
	minBytes  int32
	isolation int8
	epoch     int32 // current leader epoch; -1 none
	sessionID int32
	sessEpoch int32
	forget    bool // list the partition under ForgottenTopics instead
	noTopics  bool
}

func (f fetchReq) do(ctx context.Context, t *testing.T, br *kgo.Broker) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12 // names, not topic ids
	req.ReplicaID = -1
	req.MaxWaitMillis = f.maxWait
	req.MinBytes = f.minBytes
	req.MaxBytes = 50 << 20
	req.IsolationLevel = f.isolation
	req.SessionID, req.SessionEpoch = f.sessionID, f.sessEpoch
	switch {
	case f.noTopics:
	case f.forget:
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.Partitions = f.topic, []int32{f.partition}
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	default:
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = f.topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = f.partition
		rp.FetchOffset = f.offset
		rp.CurrentLeaderEpoch = f.epoch
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, br)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// newFetch is a sessionless fetch of topic/partition from offset.
func newFetch(topic string, partition int32, offset int64) fetchReq {
	return fetchReq{topic: topic, partition: partition, offset: offset, epoch: -1, sessEpoch: -1}
}

// onlyPartition returns the single partition of a response.
func onlyPartition(t *testing.T, resp *kmsg.FetchResponse) *kmsg.FetchResponseTopicPartition {
	t.Helper()
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("want one partition, got %v and %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
	}
	return &resp.Topics[0].Partitions[0]
}

// fetchedValues decodes a partition's records from offset on.
func fetchedValues(t *testing.T, topic string, p *kmsg.FetchResponseTopicPartition, offset int64) []string {
	t.Helper()
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: p.Partition, Offset: offset}, p, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		t.Fatal(fp.Err)
	}
	var out []string
	for _, r := range fp.Records {
		out = append(out, fmt.Sprintf("%d:%s", r.Offset, r.Value))
	}
	return out
}

func TestFetchReadsUpToHW(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "f", 1, nil)
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	rawProduce(t, br, "f", 0, testBatch("a", 3, 1))
	rawProduce(t, br, "f", 0, testBatch("b", 2, 1))

	p := onlyPartition(t, newFetch("f", 0, 0).do(ctx, t, br))
	if p.ErrorCode != 0 || p.HighWatermark != 5 || p.LastStableOffset != 5 || p.LogStartOffset != 0 {
		t.Fatalf("%+v", p)
	}
	got := fmt.Sprint(fetchedValues(t, "f", p, 0))
	if want := "[0:a-0 1:a-1 2:a-2 3:b-0 4:b-1]"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if p.AbortedTransactions != nil {
		t.Fatal("aborted transactions under read_uncommitted")
	}

	// From the middle of the first batch: the whole batch comes back
	// (PITFALLS 4) and the client skips what it did not ask for.
	p = onlyPartition(t, newFetch("f", 0, 1).do(ctx, t, br))
	if base := int64(binary.BigEndian.Uint64(p.RecordBatches)); base != 0 {
		t.Fatalf("first batch starts at %d, want the batch holding offset 1 (0)", base)
	}
	if got := fmt.Sprint(fetchedValues(t, "f", p, 1)); got != "[1:a-1 2:a-2 3:b-0 4:b-1]" {
		t.Fatalf("mid-batch: %s", got)
	}

	// At the log end: nothing, no error. Beyond it: out of range.
	if p := onlyPartition(t, newFetch("f", 0, 5).do(ctx, t, br)); p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("at the end: %+v", p)
	}
	// As Kafka, with -1 offsets and a null aborted list.
	if p := onlyPartition(t, newFetch("f", 0, 6).do(ctx, t, br)); kerr.ErrorForCode(p.ErrorCode) != kerr.OffsetOutOfRange ||
		p.HighWatermark != -1 || p.LastStableOffset != -1 || p.LogStartOffset != -1 || p.AbortedTransactions != nil {
		t.Fatalf("past the end: %+v", p)
	}

	// read_committed: the LSO bound and an empty aborted list.
	f := newFetch("f", 0, 0)
	f.isolation = 1
	if p := onlyPartition(t, f.do(ctx, t, br)); p.AbortedTransactions == nil || len(p.AbortedTransactions) != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("read_committed: %+v", p)
	}
}

func TestFetchErrors(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "fe", 1, nil)
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	for _, c := range []struct {
		f    fetchReq
		want error
	}{
		{newFetch("missing", 0, 0), kerr.UnknownTopicOrPartition},
		{newFetch("fe", 4, 0), kerr.UnknownTopicOrPartition},
		{fetchReq{topic: "fe", epoch: 1, sessEpoch: -1}, kerr.UnknownLeaderEpoch},
		{fetchReq{topic: "fe", epoch: 0, sessEpoch: -1}, nil},
	} {
		// Errors answer at once even with a long MaxWait.
		c.f.maxWait, c.f.minBytes = 60000, 1
		if c.want == nil {
			c.f.maxWait = 0
		}
		p := onlyPartition(t, c.f.do(ctx, t, br))
		if got := kerr.ErrorForCode(p.ErrorCode); got != c.want {
			t.Errorf("%+v: got %v, want %v", c.f, got, c.want)
		}
		// As Kafka: a partition refused before the read (unknown) has an
		// empty aborted list, one refused by the read a null list.
		if wantEmpty := c.want == kerr.UnknownTopicOrPartition; wantEmpty != (p.AbortedTransactions != nil) || len(p.AbortedTransactions) != 0 {
			t.Errorf("%+v: aborted transactions %#v", c.f, p.AbortedTransactions)
		}
	}
}

func TestFetchLongPollWakesOnProduce(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "lp", 1, nil)
	ctx := testCtx(t)
	fetcher := rawBroker(t, tb)
	producer := rawBroker(t, tb)

	type result struct {
		resp *kmsg.FetchResponse
	}
	done := make(chan result, 1)
	go func() {
		f := newFetch("lp", 0, 0)
		f.maxWait, f.minBytes = 50000, 1
		done <- result{f.do(ctx, t, fetcher)}
	}()
	// The fetch may start before or after this produce; either way it
	// must answer with the record, long before its 50 s wait.
	rawProduce(t, producer, "lp", 0, testBatch("late", 1, 1))
	r := <-done
	p := onlyPartition(t, r.resp)
	if got := fmt.Sprint(fetchedValues(t, "lp", p, 0)); got != "[0:late-0]" {
		t.Fatalf("got %s", got)
	}
}

func TestFetchLongPollTimesOut(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "lt", 1, nil)
	f := newFetch("lt", 0, 0)
	f.maxWait, f.minBytes = 50, 1
	p := onlyPartition(t, f.do(testCtx(t), t, rawBroker(t, tb)))
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 0 {
		t.Fatalf("%+v", p)
	}
}

func TestFetchMaxBytes(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "mb", 2, nil)
	br := rawBroker(t, tb)
	big := testBatch(string(make([]byte, 2000)), 1, 1)
	for range 3 {
		rawProduce(t, br, "mb", 0, big)
		rawProduce(t, br, "mb", 1, big)
	}
	// Response max 100 bytes, partition max 100 bytes: the first
	// partition still returns one whole batch (KIP-74), the second none.
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 100, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "mb"
	for i := range int32(2) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = i, 100
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), br)
	if err != nil {
		t.Fatal(err)
	}
	ps := resp.Topics[0].Partitions
	if len(ps) != 2 || len(ps[0].RecordBatches) != len(big) || len(ps[1].RecordBatches) != 0 {
		t.Fatalf("sizes %d, %d; batch is %d", len(ps[0].RecordBatches), len(ps[1].RecordBatches), len(big))
	}
}

func TestFetchSessions(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "s", 1, nil)
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	rawProduce(t, br, "s", 0, testBatch("a", 2, 1))

	// Open a session with a full fetch.
	f := newFetch("s", 0, 0)
	f.sessEpoch = 0
	resp := f.do(ctx, t, br)
	id := resp.SessionID
	if id == 0 || len(fetchedValues(t, "s", onlyPartition(t, resp), 0)) != 2 {
		t.Fatalf("open: %+v", resp)
	}
	// Incremental, nothing changed: the partition is left out.
	inc := fetchReq{sessionID: id, sessEpoch: 1, noTopics: true}
	f.offset = 2
	f.sessionID, f.sessEpoch = id, 1
	if resp := f.do(ctx, t, br); resp.ErrorCode != 0 || resp.SessionID != id || len(resp.Topics) != 0 {
		t.Fatalf("unchanged: %+v", resp)
	}
	// New data: the session answers the partition without it being listed.
	rawProduce(t, br, "s", 0, testBatch("b", 1, 1))
	inc.sessEpoch = 2
	if got := fmt.Sprint(fetchedValues(t, "s", onlyPartition(t, inc.do(ctx, t, br)), 2)); got != "[2:b-0]" {
		t.Fatalf("incremental: %s", got)
	}
	// Epoch errors and unknown sessions.
	inc.sessEpoch = 7
	if resp := inc.do(ctx, t, br); kerr.ErrorForCode(resp.ErrorCode) != kerr.InvalidFetchSessionEpoch {
		t.Fatalf("bad epoch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if resp := (fetchReq{sessionID: id + 1, sessEpoch: 1, noTopics: true}).do(ctx, t, br); kerr.ErrorForCode(resp.ErrorCode) != kerr.FetchSessionIDNotFound {
		t.Fatalf("unknown session: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// Forget the partition: new data is no longer reported.
	forget := fetchReq{topic: "s", sessionID: id, sessEpoch: 3, forget: true}
	forget.do(ctx, t, br)
	rawProduce(t, br, "s", 0, testBatch("c", 1, 1))
	inc.sessEpoch = 4
	if resp := inc.do(ctx, t, br); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("after forgetting: %+v", resp)
	}
	// Close it.
	if resp := (fetchReq{sessionID: id, sessEpoch: -1, noTopics: true}).do(ctx, t, br); resp.ErrorCode != 0 || resp.SessionID != 0 {
		t.Fatalf("close: %+v", resp)
	}
	if n := tb.fetchSessions.Len(); n != 0 {
		t.Fatalf("%d sessions after close", n)
	}
}

func TestFetchSessionCacheFull(t *testing.T) {
	tb := startTestBroker(t, "max.incremental.fetch.session.cache.slots=1")
	dataTopic(t, tb, "full", 1, nil)
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	f := newFetch("full", 0, 0)
	f.sessEpoch = 0
	if resp := f.do(ctx, t, br); resp.SessionID == 0 {
		t.Fatal("first session refused")
	}
	// The slot is taken by a session in use: the next client stays
	// sessionless but is still answered in full.
	resp := f.do(ctx, t, br)
	if resp.SessionID != 0 || resp.ErrorCode != 0 || len(resp.Topics) != 1 {
		t.Fatalf("%+v", resp)
	}
}

// read_committed: reads stop at the LSO while a transaction is open, and
// after an abort the aborted transaction is listed so the client drops its
// records (PITFALLS 7). Produce refuses transactions for now, so the
// batches go to the leader append path directly, as the coordinator
// writes markers.
func TestFetchReadCommitted(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "rc", 1, nil)
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	rep, err := tb.replicas.LeaderFor(tb.ctrl.Snapshot(), "rc", 0)
	if err != nil {
		t.Fatal(err)
	}
	appendDirect := func(batch []byte, control bool) {
		t.Helper()
		if _, _, err := rep.AppendAsLeader(batch, replica.LeaderAppend{AllowControl: control}); err != nil {
			t.Fatal(err)
		}
	}
	appendDirect(testBatch("plain", 2, 1), false) // offsets 0-1
	var txn storage.BatchBuilder
	txn.Transactional, txn.ProducerID, txn.ProducerEpoch, txn.Idempotent = true, 5, 0, true
	txn.Add(1, nil, []byte("t0")).Add(2, nil, []byte("t1"))
	appendDirect(txn.Build(), false) // offsets 2-3, transaction open

	committed := newFetch("rc", 0, 0)
	committed.isolation = 1
	p := onlyPartition(t, committed.do(ctx, t, br))
	if p.HighWatermark != 4 || p.LastStableOffset != 2 || len(p.AbortedTransactions) != 0 {
		t.Fatalf("open transaction: %+v", p)
	}
	if got := fmt.Sprint(fetchedValues(t, "rc", p, 0)); got != "[0:plain-0 1:plain-1]" {
		t.Fatalf("read_committed below the LSO: %s", got)
	}
	if lo := listOffset(t, br, "rc", 0, -1, 1); lo.Offset != 2 {
		t.Fatalf("latest read_committed %d, want the LSO 2", lo.Offset)
	}
	if got := len(fetchedValues(t, "rc", onlyPartition(t, newFetch("rc", 0, 0).do(ctx, t, br)), 0)); got != 4 {
		t.Fatalf("read_uncommitted sees %d records, want 4", got)
	}

	appendDirect(storage.ControlBatch(5, 0, false, 0, 3), true) // abort at offset 4
	p = onlyPartition(t, committed.do(ctx, t, br))
	if p.LastStableOffset != 5 || len(p.AbortedTransactions) != 1 || p.AbortedTransactions[0].ProducerID != 5 || p.AbortedTransactions[0].FirstOffset != 2 {
		t.Fatalf("after abort: %+v", p)
	}
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "rc", IsolationLevel: kgo.ReadCommitted()}, p, kgo.DefaultDecompressor(), nil)
	var vals []string
	for _, r := range fp.Records {
		vals = append(vals, string(r.Value))
	}
	if got := fmt.Sprint(vals); got != "[plain-0 plain-1]" {
		t.Fatalf("read_committed after abort: %s", got)
	}
}
