package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/coordinator/placement"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator/txn"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Transaction coordination glue
//
// The transaction coordinator (package coordinator/txn) owns the
// transactional ids of the __transaction_state partitions this broker
// leads. This file is its seam to the broker:
//
//   - the internal topic __transaction_state is created on the first
//     FindCoordinator (key type 1) or InitProducerId for a transactional id:
//     transaction.state.log.num.partitions partitions, compacted,
//     segment.bytes = transaction.state.log.segment.bytes, replication
//     factor transaction.state.log.replication.factor capped at the live
//     brokers (as __consumer_offsets is, so a single broker works out of the
//     box) and min.insync.replicas = transaction.state.log.min.isr capped at
//     that factor;
//   - a snapshot subscription loads a partition into the coordinator when
//     this broker becomes its leader (coordinator epoch = its leader epoch)
//     and unloads it when leadership moves away;
//   - txnStateLog implements txn.Log over the local leader replica (append
//     on the leader path and wait for the high watermark; replay decodes
//     whole batches up to the high watermark);
//   - markers (txn.MarkerWriter) are control batches appended on the
//     leader path of each partition this broker leads, and sent as
//     WriteTxnMarkers to the leader of any other partition;
//   - a transactional Produce checks that the partition was added to the
//     producer's transaction (KIP-890 part 1) unless the partition already
//     holds the producer's ongoing transaction; from Produce v12 it adds
//     the partition itself (KIP-890 part 2, transaction.version 2).

// txnTopicName is Kafka's internal topic for transaction state.
const txnTopicName = "__transaction_state"

// txnOffsetsTopic is __consumer_offsets, named here so this file does not
// depend on the group glue.
const txnOffsetsTopic = "__consumer_offsets"

// txnWriteTimeout bounds a __transaction_state write or a marker write
// waiting for the ISR (Kafka uses request.timeout.ms, 30 s by default).
const txnWriteTimeout = 30 * time.Second

// txnCoordinator is the broker's side of transaction coordination.
type txnCoordinator struct {
	b     *Broker
	coord *txn.Coordinator
	lg    *zap.Logger

	unsubscribe func()

	mu     sync.Mutex
	loaded map[int32]int32 // partition → leader epoch it was loaded at
	closed bool

	createMu sync.Mutex     // one creation attempt at a time
	loaders  sync.WaitGroup // partition loads in flight

	clientMu sync.Mutex
	// clients talk to the other brokers (WriteTxnMarkers, verification),
	// one per address (brokerConn).
	clients     map[string]*kgo.Client
	clientsDone bool // closed: make no more
}

func (b *Broker) startTxns() *txnCoordinator {
	cfg := b.cfg
	ms := func(v int32) time.Duration { return time.Duration(v) * time.Millisecond }
	tc := &txnCoordinator{b: b, lg: b.log.Named("txns"), loaded: make(map[int32]int32)}
	tc.coord = txn.New(txn.Config{
		NumPartitions:      cfg.TransactionStateLogPartitions,
		MaxTimeout:         ms(cfg.TransactionMaxTimeoutMs),
		AbortCheckInterval: ms(cfg.TransactionAbortCheckMs),
		IDExpiration:       ms(cfg.TransactionalIDExpirationMs),
		RemoveExpiredCheck: ms(cfg.TransactionRemoveExpiredMs),
		WriteTimeout:       txnWriteTimeout,
	}, txn.Options{Logger: tc.lg, IDs: brokerPIDs{b}, Markers: tc, TransactionVersion: b.transactionVersion})
	tc.unsubscribe = b.ctrl.Subscribe(tc.apply)
	tc.apply(b.ctrl.Snapshot())
	return tc
}

// brokerPIDs is txn.ProducerIDs over the broker's etcd-backed blocks.
type brokerPIDs struct{ b *Broker }

func (p brokerPIDs) NextID(ctx context.Context) (int64, error) { return p.b.pids.nextID(ctx) }

