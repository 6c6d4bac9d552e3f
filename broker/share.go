package broker

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator/sharepart"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Share groups (KIP-932), the data half: the partition leader's side.
//
// Membership is the group coordinator's (coordinator/share.go,
// 76_share_group_heartbeat.go). Records are handed out by each
// partition's leader: for every share group reading one of its
// partitions it keeps a share-partition (package sharepart) saying which
// records are available, acquired by which member until when, or done.
// ShareFetch (78_share_fetch.go) reads the log from the first available
// record, acquires up to MaxRecords records under a lock of
// share.record.lock.duration.ms and returns the batches holding them with
// the acquired ranges; ShareAcknowledge (79_share_acknowledge.go) and the
// acknowledgements piggy-backed on ShareFetch accept, release, reject or
// renew them. A released or expired record is offered again; one
// delivered group.share.delivery.count.limit times is archived instead.
//
// Share sessions (sharepart.Sessions) track which partitions a member
// fetches from this broker; closing one (epoch -1) releases every record
// the member holds here.
//
// Durable state: after every change, before the response, the
// share-partition's snapshot is written to the share coordinator, the
// leader of its __share_group_state partition (share_state.go), with
// WriteShareGroupState; a new leader (after a restart or a leader move)
// reads it back with ReadShareGroupState before serving.

// shareService is the broker's share-partition state and share sessions.
type shareService struct {
	b        *Broker
	lg       *zap.Logger
	parts    *sharepart.Manager
	sessions *sharepart.Sessions
	state    *shareStateCoordinator // share_state.go
	// freed wakes ShareFetches waiting for records when acknowledgements
	// or releases free some (a full in-flight window, released records).
	freed broadcast
}

// broadcast is a channel closed at each notify, for any number of waiters.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next notify.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

func (b *Broker) startShares() *shareService {
	s := &shareService{b: b, lg: b.log.Named("share")}
	s.state = b.startShareState(s)
	s.parts = sharepart.NewManager(s.state)
	idle := time.Duration(b.cfg.Share.SessionTimeoutMs) * time.Millisecond
	s.sessions = sharepart.NewSessions(int(max(b.cfg.Share.MaxShareSessions, 1)), idle)
	return s
}

func (s *shareService) close() {
	if s == nil {
		return
	}
	s.state.close()
	s.parts.Close()
}

// shareEnabled reports whether this broker serves share groups: the
// cluster's share.version feature finalized at 1 (kafka-features
// upgrade --feature share.version=1), or group.share.enable, Kafka 4.1's
// switch besides it.
func (b *Broker) shareEnabled() bool {
	return b.cfg.Share.Enable || b.ctrl.Snapshot().Features.Level(controller.FeatureShareVersion) >= 1
}

// checkEmptyShareGroup is what the share-group offset admin APIs (91, 92)
// require before they touch a group's state: share groups enabled, op
// allowed on the group, and the group an existing share group without
// members. It returns the error to answer with and its message, or nil.
func (b *Broker) checkEmptyShareGroup(cc *network.ConnContext, op kmsg.ACLOperation, group string) (*kerr.Error, string) {
	if !b.shareEnabled() {
		return kerr.UnsupportedVersion, ""
	}
	if !b.authorize(cc, op, kmsg.ACLResourceTypeGroup, group) {
		return kerr.GroupAuthorizationFailed, ""
	}
	st, err := b.groups.coord.ShareGroupStatus(group)
	switch {
	case err != nil:
		return err.(*kerr.Error), ""
	case st.OtherType:
		return kerr.GroupIDNotFound, "Group " + group + " is not a share group."
	case st.HasMembers:
		return kerr.NonEmptyGroup, "The group is not empty."
	}
	return nil, ""
}

// shareGroupSettings are a group's effective share settings: its GROUP
// config where set, else the broker's.
type shareGroupSettings struct {
	lim           sharepart.Limits
	readCommitted bool
	autoReset     string
}

