package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator/placement"
	"github.com/runnel/runnel/coordinator/sharepart"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// The share coordinator: durable share-partition state, Kafka's way.
//
// The state of share-partition (group, topic id, partition) lives in the
// internal topic __share_group_state (share.coordinator.state.topic.*:
// compacted, 50 partitions by default), in the partition Kafka picks for
// the key "group:topicId:partition" (its string hash modulo the partition
// count). The leader of that partition is the share coordinator for the
// key: it replays its partition when it becomes leader, keeps the latest
// state of each key in memory, answers ReadShareGroupState (84) from it,
// and for WriteShareGroupState (85) appends a record (acks=all) before it
// answers. A share-partition leader calls the coordinator directly when
// it is the same broker, else with those two inter-broker requests.
//
// Record format (Runnel's; kmsg has no schema for Kafka's ShareSnapshot
// records): key = int16 version 0, int16 group length, group, 16-byte
// topic id, int32 partition; value = int16 version 0, int32 state epoch,
// int32 leader epoch, then the sharepart snapshot (start offset and state
// batches). A tombstone deletes the state.
//
// Fencing: a write whose leader epoch is below the stored one is
// FENCED_LEADER_EPOCH, one whose state epoch differs FENCED_STATE_EPOCH.
// Admin changes (AlterShareGroupOffsets, DeleteShareGroupOffsets,
// DeleteGroups) write with the next state epoch, so a leader still
// holding the old state reloads it.

const shareStateTopicName = "__share_group_state"

// shareStateAPIsMaxVersion: ReadShareGroupState v0, WriteShareGroupState v0-1.
const (
	readShareGroupStateMaxVersion  int16 = 0
	writeShareGroupStateMaxVersion int16 = 1
)

type shareStateCoordinator struct {
	b   *Broker
	s   *shareService
	lg  *zap.Logger
	dec kgo.Decompressor

	createMu    sync.Mutex
	unsubscribe func()

	mu     sync.Mutex
	closed bool
	loaded map[int32]int32 // partition → leader epoch it was loaded at
	parts  map[int32]*statePartition
}

// statePartition is one loaded __share_group_state partition.
type statePartition struct {
	rep *replica.Partition

	mu      sync.Mutex
	entries map[string]stateEntry
}

type stateEntry struct {
	stateEpoch, leaderEpoch int32
	snapshot                []byte
}

func (b *Broker) startShareState(s *shareService) *shareStateCoordinator {
	sc := &shareStateCoordinator{b: b, s: s, lg: b.log.Named("share-state"), dec: kgo.DefaultDecompressor(), loaded: map[int32]int32{}, parts: map[int32]*statePartition{}}
	sc.unsubscribe = b.ctrl.Subscribe(sc.apply)
	return sc
}

func (sc *shareStateCoordinator) close() {
	sc.unsubscribe()
	sc.mu.Lock()
	sc.closed = true
	sc.mu.Unlock()
}

// apply loads the __share_group_state partitions this broker leads and
// forgets the others.
func (sc *shareStateCoordinator) apply(snap *controller.Snapshot) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.closed {
		return
	}
	gone, fresh := sc.b.replicas.LeadershipChanges(snap, shareStateTopicName, sc.loaded, sc.lg)
	for _, idx := range gone {
		delete(sc.parts, idx)
		delete(sc.loaded, idx)
	}
	for _, p := range fresh {
		sp := &statePartition{rep: p.P, entries: map[string]stateEntry{}}
		if err := sc.replay(sp); err != nil {
			sc.lg.Warn("loading share state partition", zap.Int32("partition", p.Index), zap.Error(err))
			delete(sc.parts, p.Index)
			delete(sc.loaded, p.Index)
			continue
		}
		sc.parts[p.Index] = sp
		sc.loaded[p.Index] = p.Epoch
	}
}