// close stops following leadership and unloads every partition.
func (tc *txnCoordinator) close() {
	if tc == nil {
		return
	}
	tc.unsubscribe()
	tc.mu.Lock()
	tc.closed = true
	tc.mu.Unlock()
	tc.coord.Close()
	tc.loaders.Wait()
	tc.clientMu.Lock()
	for _, cl := range tc.clients {
		cl.Close()
	}
	tc.clients, tc.clientsDone = nil, true
	tc.clientMu.Unlock()
}

// apply loads the __transaction_state partitions this broker leads (again
// when the leader epoch changed) and unloads the others.
func (tc *txnCoordinator) apply(snap *controller.Snapshot) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.closed {
		return
	}
	gone, fresh := tc.b.replicas.LeadershipChanges(snap, txnTopicName, tc.loaded, tc.lg)
	for _, idx := range gone {
		tc.coord.Unload(idx)
		delete(tc.loaded, idx)
	}
	for _, p := range fresh {
		tc.loaded[p.Index] = p.Epoch
		// Loading replays the partition; it runs in the background so a
		// metadata update is never held up by it. Requests meanwhile get
		// COORDINATOR_LOAD_IN_PROGRESS.
		tc.loaders.Add(1)
		go func(idx, epoch int32, r *replica.Partition) {
			defer tc.loaders.Done()
			err := tc.coord.Load(tc.b.life, idx, epoch, &txnStateLog{b: tc.b, r: r})
			tc.mu.Lock()
			defer tc.mu.Unlock()
			if err != nil {
				tc.lg.Warn("loading transaction state partition", zap.Int32("partition", idx), zap.Error(err))
				if tc.loaded[idx] == epoch {
					delete(tc.loaded, idx)
				}
				return
			}
			if e, ok := tc.loaded[idx]; !ok || e != epoch || tc.closed {
				// Leadership moved on while this load ran.
				tc.coord.UnloadEpoch(idx, epoch)
			}
		}(p.Index, p.Epoch, p.P)
	}
}

// ensureTopic creates __transaction_state if it does not exist yet.
func (tc *txnCoordinator) ensureTopic(ctx context.Context) error {
	return tc.b.ensureInternalTopic(ctx, &tc.createMu, txnTopicName, func(snap *controller.Snapshot) (controller.TopicSpec, error) {
		cfg := tc.b.cfg
		rf := cfg.TransactionStateLogRF
		if live := int16(len(snap.Brokers)); live > 0 && rf > live {
			rf = live
		}
		minISR := min(cfg.TransactionStateLogMinISR, int32(rf))
		return controller.TopicSpec{
			Name:              txnTopicName,
			NumPartitions:     cfg.TransactionStateLogPartitions,
			ReplicationFactor: rf,
			Internal:          true,
			Configs: map[string]string{
				"cleanup.policy":      "compact",
				"segment.bytes":       strconv.Itoa(int(cfg.TransactionStateLogSegmentB)),
				"min.insync.replicas": strconv.Itoa(int(minISR)),
				"compression.type":    "uncompressed",
			},
		}, nil
	}, tc.apply, tc.lg)
}