func (s *shareService) settings(group string) shareGroupSettings {
	cfg := s.b.cfg.Share
	out := shareGroupSettings{
		lim: sharepart.Limits{
			DeliveryCountLimit: int16(cfg.DeliveryCountLimit),
			MaxInFlight:        int64(cfg.PartitionMaxRecordLocks),
			LockDuration:       time.Duration(cfg.RecordLockMs) * time.Millisecond,
		},
		autoReset: "latest",
	}
	overrides := s.b.ctrl.Snapshot().GroupConfigs[group]
	if v, ok := overrides["share.record.lock.duration.ms"]; ok {
		if ms, err := strconv.ParseInt(v, 10, 32); err == nil && ms > 0 {
			out.lim.LockDuration = time.Duration(ms) * time.Millisecond
		}
	}
	if v := overrides["share.isolation.level"]; v == "read_committed" {
		out.readCommitted = true
	}
	if v, ok := overrides["share.auto.offset.reset"]; ok {
		out.autoReset = v
	}
	return out
}

// ShareGroupTimeouts gives the coordinator a share group's own session
// timeout and heartbeat interval (coordinator.ShareGroupConfigSource).
func (s snapshotGroupConfigs) ShareGroupTimeouts(group string) (session, heartbeat time.Duration) {
	overrides := s.b.ctrl.Snapshot().GroupConfigs[group]
	if len(overrides) == 0 {
		return 0, 0
	}
	if ms, ok := config.GroupTimeoutMs(overrides, "share.session.timeout.ms"); ok {
		session = time.Duration(ms) * time.Millisecond
	}
	if ms, ok := config.GroupTimeoutMs(overrides, "share.heartbeat.interval.ms"); ok {
		heartbeat = time.Duration(ms) * time.Millisecond
	}
	return session, heartbeat
}

// initialOffset is where a share-partition without state starts
// (share.auto.offset.reset): latest is the high watermark, earliest the
// log start, by_duration:<d> the first offset at or after now-d (the high
// watermark when there is none).
func initialOffset(l *storage.Log, reset string, now time.Time) (int64, error) {
	switch {
	case reset == "earliest":
		return l.LogStartOffset(), nil
	case strings.HasPrefix(reset, "by_duration:"):
		d, err := config.ParseISODuration(strings.TrimPrefix(reset, "by_duration:"))
		if err != nil {
			return 0, kerr.InvalidConfig
		}
		if off, _, ok := l.OffsetForTimestamp(now.Add(-d).UnixMilli()); ok {
			return off, nil
		}
		return l.HighWatermark(), nil
	}
	return l.HighWatermark(), nil
}

// shareReadChunk is how much log a ShareFetch reads at a time.
const shareReadChunk = 256 << 10

// shareRead is what one share-partition gave a ShareFetch.
type shareRead struct {
	records  []byte
	acquired []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	count    int
}

// acquire acquires up to maxRecords records of the share-partition k led
// by rep at leaderEpoch for member, reading at most maxBytes.
func (s *shareService) acquire(ctx context.Context, k sharepart.Key, rep *replica.Partition, leaderEpoch int32, member string, maxRecords int, maxBytes int32) (shareRead, error) {
	st := s.settings(k.Group)
	var out shareRead
	l := rep.Log()
	init := func() (int64, error) { return initialOffset(l, st.autoReset, time.Now()) }
	err := s.parts.Do(ctx, k, leaderEpoch, st.lim.MaxInFlight, init, func(sp *sharepart.Partition) error {
		if ls := l.LogStartOffset(); sp.StartOffset() < ls {
			sp.MoveStart(ls)
		}
		now := time.Now()
		from, ok := sp.FetchOffset(now, st.lim)
		if !ok {
			return nil
		}
		// Read in chunks, so that a fetch for a few hundred records does
		// not copy megabytes of log it will not deliver.
		budget := int64(maxBytes)
		for out.count < maxRecords && budget > 0 {
			info, rr, err := rep.Read(replica.ReadOptions{ReplicaID: -1, FetchOffset: from, LastFetchedEpoch: -1, ReadCommitted: st.readCommitted, MaxBytes: int32(min(budget, shareReadChunk)), MinOneBatch: true})
			if err != nil {
				if errors.Is(err, kerr.OffsetOutOfRange) {
					return nil // the start is past the log end (nothing to read yet)
				}
				return err
			}
			if rr == nil || rr.Size == 0 {
				rr.Release()
				return nil
			}
			var buf bytes.Buffer
			_, err = rr.WriteTo(&buf)
			rr.Release()
			if err != nil {
				return err
			}
			raws, batches := splitBatches(buf.Bytes(), info.Aborted, st.readCommitted)
			if len(batches) == 0 {
				return nil
			}
			runs, used := sp.Acquire(member, batches, maxRecords-out.count, now, st.lim)
			for i, u := range used {
				if u {
					out.records = append(out.records, raws[i]...)
				}
			}
			for _, r := range runs {
				a := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
				a.FirstOffset, a.LastOffset, a.DeliveryCount = r.First, r.Last, r.DeliveryCount
				out.acquired = append(out.acquired, a)
				out.count += int(r.Last - r.First + 1)
			}
			budget -= int64(buf.Len())
			from = batches[len(batches)-1].Last + 1
		}
		return nil
	})
	return out, err
}