func (sc *shareStateCoordinator) replay(sp *statePartition) error {
	return replayBatches(sc.b.life, sp.rep, 1<<20, func(raw []byte, h *storage.BatchHeader) error {
		if h.IsControl() {
			return nil
		}
		return eachBatchRecord(raw, sc.dec, func(r *kmsg.Record) error {
			if _, err := decodeShareStateKey(r.Key); err != nil {
				return nil // not ours: skip
			}
			if r.Value == nil {
				delete(sp.entries, string(r.Key))
				return nil
			}
			e, err := decodeShareStateValue(r.Value)
			if err != nil {
				return nil
			}
			sp.entries[string(r.Key)] = e
			return nil
		})
	})
}

func encodeShareStateKey(k sharepart.Key) []byte {
	b := make([]byte, 0, 2+2+len(k.Group)+16+4)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.Group)))
	b = append(b, k.Group...)
	b = append(b, k.TopicID[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(k.Partition))
}

func decodeShareStateKey(b []byte) (sharepart.Key, error) {
	var k sharepart.Key
	if len(b) < 4 || binary.BigEndian.Uint16(b) != 0 {
		return k, errors.New("bad share state key")
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if len(b) != 4+n+16+4 {
		return k, errors.New("bad share state key")
	}
	k.Group = string(b[4 : 4+n])
	copy(k.TopicID[:], b[4+n:])
	k.Partition = int32(binary.BigEndian.Uint32(b[4+n+16:]))
	return k, nil
}

func encodeShareStateValue(e stateEntry) []byte {
	b := make([]byte, 0, 10+len(e.snapshot))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(e.stateEpoch))
	b = binary.BigEndian.AppendUint32(b, uint32(e.leaderEpoch))
	return append(b, e.snapshot...)
}

func decodeShareStateValue(b []byte) (stateEntry, error) {
	if len(b) < 10 || binary.BigEndian.Uint16(b) != 0 {
		return stateEntry{}, errors.New("bad share state value")
	}
	e := stateEntry{stateEpoch: int32(binary.BigEndian.Uint32(b[2:])), leaderEpoch: int32(binary.BigEndian.Uint32(b[6:])), snapshot: bytes.Clone(b[10:])}
	if _, _, err := sharepart.DecodeSnapshot(e.snapshot); err != nil {
		return stateEntry{}, err
	}
	return e, nil
}

// partitionFor is the __share_group_state partition of k: Kafka's
// "group:topicId:partition" key hashed as a Java string.
func shareStatePartition(k sharepart.Key, n int32) int32 {
	return placement.Partition(k.Group+":"+topicIDString(k.TopicID)+":"+strconv.Itoa(int(k.Partition)), n)
}

// topicIDString is a topic id in Kafka's text form (URL-safe base64).
func topicIDString(id [16]byte) string { return controller.TopicID(id).String() }

// ensureTopic creates __share_group_state if it does not exist yet.
func (sc *shareStateCoordinator) ensureTopic(ctx context.Context) error {
	return sc.b.ensureInternalTopic(ctx, &sc.createMu, shareStateTopicName, func(snap *controller.Snapshot) (controller.TopicSpec, error) {
		cfg := sc.b.cfg
		rf := internalTopicRF(cfg, "share.coordinator.state.topic.replication.factor", cfg.Share.StateTopicRF)
		if live := len(snap.Brokers); live < int(rf) {
			return controller.TopicSpec{}, fmt.Errorf("%w: %s needs %d brokers (share.coordinator.state.topic.replication.factor) and %d are registered",
				kerr.CoordinatorNotAvailable, shareStateTopicName, rf, live)
		}
		minISR := min(cfg.Share.StateTopicMinISR, rf)
		return controller.TopicSpec{
			Name:              shareStateTopicName,
			NumPartitions:     cfg.Share.StateTopicPartitions,
			ReplicationFactor: rf,
			Internal:          true,
			Configs: map[string]string{
				"cleanup.policy":      "compact",
				"segment.bytes":       strconv.Itoa(int(cfg.Share.StateTopicSegmentBytes)),
				"min.insync.replicas": strconv.Itoa(int(minISR)),
			},
		}, nil
	}, sc.apply, sc.lg)
}