// txnCoordinatorFor answers FindCoordinator for a transactional id (key
// type 1): the leader of the id's __transaction_state partition, on the
// listener the client used. The topic is created on first use.
//
// FindCoordinator (10_find_coordinator.go) calls it for key type 1.
func (b *Broker) txnCoordinatorFor(ctx context.Context, id, listener string) (nodeID int32, host string, port int32, err error) {
	tc := b.txns
	if err := tc.ensureTopic(ctx); err != nil {
		tc.lg.Warn("creating __transaction_state", zap.Error(err))
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	snap := b.ctrl.Snapshot()
	t := snap.Topics[txnTopicName]
	if t == nil {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	p := t.Partition(placement.Partition(id, int32(len(t.Partitions))))
	if p == nil || p.Leader < 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	bi, ok := snap.Brokers[p.Leader]
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	for _, ep := range bi.Endpoints {
		if ep.Listener == listener {
			return p.Leader, ep.Host, ep.Port, nil
		}
	}
	return -1, "", -1, kerr.CoordinatorNotAvailable
}

// txnStateLog is txn.Log over the local leader replica of one
// __transaction_state partition.
type txnStateLog struct {
	b *Broker
	r *replica.Partition
}

// Append writes records as one batch and waits for acks=all
// (internal_log.go).
func (l *txnStateLog) Append(ctx context.Context, recs []txn.Record) error {
	if !l.r.Leads() {
		return kerr.NotLeaderForPartition
	}
	keys, values := make([][]byte, len(recs)), make([][]byte, len(recs))
	for i, rec := range recs {
		keys[i], values[i] = rec.Key, rec.Value
	}
	return appendKeyValues(ctx, l.r, keys, values, 30*time.Second)
}

// Replay decodes every record from the log start to the log end
// (replayBatches says why not only to the HW), as Kafka's
// TransactionStateManager does.
func (l *txnStateLog) Replay(ctx context.Context, fn func(key, value []byte) error) error {
	size, err := strconv.Atoi(l.b.cfg.Raw["transaction.state.log.load.buffer.size"])
	if err != nil || size <= 0 {
		size = 5 << 20
	}
	dec := kgo.DefaultDecompressor()
	return replayBatches(ctx, l.r, int32(size), func(raw []byte, h *storage.BatchHeader) error {
		if h.IsControl() {
			return nil
		}
		return eachBatchRecord(raw, dec, func(rec *kmsg.Record) error { return fn(rec.Key, rec.Value) })
	})
}

// WriteMarkers is txn.MarkerWriter: each partition's marker goes to its
// leader — appended here when this broker leads it, else sent as
// WriteTxnMarkers. A partition that no longer exists counts as done.
func (tc *txnCoordinator) WriteMarkers(ctx context.Context, m txn.Marker) []txn.TopicPartition {
	snap := tc.b.ctrl.Snapshot()
	var failed []txn.TopicPartition
	remote := map[int32][]txn.TopicPartition{}
	for _, tp := range m.Partitions {
		t := snap.Topics[tp.Topic]
		if t == nil || int(tp.Partition) >= len(t.Partitions) {
			continue // deleted: nothing to mark
		}
		leader := t.Partitions[tp.Partition].Leader
		if leader != tc.b.id {
			if leader < 0 {
				failed = append(failed, tp)
			} else {
				remote[leader] = append(remote[leader], tp)
			}
			continue
		}
		if err := tc.b.writeMarkerLocal(ctx, snap, tp.Topic, tp.Partition, m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch); err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				continue
			}
			tc.lg.Debug("writing marker", zap.String("topic", tp.Topic), zap.Int32("partition", tp.Partition), zap.Error(err))
			failed = append(failed, tp)
		}
	}
	for leader, tps := range remote {
		failed = append(failed, tc.writeMarkersRemote(ctx, leader, m, tps)...)
	}
	return failed
}

// writeMarkersRemote sends one WriteTxnMarkers request to another broker.
func (tc *txnCoordinator) writeMarkersRemote(ctx context.Context, leader int32, m txn.Marker, tps []txn.TopicPartition) []txn.TopicPartition {
	conn, err := tc.brokerConn(leader)
	if err != nil {
		return tps
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	mk.TransactionVersion = int8(m.TransactionVersion) // v2+; kgo sends the highest version both sides speak
	byTopic := map[string][]int32{}
	for _, tp := range tps {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	for t, ps := range byTopic {
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = t, ps
		mk.Topics = append(mk.Topics, mt)
	}
	req.Markers = append(req.Markers, mk)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, conn)
	if err != nil {
		tc.lg.Debug("WriteTxnMarkers to leader failed", zap.Int32("leader", leader), zap.Error(err))
		return tps
	}
	var failed []txn.TopicPartition
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 && rp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
					failed = append(failed, txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
				}
			}
		}
	}
	return failed
}