// splitBatches cuts raw into its batches and describes each for
// sharepart: control batches, and under read_committed the batches of
// aborted transactions, hold nothing to deliver.
func splitBatches(raw []byte, aborted []storage.AbortedTxn, readCommitted bool) ([][]byte, []sharepart.Batch) {
	var raws [][]byte
	var batches []sharepart.Batch
	pending := append([]storage.AbortedTxn(nil), aborted...)
	sort.Slice(pending, func(i, j int) bool { return pending[i].FirstOffset < pending[j].FirstOffset })
	active := map[int64]bool{}
	for len(raw) >= 61 {
		h, err := storage.ParseBatchHeader(raw)
		if err != nil || h.Size() > int64(len(raw)) || h.Size() < 61 {
			break
		}
		b := raw[:h.Size()]
		raw = raw[h.Size():]
		for len(pending) > 0 && pending[0].FirstOffset <= h.LastOffset() {
			active[pending[0].ProducerID] = true
			pending = pending[1:]
		}
		skip := false
		switch {
		case h.IsControl():
			skip = true
			delete(active, h.ProducerID)
		case readCommitted && h.IsTransactional() && active[h.ProducerID]:
			skip = true
		}
		raws = append(raws, b)
		batches = append(batches, sharepart.Batch{First: h.BaseOffset, Last: h.LastOffset(), Skip: skip})
	}
	return raws, batches
}

// ackBatch is one acknowledgement batch of either API.
type ackBatch struct {
	first, last int64
	types       []int8
}

// acknowledge applies a member's acknowledgement batches to share-partition
// k; the error is the partition's error code.
func (s *shareService) acknowledge(ctx context.Context, k sharepart.Key, rep *replica.Partition, leaderEpoch int32, member string, acks []ackBatch, renewAllowed bool) int16 {
	prev := int64(-1)
	for _, a := range acks {
		if a.first <= prev || a.last < a.first {
			return kerr.InvalidRequest.Code
		}
		prev = a.last
		for _, t := range a.types {
			if t == sharepart.AckRenew && !renewAllowed {
				return kerr.InvalidRequest.Code
			}
		}
	}
	st := s.settings(k.Group)
	l := rep.Log()
	init := func() (int64, error) { return initialOffset(l, st.autoReset, time.Now()) }
	var code int16
	err := s.parts.Do(ctx, k, leaderEpoch, st.lim.MaxInFlight, init, func(sp *sharepart.Partition) error {
		now := time.Now()
		for _, a := range acks {
			switch err := sp.Acknowledge(member, a.first, a.last, a.types, now, st.lim); {
			case errors.Is(err, sharepart.ErrInvalidRequest):
				code = kerr.InvalidRequest.Code
			case err != nil:
				code = kerr.InvalidRecordState.Code
			}
		}
		return nil
	})
	s.freed.notify()
	if err != nil {
		return errorCode(err)
	}
	return code
}

// releaseMember releases everything member holds in its group's
// share-partitions on this broker (its share session closed).
func (s *shareService) releaseMember(ctx context.Context, group, member string) {
	st := s.settings(group)
	for _, k := range s.parts.Keys(group) {
		snap := s.b.ctrl.Snapshot()
		t := snap.TopicsByID[controller.TopicID(k.TopicID)]
		if t == nil {
			continue
		}
		rep, epoch, err := s.b.leaderWithEpoch(snap, t.Name, k.Partition, -1)
		if err != nil {
			continue
		}
		l := rep.Log()
		init := func() (int64, error) { return initialOffset(l, st.autoReset, time.Now()) }
		if err := s.parts.Do(ctx, k, epoch, st.lim.MaxInFlight, init, func(sp *sharepart.Partition) error {
			sp.ReleaseMember(member, st.lim)
			return nil
		}); err != nil {
			s.lg.Debug("releasing a closed share session's records", zap.String("group", group), zap.Error(err))
		}
	}
	s.freed.notify()
}

