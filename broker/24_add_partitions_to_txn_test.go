package broker

import (
	"testing"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// apiBroker is a connection whose requests of key go at most at version
// max.
func apiBroker(t *testing.T, tb *testBroker, key, max int16) *kgo.Broker {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(key, max)
	return tb.client(t, kgo.MaxVersions(v)).SeedBrokers()[0]
}

// txnBatch is a transactional batch of one record for pid/epoch.
func txnBatch(pid int64, epoch int16, seq int32) []byte {
	bb := storage.BatchBuilder{Transactional: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Idempotent: true}
	bb.Add(1, nil, []byte("v"))
	return bb.Build()
}

// txnProduce sends one transactional batch and returns the partition's
// error.
func txnProduce(t *testing.T, br *kgo.Broker, id *string, topic string, partition int32, records []byte) error {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = id, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), br)
	if err != nil {
		t.Fatal(err)
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// findTxnCoordinator asks FindCoordinator for a transactional id (which
// creates __transaction_state) and waits until the id's partition loaded.
func findTxnCoordinator(t *testing.T, tb *testBroker, br *kgo.Broker, id string) {
	t.Helper()
	ctx := testCtx(t)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{id}
	resp, err := fc.RequestWith(ctx, br)
	if err != nil || resp.Coordinators[0].ErrorCode != 0 || resp.Coordinators[0].NodeID != tb.ID() {
		t.Fatal(err, resp)
	}
}

// initTxn runs InitProducerId until the coordinator has loaded. Between
// the creation of __transaction_state and the broker taking its
// leadership, FindCoordinator already names the broker (from metadata)
// while the coordinator answers NOT_COORDINATOR, as Kafka's does; clients
// retry both.
func initTxn(t *testing.T, br *kgo.Broker, id string, timeoutMs int32) *kmsg.InitProducerIDResponse {
	t.Helper()
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = &id, timeoutMs
		resp, err := req.RequestWith(testCtx(t), br)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.CoordinatorLoadInProgress.Code || resp.ErrorCode == kerr.ConcurrentTransactions.Code || resp.ErrorCode == kerr.NotCoordinator.Code {
			continue
		}
		return resp
	}
}