// brokerConn returns a connection to broker id on the inter-broker
// listener, from the metadata snapshot: one franz-go client per address,
// made on first use and kept until the broker closes.
func (tc *txnCoordinator) brokerConn(id int32) (*kgo.Broker, error) {
	bi, ok := tc.b.ctrl.Snapshot().Brokers[id]
	if !ok {
		return nil, kerr.BrokerNotAvailable
	}
	var addr string
	for _, ep := range bi.Endpoints {
		if ep.Listener == tc.b.cfg.InterBrokerListenerName || addr == "" {
			addr = net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
		}
	}
	if addr == "" {
		return nil, kerr.BrokerNotAvailable
	}
	tc.clientMu.Lock()
	defer tc.clientMu.Unlock()
	if tc.clientsDone {
		return nil, kerr.BrokerNotAvailable
	}
	cl := tc.clients[addr]
	if cl == nil {
		var err error
		opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("runnel-broker-" + itoa(tc.b.id))}
		if tc.b.interTLS != nil {
			opts = append(opts, kgo.DialTLSConfig(tc.b.interTLS.Clone())) // kgo sets ServerName per broker
		}
		if ib := tc.b.interBrokerSASL; ib != nil {
			opts = append(opts, kgo.SASL(ib.franz())) // sasl.go
		}
		cl, err = kgo.NewClient(opts...)
		if err != nil {
			return nil, err
		}
		if tc.clients == nil {
			tc.clients = make(map[string]*kgo.Client)
		}
		tc.clients[addr] = cl
	}
	return cl.SeedBrokers()[0], nil
}

// writeMarkerLocal appends a transaction marker to a partition this broker
// leads and waits until the high watermark passes it. A marker on a
// __consumer_offsets partition also completes the producer's transactional
// offset commits there (28_txn_offset_commit.go).
func (b *Broker) writeMarkerLocal(ctx context.Context, snap *controller.Snapshot, topic string, partition int32, pid int64, epoch int16, commit bool, coordEpoch int32) error {
	r, err := b.replicas.LeaderFor(snap, topic, partition)
	if err != nil {
		return err
	}
	batch := storage.ControlBatch(pid, epoch, commit, coordEpoch, time.Now().UnixMilli())
	if err := appendAndAwait(ctx, r, batch, replica.LeaderAppend{AllowControl: true}); err != nil {
		return err
	}
	if topic == txnOffsetsTopic && b.groups != nil {
		b.groups.coord.CompleteTxn(partition, pid, commit) // 28_txn_offset_commit.go
	}
	return nil
}

// verifyTxnProduce checks, before a transactional batch is appended, that
// the partition is part of the producer's ongoing transaction (KIP-890
// part 1), unless the partition's producer state already shows that
// transaction. The coordinator is asked directly when it is local, with
// AddPartitionsToTxn v4 verifyOnly otherwise.
//
// implicitAdd is KIP-890 part 2 (Produce v12+, TxnOffsetCommit v5+, sent
// by producers under transaction.version 2, which skip
// AddPartitionsToTxn): the partition is added to the transaction instead
// of verified (AddPartitionsToTxn v5, not verify-only, to a remote
// coordinator), whatever transaction.partition.verification.enable says.
// The coordinator refuses a stale epoch, so a late write of a transaction
// that has ended (its EndTxn bumped the epoch) cannot join the next one.
//
// mode is how the request's version lets it be answered (Kafka's
// TransactionSupportedOperation): a partition missing from the
// transaction is TRANSACTION_ABORTABLE for clients that know the code
// (Produce v11+, TxnOffsetCommit v4+; KIP-890), INVALID_TXN_STATE for the
// others.
func (b *Broker) verifyTxnProduce(ctx context.Context, txnID string, r *replica.Partition, pid int64, epoch int16, mode txnWriteMode) error {
	implicitAdd := mode == txnImplicitAdd
	if !b.cfg.TransactionPartitionVerify && !implicitAdd {
		return nil
	}
	if e, ok := r.Log().OngoingTransaction(pid); ok && e == epoch {
		return nil
	}
	tp := txn.TopicPartition{Topic: r.Topic(), Partition: r.Index()}
	var res map[txn.TopicPartition]bool
	var err error
	if implicitAdd {
		err = b.addWithRetry(ctx, txnID, pid, epoch, tp)
		res = map[txn.TopicPartition]bool{tp: err == nil}
	} else {
		res, err = b.txns.coord.Verify(txnID, pid, epoch, []txn.TopicPartition{tp})
		if errors.Is(err, kerr.NotCoordinator) {
			res, err = b.txns.verifyRemote(ctx, txnID, pid, epoch, tp)
		}
	}
	switch {
	case errors.Is(err, kerr.ProducerFenced):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, kerr.InvalidProducerIDMapping):
		return kerr.InvalidProducerIDMapping
	case errors.Is(err, kerr.InvalidTxnState):
		return err
	case err != nil:
		// Coordinator trouble is retriable for the producer; Kafka turns
		// it into NOT_ENOUGH_REPLICAS, which every client retries.
		return fmt.Errorf("%w: verifying the transaction: %v", kerr.NotEnoughReplicas, err)
	case !res[tp] && mode == txnVerifyAbortable:
		return fmt.Errorf("%w: partition %s-%d was not added to the transaction", kerr.TransactionAbortable, r.Topic(), r.Index())
	case !res[tp]:
		return fmt.Errorf("%w: partition %s-%d was not added to the transaction", kerr.InvalidTxnState, r.Topic(), r.Index())
	}
	return nil
}