// shareLeaderHint fills KIP-951's current leader of a partition this broker
// does not lead, and the node endpoint list entry for it.
func shareLeaderHint(snap *controller.Snapshot, topic string, partition int32, listener string, endpoints map[int32]kmsg.ShareFetchResponseNodeEndpoint) (leader, epoch int32) {
	leader, epoch, ep, ok := leaderHint(snap, topic, partition, listener)
	if !ok {
		return -1, -1
	}
	if _, seen := endpoints[leader]; !seen {
		ne := kmsg.NewShareFetchResponseNodeEndpoint()
		ne.NodeID, ne.Host, ne.Port = leader, ep.Host, ep.Port
		if rack := snap.Brokers[leader].Rack; rack != "" {
			ne.Rack = &rack
		}
		endpoints[leader] = ne
	}
	return leader, epoch
}

// shareRequestGroup checks that share groups are enabled
// (UNSUPPORTED_VERSION otherwise) and the group and member of a ShareFetch or
// ShareAcknowledge: both must be set (INVALID_REQUEST) and the client
// must be allowed to READ the group.
func (b *Broker) shareRequestGroup(cc *network.ConnContext, group, member *string) (string, string, *kerr.Error) {
	if !b.shareEnabled() {
		return "", "", kerr.UnsupportedVersion
	}
	if group == nil || *group == "" || member == nil || *member == "" {
		return "", "", kerr.InvalidRequest
	}
	if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, *group) {
		return "", "", kerr.GroupAuthorizationFailed
	}
	return *group, *member, nil
}

// shareAck resolves a partition of an acknowledgement and applies acks;
// hint is called with the leader's name when this broker does not lead it.
func (b *Broker) shareAck(ctx context.Context, cc *network.ConnContext, snap *controller.Snapshot, group, member string, topicID [16]byte, partition int32, acks []ackBatch, renewAllowed bool, hint func(leader, epoch int32, name string)) int16 {
	t := snap.TopicsByID[controller.TopicID(topicID)]
	if t == nil {
		return kerr.UnknownTopicID.Code
	}
	if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t.Name) {
		return kerr.TopicAuthorizationFailed.Code
	}
	rep, epoch, err := b.leaderWithEpoch(snap, t.Name, partition, -1)
	if err != nil {
		if errors.Is(err, kerr.NotLeaderForPartition) {
			hint(-1, -1, t.Name)
		}
		return errorCode(err)
	}
	k := sharepart.Key{Group: group, TopicID: topicID, Partition: partition}
	return b.shares.acknowledge(ctx, k, rep, epoch, member, acks, renewAllowed)
}

// nextLockExpiry is the earliest lock end among group's loaded
// share-partitions of serve (zero when none is held).
func (s *shareService) nextLockExpiry(group string, serve []sharepart.TopicPartition) time.Time {
	var t time.Time
	for _, tp := range serve {
		s.parts.Peek(sharepart.Key{Group: group, TopicID: tp.TopicID, Partition: tp.Partition}, func(p *sharepart.Partition) {
			if e := p.NextLockExpiry(); !e.IsZero() && (t.IsZero() || e.Before(t)) {
				t = e
			}
		})
	}
	return t
}

// closeWithConn ends the share session sk when connection cc closes and
// releases what its member holds here, as Kafka does: a consumer that
// vanishes without closing its session gives its records back at once
// rather than after their locks expire.
func (s *shareService) closeWithConn(cc *network.ConnContext, sk sharepart.SessionKey) {
	type closeKey struct{ sk sharepart.SessionKey }
	if cc.Value(closeKey{sk}) != nil {
		return // already registered on this connection
	}
	cc.SetValue(closeKey{sk}, true)
	conn := cc.ID
	cc.OnClose(func() {
		if !s.sessions.CloseConn(sk, conn) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.releaseMember(ctx, sk.Group, sk.Member)
	})
}

// deleteShareState forgets a deleted share group's share-partition state
// on every partition of topics.
func (b *Broker) deleteShareState(ctx context.Context, group string, topics []string) int16 {
	snap := b.ctrl.Snapshot()
	for _, name := range topics {
		mt := snap.Topics[name]
		if mt == nil {
			continue
		}
		for p := range mt.Partitions {
			k := sharepart.Key{Group: group, TopicID: [16]byte(mt.ID), Partition: int32(p)}
			if err := b.shares.state.adminWrite(ctx, k, sharepart.UninitializedStart); err != nil {
				return errorCode(err)
			}
		}
	}
	return 0
}