func TestTxnProtocolRaw(t *testing.T) {
	tb := startTestBroker(t, "transaction.state.log.num.partitions=5", "transaction.max.timeout.ms=60000")
	dataTopic(t, tb, "t", 2, nil)
	br := rawBroker(t, tb)
	ctx := testCtx(t)
	id := "raw"
	// This is the transactions-version-1 protocol (KIP-890 part 1
	// verification, no epoch bump at EndTxn): Produce up to v11 and a
	// cluster finalizing transaction.version 1. TestTxnV2Raw is the v2
	// protocol.
	setTransactionVersion(t, tb, 1)
	br11 := apiBroker(t, tb, 0, 11)
	findTxnCoordinator(t, tb, br, id)

	if resp := initTxn(t, br, id, 60001); resp.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("%+v", resp)
	}
	ip := initTxn(t, br, id, 10000)
	if ip.ErrorCode != 0 || ip.ProducerEpoch != 0 {
		t.Fatalf("%+v", ip)
	}
	pid, epoch := ip.ProducerID, ip.ProducerEpoch

	// A transactional batch without a transactional id; one for a
	// partition not in the transaction (KIP-890 verification).
	if err := txnProduce(t, br11, nil, "t", 0, txnBatch(pid, epoch, 0)); err != kerr.TransactionalIDAuthorizationFailed {
		t.Fatal(err)
	}
	// Produce v11 knows TRANSACTION_ABORTABLE (KIP-890); v10 gets
	// INVALID_TXN_STATE.
	if err := txnProduce(t, br11, &id, "t", 0, txnBatch(pid, epoch, 0)); err != kerr.TransactionAbortable {
		t.Fatal(err)
	}
	if err := txnProduce(t, apiBroker(t, tb, 0, 10), &id, "t", 0, txnBatch(pid, epoch, 0)); err != kerr.InvalidTxnState {
		t.Fatal(err)
	}

	// AddPartitionsToTxn v3: an unknown partition spoils the request.
	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.Version = 3
	ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = id, pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "t", []int32{0, 7}
	ap.Topics = append(ap.Topics, at)
	v3 := apiBroker(t, tb, 24, 3) // kgo would otherwise send the newest version
	apr, err := ap.RequestWith(ctx, v3)
	if err != nil {
		t.Fatal(err)
	}
	if ps := apr.Topics[0].Partitions; ps[0].ErrorCode != kerr.OperationNotAttempted.Code || ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", ps)
	}
	ap.Topics[0].Partitions = []int32{0}
	if apr, err = ap.RequestWith(ctx, v3); err != nil || apr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatal(err, apr)
	}
	if err := txnProduce(t, br11, &id, "t", 0, txnBatch(pid, epoch, 0)); err != nil {
		t.Fatal(err)
	}

	// v4 verify-only: partition 0 is in, 1 is not.
	vr := kmsg.NewPtrAddPartitionsToTxnRequest()
	vr.Version = 4
	vt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	vt.TransactionalID, vt.ProducerID, vt.ProducerEpoch, vt.VerifyOnly = id, pid, epoch, true
	vtt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	vtt.Topic, vtt.Partitions = "t", []int32{0, 1}
	vt.Topics = append(vt.Topics, vtt)
	vr.Transactions = append(vr.Transactions, vt)
	vresp, err := vr.RequestWith(ctx, apiBroker(t, tb, 24, 4))
	if err != nil {
		t.Fatal(err)
	}
	if ps := vresp.Transactions[0].Topics[0].Partitions; ps[0].ErrorCode != 0 || ps[1].ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("%+v", ps)
	}
	vr.Version = 5 // v5 answers TRANSACTION_ABORTABLE instead
	if vresp, err = vr.RequestWith(ctx, apiBroker(t, tb, 24, 5)); err != nil {
		t.Fatal(err)
	}
	if ps := vresp.Transactions[0].Topics[0].Partitions; ps[0].ErrorCode != 0 || ps[1].ErrorCode != kerr.TransactionAbortable.Code {
		t.Fatalf("v5: %+v", ps)
	}

	// The LSO stays at the transaction's first offset.
	if lso := localReplica(tb, "t", 0).log.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO %d while the transaction is open", lso)
	}

	// A second producer with the same id fences the first: its ongoing
	// transaction is aborted under a bumped epoch.
	ip2 := initTxn(t, br, id, 10000)
	if ip2.ErrorCode != 0 || ip2.ProducerID != pid || ip2.ProducerEpoch != epoch+2 {
		t.Fatalf("%+v", ip2)
	}
	et := kmsg.NewPtrEndTxnRequest()
	et.TransactionalID, et.ProducerID, et.ProducerEpoch, et.Commit = id, pid, epoch, true
	br = apiBroker(t, tb, 26, 4) // EndTxn v5 is the v2 protocol
	etr, err := et.RequestWith(ctx, br)
	if err != nil || etr.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatal(err, etr)
	}
	if err := txnProduce(t, br11, &id, "t", 0, txnBatch(pid, epoch, 1)); err != kerr.InvalidProducerEpoch {
		t.Fatal(err)
	}
	lg := localReplica(tb, "t", 0).log
	if lso, leo := lg.LastStableOffset(), lg.LogEndOffset(); lso != leo || leo != 2 {
		t.Fatalf("LSO %d LEO %d after the abort marker", lso, leo)
	}
	if ab := lg.AbortedTransactions(0, 2); len(ab) != 1 {
		t.Fatalf("aborted %+v", ab)
	}

	// EndTxn with nothing ongoing is INVALID_TXN_STATE.
	et.ProducerEpoch = ip2.ProducerEpoch
	if etr, err = et.RequestWith(ctx, br); err != nil || etr.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatal(err, etr)
	}

	// WriteTxnMarkers, as another broker's coordinator would send it.
	wm := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = 4242, 0, true, 0
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = "t", []int32{1, 9}
	m.Topics = append(m.Topics, mt)
	wm.Markers = append(wm.Markers, m)
	wresp, err := wm.RequestWith(ctx, br)
	if err != nil {
		t.Fatal(err)
	}
	if ps := wresp.Markers[0].Topics[0].Partitions; ps[0].ErrorCode != 0 || ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", ps)
	}
	if leo := localReplica(tb, "t", 1).log.LogEndOffset(); leo != 1 {
		t.Fatalf("LEO %d after a marker", leo)
	}
}