// txnWriteMode is how a transactional write's partition is checked.
type txnWriteMode int

const (
	txnVerify          txnWriteMode = iota // verify; INVALID_TXN_STATE if absent
	txnVerifyAbortable                     // verify; TRANSACTION_ABORTABLE if absent
	txnImplicitAdd                         // add the partition (KIP-890 part 2)
)

// txnWriteModeFor is the mode of a request: implicit add from
// addVersion, the abortable answer from abortableVersion.
func txnWriteModeFor(version, abortableVersion, addVersion int16) txnWriteMode {
	switch {
	case version >= addVersion:
		return txnImplicitAdd
	case version >= abortableVersion:
		return txnVerifyAbortable
	}
	return txnVerify
}

// addWithRetry adds tp to txnID's transaction (locally or at the
// coordinator's broker). Under transactions v2 a producer's next
// transaction often starts while the coordinator still writes the previous
// one's markers (its EndTxn was answered at PrepareCommit), and the add
// meets CONCURRENT_TRANSACTIONS: as Kafka's ReplicaManager does, the
// leader retries every add.partitions.to.txn.retry.backoff.ms for up to
// add.partitions.to.txn.max.timeout.ms before the producer is told.
func (b *Broker) addWithRetry(ctx context.Context, txnID string, pid int64, epoch int16, tp txn.TopicPartition) error {
	backoff := time.Duration(b.cfg.AddPartitionsRetryBackoffMs) * time.Millisecond
	deadline := time.Now().Add(time.Duration(b.cfg.AddPartitionsMaxTimeoutMs) * time.Millisecond)
	for {
		err := b.txns.coord.AddPartitions(ctx, txnID, pid, epoch, []txn.TopicPartition{tp}, 2)
		if errors.Is(err, kerr.NotCoordinator) {
			err = b.txns.addRemote(ctx, txnID, pid, epoch, tp)
		}
		if !errors.Is(err, kerr.ConcurrentTransactions) || time.Now().Add(backoff).After(deadline) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// addRemote adds tp to txnID's transaction at the coordinator on another
// broker (AddPartitionsToTxn v5, not verify-only: KIP-890 part 2's
// implicit add).
func (tc *txnCoordinator) addRemote(ctx context.Context, txnID string, pid int64, epoch int16, tp txn.TopicPartition) error {
	snap := tc.b.ctrl.Snapshot()
	t := snap.Topics[txnTopicName]
	if t == nil {
		return kerr.CoordinatorNotAvailable
	}
	p := t.Partition(placement.Partition(txnID, int32(len(t.Partitions))))
	if p == nil || p.Leader < 0 || p.Leader == tc.b.id {
		return kerr.CoordinatorNotAvailable
	}
	conn, err := tc.brokerConn(p.Leader)
	if err != nil {
		return kerr.CoordinatorNotAvailable
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch = txnID, pid, epoch
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = tp.Topic, []int32{tp.Partition}
	rt.Topics = append(rt.Topics, tt)
	req.Transactions = append(req.Transactions, rt)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, conn)
	if err != nil {
		return kerr.CoordinatorNotAvailable
	}
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	for _, tr := range resp.Transactions {
		for _, rt := range tr.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == tp.Topic && rp.Partition == tp.Partition {
					return kerr.ErrorForCode(rp.ErrorCode)
				}
			}
		}
	}
	return kerr.CoordinatorNotAvailable
}