// coordinatorOf is the leader of k's state partition.
func (sc *shareStateCoordinator) coordinatorOf(ctx context.Context, k sharepart.Key) (int32, int32, error) {
	if err := sc.ensureTopic(ctx); err != nil {
		return -1, -1, err
	}
	t := sc.b.ctrl.Snapshot().Topics[shareStateTopicName]
	if t == nil {
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	idx := shareStatePartition(k, int32(len(t.Partitions)))
	p := t.Partition(idx)
	if p == nil || p.Leader < 0 {
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	return p.Leader, idx, nil
}

// retry runs op until it succeeds, fails for good, or ctx ends; the
// coordinator moving or loading is retried after a short pause.
func (sc *shareStateCoordinator) retry(ctx context.Context, op func() error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	for {
		err := op()
		if err == nil || !(errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorLoadInProgress) || errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.NotEnoughReplicas) || errors.Is(err, kerr.NotLeaderForPartition)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Read implements sharepart.Store.
func (sc *shareStateCoordinator) Read(ctx context.Context, k sharepart.Key) (snapshot []byte, stateEpoch int32, found bool, err error) {
	err = sc.retry(ctx, func() error {
		leader, idx, err := sc.coordinatorOf(ctx, k)
		if err != nil {
			return err
		}
		if leader == sc.b.id {
			e, ok, err := sc.readLocal(idx, k)
			if err != nil {
				return err
			}
			snapshot, stateEpoch, found = e.snapshot, e.stateEpoch, ok
			return nil
		}
		req := kmsg.NewPtrReadShareGroupStateRequest()
		req.GroupID = k.Group
		t := kmsg.NewReadShareGroupStateRequestTopic()
		t.TopicID = k.TopicID
		p := kmsg.NewReadShareGroupStateRequestTopicPartition()
		p.Partition, p.LeaderEpoch = k.Partition, -1
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		conn, err := sc.b.txns.brokerConn(leader)
		if err != nil {
			return err
		}
		resp, err := req.RequestWith(ctx, conn)
		if err != nil {
			return kerr.CoordinatorNotAvailable
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return kerr.UnknownServerError
		}
		rp := resp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 {
			if rp.ErrorCode == kerr.UnknownTopicOrPartition.Code {
				return nil // no state yet
			}
			return kerr.ErrorForCode(rp.ErrorCode)
		}
		batches := make([]sharepart.StateBatch, 0, len(rp.StateBatches))
		for _, b := range rp.StateBatches {
			batches = append(batches, sharepart.StateBatch{First: b.FirstOffset, Last: b.LastOffset, State: sharepart.RecordState(b.DeliveryState), DeliveryCount: b.DeliveryCount})
		}
		snapshot, stateEpoch, found = sharepart.EncodeSnapshot(rp.StartOffset, batches), rp.StateEpoch, true
		return nil
	})
	return snapshot, stateEpoch, found, err
}

// Write implements sharepart.Store.
func (sc *shareStateCoordinator) Write(ctx context.Context, k sharepart.Key, leaderEpoch, stateEpoch int32, snapshot []byte) error {
	start, batches, err := sharepart.DecodeSnapshot(snapshot)
	if err != nil {
		return err
	}
	err = sc.retry(ctx, func() error {
		leader, idx, err := sc.coordinatorOf(ctx, k)
		if err != nil {
			return err
		}
		if leader == sc.b.id {
			return sc.writeLocal(ctx, idx, k, stateEntry{stateEpoch: stateEpoch, leaderEpoch: leaderEpoch, snapshot: snapshot}, false)
		}
		req := kmsg.NewPtrWriteShareGroupStateRequest()
		req.GroupID = k.Group
		t := kmsg.NewWriteShareGroupStateRequestTopic()
		t.TopicID = k.TopicID
		p := kmsg.NewWriteShareGroupStateRequestTopicPartition()
		p.Partition, p.StateEpoch, p.LeaderEpoch, p.StartOffset = k.Partition, stateEpoch, leaderEpoch, start
		for _, b := range batches {
			sb := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
			sb.FirstOffset, sb.LastOffset, sb.DeliveryState, sb.DeliveryCount = b.First, b.Last, int8(b.State), b.DeliveryCount
			p.StateBatches = append(p.StateBatches, sb)
		}
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		conn, err := sc.b.txns.brokerConn(leader)
		if err != nil {
			return err
		}
		resp, err := req.RequestWith(ctx, conn)
		if err != nil {
			return kerr.CoordinatorNotAvailable
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return kerr.UnknownServerError
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	})
	if errors.Is(err, kerr.FencedStateEpoch) || errors.Is(err, kerr.FencedLeaderEpoch) {
		return fmt.Errorf("%w: %w", sharepart.ErrFenced, err)
	}
	return err
}

func (sc *shareStateCoordinator) part(idx int32) (*statePartition, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sp := sc.parts[idx]
	if sp == nil {
		return nil, kerr.NotCoordinator
	}
	return sp, nil
}

func (sc *shareStateCoordinator) readLocal(idx int32, k sharepart.Key) (stateEntry, bool, error) {
	sp, err := sc.part(idx)
	if err != nil {
		return stateEntry{}, false, err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e, ok := sp.entries[string(encodeShareStateKey(k))]
	return e, ok, nil
}

// writeLocal stores e for k on the state partition idx this broker leads.
// admin writes (offset resets) take the next state epoch and skip the
// fencing; a nil snapshot deletes.
func (sc *shareStateCoordinator) writeLocal(ctx context.Context, idx int32, k sharepart.Key, e stateEntry, admin bool) error {
	sp, err := sc.part(idx)
	if err != nil {
		return err
	}
	key := encodeShareStateKey(k)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	cur, ok := sp.entries[string(key)]
	switch {
	case admin:
		// The next state epoch; 1 when there was no state, so that a leader
		// that loaded "no state" (epoch 0) is fenced too.
		e.stateEpoch, e.leaderEpoch = 1, -1
		if ok {
			e.stateEpoch, e.leaderEpoch = cur.stateEpoch+1, cur.leaderEpoch
		}
	case ok && e.leaderEpoch < cur.leaderEpoch:
		return kerr.FencedLeaderEpoch
	case ok && e.stateEpoch != cur.stateEpoch:
		return kerr.FencedStateEpoch
	}
	value := encodeShareStateValue(e)
	if err := appendKeyValues(ctx, sp.rep, [][]byte{key}, [][]byte{value}, time.Duration(sc.b.cfg.OffsetsCommitTimeoutMs)*time.Millisecond); err != nil {
		return err
	}
	sp.entries[string(key)] = e
	return nil
}

// adminWrite replaces k's state with start (sharepart.UninitializedStart:
// start afresh) under the next state epoch, on whichever broker is its
// share coordinator, and makes this broker forget its copy.
func (sc *shareStateCoordinator) adminWrite(ctx context.Context, k sharepart.Key, start int64) error {
	snapshot := sharepart.EncodeSnapshot(start, nil)
	err := sc.retry(ctx, func() error {
		leader, idx, err := sc.coordinatorOf(ctx, k)
		if err != nil {
			return err
		}
		if leader == sc.b.id {
			return sc.writeLocal(ctx, idx, k, stateEntry{snapshot: snapshot}, true)
		}
		// StateEpoch -1 asks the remote coordinator for an admin write.
		req := kmsg.NewPtrWriteShareGroupStateRequest()
		req.GroupID = k.Group
		t := kmsg.NewWriteShareGroupStateRequestTopic()
		t.TopicID = k.TopicID
		p := kmsg.NewWriteShareGroupStateRequestTopicPartition()
		p.Partition, p.StateEpoch, p.LeaderEpoch, p.StartOffset = k.Partition, -1, -1, start
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		conn, err := sc.b.txns.brokerConn(leader)
		if err != nil {
			return err
		}
		resp, err := req.RequestWith(ctx, conn)
		if err != nil {
			return kerr.CoordinatorNotAvailable
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return kerr.UnknownServerError
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	})
	sc.s.parts.Forget(k)
	return err
}

// handleReadShareGroupState (key 84): a share-partition leader reads the
// state this broker coordinates. Brokers only (CLUSTER_ACTION).
func (b *Broker) handleReadShareGroupState(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ReadShareGroupStateRequest)
	resp := r.ResponseKind().(*kmsg.ReadShareGroupStateResponse)
	allowed := b.fromBroker(cc) && b.authorizeCluster(cc, kmsg.ACLOperationClusterAction)
	for _, t := range r.Topics {
		rt := kmsg.NewReadShareGroupStateResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewReadShareGroupStateResponseTopicPartition()
			rp.Partition = p.Partition
			k := sharepart.Key{Group: r.GroupID, TopicID: t.TopicID, Partition: p.Partition}
			switch {
			case !allowed:
				rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			default:
				e, ok, err := b.shares.state.readAt(ctx, k)
				switch {
				case err != nil:
					rp.ErrorCode = errorCode(err)
				case !ok:
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				default:
					start, batches, err := sharepart.DecodeSnapshot(e.snapshot)
					if err != nil {
						rp.ErrorCode = kerr.UnknownServerError.Code
						break
					}
					rp.StateEpoch, rp.StartOffset = e.stateEpoch, start
					for _, sb := range batches {
						x := kmsg.NewReadShareGroupStateResponseTopicPartitionStateBatch()
						x.FirstOffset, x.LastOffset, x.DeliveryState, x.DeliveryCount = sb.First, sb.Last, int8(sb.State), sb.DeliveryCount
						rp.StateBatches = append(rp.StateBatches, x)
					}
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return network.Response{Msg: resp}, nil
}

// readAt reads k when this broker is its share coordinator.
func (sc *shareStateCoordinator) readAt(ctx context.Context, k sharepart.Key) (stateEntry, bool, error) {
	leader, idx, err := sc.coordinatorOf(ctx, k)
	if err != nil {
		return stateEntry{}, false, err
	}
	if leader != sc.b.id {
		return stateEntry{}, false, kerr.NotCoordinator
	}
	return sc.readLocal(idx, k)
}

// handleWriteShareGroupState (key 85): a share-partition leader writes
// the state this broker coordinates. Brokers only (CLUSTER_ACTION). A
// state epoch of -1 is an admin reset (Runnel's convention between its
// brokers).
func (b *Broker) handleWriteShareGroupState(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.WriteShareGroupStateRequest)
	resp := r.ResponseKind().(*kmsg.WriteShareGroupStateResponse)
	allowed := b.fromBroker(cc) && b.authorizeCluster(cc, kmsg.ACLOperationClusterAction)
	sc := b.shares.state
	for _, t := range r.Topics {
		rt := kmsg.NewWriteShareGroupStateResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewWriteShareGroupStateResponseTopicPartition()
			rp.Partition = p.Partition
			k := sharepart.Key{Group: r.GroupID, TopicID: t.TopicID, Partition: p.Partition}
			if !allowed {
				rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			batches := make([]sharepart.StateBatch, 0, len(p.StateBatches))
			for _, sb := range p.StateBatches {
				batches = append(batches, sharepart.StateBatch{First: sb.FirstOffset, Last: sb.LastOffset, State: sharepart.RecordState(sb.DeliveryState), DeliveryCount: sb.DeliveryCount})
			}
			e := stateEntry{stateEpoch: p.StateEpoch, leaderEpoch: p.LeaderEpoch, snapshot: sharepart.EncodeSnapshot(p.StartOffset, batches)}
			leader, idx, err := sc.coordinatorOf(ctx, k)
			switch {
			case err != nil:
				rp.ErrorCode = errorCode(err)
			case leader != b.id:
				rp.ErrorCode = kerr.NotCoordinator.Code
			default:
				rp.ErrorCode = errorCode(sc.writeLocal(ctx, idx, k, e, p.StateEpoch == -1))
				if p.StateEpoch == -1 {
					b.shares.parts.Forget(k)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return network.Response{Msg: resp}, nil
}