// setTransactionVersion finalizes transaction.version level and waits
// until the broker's metadata shows it.
func setTransactionVersion(t *testing.T, tb *testBroker, level int16) {
	t.Helper()
	cur := tb.ctrl.Snapshot().Features
	next := map[string]int16{}
	for n, l := range cur.Levels {
		next[n] = l
	}
	next["transaction.version"] = level
	rev, err := tb.ctrl.SetFeatures(testCtx(t), cur.Epoch, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.ctrl.WaitRevision(testCtx(t), rev); err != nil {
		t.Fatal(err)
	}
}

// TestTxnV2Raw: transactions version 2 on the wire (KIP-890 part 2). A
// Produce v12 adds its partition to the transaction without
// AddPartitionsToTxn; EndTxn v5 answers the bumped epoch, the markers carry
// it, and a late write of the old epoch — to a partition of the ended
// transaction or to a new one — is refused (INVALID_PRODUCER_EPOCH), so it
// cannot join the next transaction (the hanging-transaction defence). A
// TxnOffsetCommit v5 adds the offsets partition itself. Retries of EndTxn
// with the old epoch answer NONE and the current epoch.
func TestTxnV2Raw(t *testing.T) {
	tb := startTestBroker(t, "transaction.state.log.num.partitions=5", "transaction.max.timeout.ms=60000")
	dataTopic(t, tb, "t", 3, nil)
	br := rawBroker(t, tb) // Produce v12
	ctx := testCtx(t)
	id := "v2"
	findTxnCoordinator(t, tb, br, id)
	ip := initTxn(t, br, id, 10000)
	if ip.ErrorCode != 0 {
		t.Fatalf("%+v", ip)
	}
	pid, epoch := ip.ProducerID, ip.ProducerEpoch

	if err := txnProduce(t, br, &id, "t", 0, txnBatch(pid, epoch, 0)); err != nil {
		t.Fatalf("implicit add: %v", err)
	}
	d, err := tb.txns.coord.Describe(id)
	if err != nil || d.State.String() != "Ongoing" || len(d.Partitions) != 1 {
		t.Fatalf("after a v12 produce: %+v %v", d, err)
	}
	et := kmsg.NewPtrEndTxnRequest()
	et.TransactionalID, et.ProducerID, et.ProducerEpoch, et.Commit = id, pid, epoch, true
	etr, err := et.RequestWith(ctx, br)
	if err != nil || etr.Version != 5 || etr.ErrorCode != 0 || etr.ProducerID != pid || etr.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn v5: %v %+v", err, etr)
	}
	lg := localReplica(tb, "t", 0).log
	testenv.Eventually(t, "commit marker", func() bool { return lg.LastStableOffset() == 2 && lg.LogEndOffset() == 2 })
	// The retry answers the same.
	if again, err := et.RequestWith(ctx, br); err != nil || again.ErrorCode != 0 || again.ProducerEpoch != epoch+1 {
		t.Fatalf("retried EndTxn: %v %+v", err, again)
	}
	// A late write of the ended transaction's epoch: refused on its
	// partition (the marker's epoch) and on a new one (the coordinator).
	if err := txnProduce(t, br, &id, "t", 0, txnBatch(pid, epoch, 1)); err != kerr.InvalidProducerEpoch {
		t.Fatalf("late write to a partition of the ended transaction: %v", err)
	}
	if err := txnProduce(t, br, &id, "t", 1, txnBatch(pid, epoch, 0)); err != kerr.InvalidProducerEpoch {
		t.Fatalf("late write to a new partition: %v", err)
	}
	if d, _ := tb.txns.coord.Describe(id); d.State.String() != "CompleteCommit" || len(d.Partitions) != 0 {
		t.Fatalf("the late writes touched the transaction: %+v", d)
	}
	// The next transaction runs at the new epoch; it aborts.
	epoch++
	if err := txnProduce(t, br, &id, "t", 1, txnBatch(pid, epoch, 0)); err != nil {
		t.Fatal(err)
	}
	et.ProducerEpoch, et.Commit = epoch, false
	if etr, err = et.RequestWith(ctx, br); err != nil || etr.ErrorCode != 0 || etr.ProducerEpoch != epoch+1 {
		t.Fatalf("abort: %v %+v", err, etr)
	}
	l1 := localReplica(tb, "t", 1).log
	testenv.Eventually(t, "abort marker", func() bool { return l1.LastStableOffset() == 2 })
	if ab := l1.AbortedTransactions(0, 2); len(ab) != 1 {
		t.Fatalf("aborted %+v", ab)
	}
	epoch++
	// Aborting with nothing ongoing bumps; committing nothing is refused.
	et.ProducerEpoch, et.Commit = epoch, true
	if etr, err = et.RequestWith(ctx, br); err != nil || etr.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("empty commit: %v %+v", err, etr)
	}
	et.Commit = false
	if etr, err = et.RequestWith(ctx, br); err != nil || etr.ErrorCode != 0 || etr.ProducerEpoch != epoch+1 {
		t.Fatalf("empty abort: %v %+v", err, etr)
	}
	epoch++
	// TxnOffsetCommit v6 (topics by id): the offsets partition joins
	// implicitly (v5+); an unknown id is UNKNOWN_TOPIC_ID.
	jg := kmsg.NewPtrTxnOffsetCommitRequest()
	jg.TransactionalID, jg.Group, jg.ProducerID, jg.ProducerEpoch, jg.Generation = id, "g", pid, epoch, -1
	jt := kmsg.NewTxnOffsetCommitRequestTopic()
	jt.TopicID = tb.ctrl.Snapshot().Topics["t"].ID
	jp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	jp.Partition, jp.Offset = 0, 2
	jt.Partitions = append(jt.Partitions, jp)
	unknown := kmsg.NewTxnOffsetCommitRequestTopic()
	unknown.TopicID = [16]byte{9, 9, 9}
	unknown.Partitions = append(unknown.Partitions, jp)
	jg.Topics = append(jg.Topics, jt, unknown)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"g"}
	if r, err := fc.RequestWith(ctx, br); err != nil || r.Coordinators[0].ErrorCode != 0 {
		t.Fatal(err, r)
	}
	var jr *kmsg.TxnOffsetCommitResponse
	testenv.Eventually(t, "TxnOffsetCommit past the offsets load", func() bool {
		jr, err = jg.RequestWith(ctx, br)
		return err != nil || jr.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorLoadInProgress.Code
	})
	if err != nil || jr.Version != 6 || jr.Topics[0].Partitions[0].ErrorCode != 0 || jr.Topics[0].TopicID != jt.TopicID ||
		jr.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("TxnOffsetCommit v6: %v %+v", err, jr)
	}
	if d, _ := tb.txns.coord.Describe(id); d.State.String() != "Ongoing" || len(d.Partitions) != 1 || d.Partitions[0].Topic != "__consumer_offsets" {
		t.Fatalf("after TxnOffsetCommit v6: %+v", d)
	}
	et.ProducerEpoch, et.Commit = epoch, true
	if etr, err = et.RequestWith(ctx, br); err != nil || etr.ErrorCode != 0 {
		t.Fatalf("commit offsets: %v %+v", err, etr)
	}
	testenv.Eventually(t, "committed offset", func() bool {
		of := kmsg.NewPtrOffsetFetchRequest()
		of.Group = "g"
		ot := kmsg.NewOffsetFetchRequestTopic()
		ot.Topic, ot.Partitions = "t", []int32{0}
		of.Topics = append(of.Topics, ot)
		r, err := of.RequestWith(ctx, apiBroker(t, tb, 9, 7)) // Group and Topics, not Groups
		return err == nil && len(r.Topics) == 1 && r.Topics[0].Partitions[0].Offset == 2
	})
}