// verifyRemote asks the coordinator of txnID on another broker.
func (tc *txnCoordinator) verifyRemote(ctx context.Context, txnID string, pid int64, epoch int16, tp txn.TopicPartition) (map[txn.TopicPartition]bool, error) {
	snap := tc.b.ctrl.Snapshot()
	t := snap.Topics[txnTopicName]
	if t == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	p := t.Partition(placement.Partition(txnID, int32(len(t.Partitions))))
	if p == nil || p.Leader < 0 || p.Leader == tc.b.id {
		return nil, kerr.CoordinatorNotAvailable
	}
	conn, err := tc.brokerConn(p.Leader)
	if err != nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = txnID, pid, epoch, true
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = tp.Topic, []int32{tp.Partition}
	rt.Topics = append(rt.Topics, tt)
	req.Transactions = append(req.Transactions, rt)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, conn)
	if err != nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	if resp.ErrorCode != 0 {
		return nil, kerr.ErrorForCode(resp.ErrorCode)
	}
	for _, tr := range resp.Transactions {
		for _, rt := range tr.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == tp.Topic && rp.Partition == tp.Partition {
					switch rp.ErrorCode {
					case 0:
						return map[txn.TopicPartition]bool{tp: true}, nil
					case kerr.InvalidTxnState.Code:
						return map[txn.TopicPartition]bool{tp: false}, nil
					default:
						return nil, kerr.ErrorForCode(rp.ErrorCode)
					}
				}
			}
		}
	}
	return nil, kerr.CoordinatorNotAvailable
}

// initTransactionalProducerID is InitProducerId with a transactional id.
func (b *Broker) initTransactionalProducerID(ctx context.Context, r *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) (network.Response, error) {
	expected := txn.ProducerIDAndEpoch{ID: -1, Epoch: -1}
	if r.Version >= 3 {
		expected = txn.ProducerIDAndEpoch{ID: r.ProducerID, Epoch: r.ProducerEpoch}
	}
	pe, err := b.txns.coord.InitProducerID(ctx, *r.TransactionalID, r.TransactionTimeoutMillis, expected)
	if err != nil {
		if ctx.Err() != nil {
			return network.Response{}, ctx.Err()
		}
		resp.ErrorCode = errorCode(err)
		return network.Response{Msg: resp}, nil
	}
	resp.ProducerID, resp.ProducerEpoch = pe.ID, pe.Epoch
	return network.Response{Msg: resp}, nil
}

// checkTxnProduce admits a Produce partition holding transactional
// batches: the request must carry a transactional id, and the producer's
// transaction must include the partition (verifyTxnProduce); from Produce
// v12 the partition is added instead (KIP-890 part 2).
func (b *Broker) checkTxnProduce(ctx context.Context, txnID *string, r *replica.Partition, records []byte, version int16) error {
	if txnID == nil {
		return fmt.Errorf("%w: transactional batch in a produce request without a transactional id", kerr.InvalidRecord)
	}
	h, err := storage.ParseBatchHeader(records)
	if err != nil {
		return nil // framing errors are the log's to report
	}
	return b.verifyTxnProduce(ctx, *txnID, r, h.ProducerID, h.ProducerEpoch, txnWriteModeFor(version, 11, 12))
}
