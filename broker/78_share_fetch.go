package broker

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator/sharepart"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/replica"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareFetch (key 78, KIP-932), v1 (Kafka 4.1) and v2 (KIP-1222: RENEW
// acknowledgements, the acquire mode).
//
// The request's share session epoch opens (0), continues (>0) or closes
// (-1) the member's share session on this broker (sharepart.Sessions).
// Its piggy-backed acknowledgements are applied first, each partition's
// outcome in AcknowledgeErrorCode. A closing fetch then releases the
// member's records and returns none. Otherwise every partition of the
// session this broker leads is asked for records in turn, up to MaxRecords
// in all (share.go: acquire); a fetch that acquires nothing waits, up to
// MaxWaitMillis, for a partition's high watermark to move, an
// acquisition lock to run out or records to be released or acknowledged
// (which may free a full in-flight window), and tries again.
//
// Records acquired are locked to the member for
// share.record.lock.duration.ms (AcquisitionLockTimeoutMillis). The acquire
// mode of v2 (batch_optimized or record_limit) makes no difference here:
// MaxRecords is always a hard limit, which both modes allow.
const shareFetchMaxVersion int16 = 2

// shareDefaultMaxRecords bounds a v0-style request that sets no
// MaxRecords (Kafka's share.max.fetch.records default).
const shareDefaultMaxRecords = 500

func (b *Broker) handleShareFetch(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ShareFetchRequest)
	resp := r.ResponseKind().(*kmsg.ShareFetchResponse)
	fail := func(err *kerr.Error) (network.Response, error) {
		resp.ErrorCode = err.Code
		return network.Response{Msg: resp}, nil
	}
	group, member, kerrv := b.shareRequestGroup(cc, r.GroupID, r.MemberID)
	if kerrv != nil {
		return fail(kerrv)
	}
	if r.ShareSessionEpoch == sharepart.FinalEpoch && hasFetchPartitions(r) {
		// A closing fetch may carry acknowledgements, not ask for records:
		// every partition listed must come with acknowledgements.
		return fail(kerr.InvalidRequest)
	}
	now := time.Now()
	var add, forget []sharepart.TopicPartition
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			add = append(add, sharepart.TopicPartition{TopicID: t.TopicID, Partition: p.Partition})
		}
	}
	for _, t := range r.ForgottenTopicsData {
		for _, p := range t.Partitions {
			forget = append(forget, sharepart.TopicPartition{TopicID: t.TopicID, Partition: p})
		}
	}
	sk := sharepart.SessionKey{Group: group, Member: member}
	var serve []sharepart.TopicPartition
	closed := false
	if r.ShareSessionEpoch != sharepart.FinalEpoch {
		var serr sharepart.SessionError
		serve, _, serr = b.shares.sessions.Fetch(sk, cc.ID, r.ShareSessionEpoch, add, forget, now)
		if code := sessionErrorCode(serr); code != nil {
			return fail(code)
		}
		if r.ShareSessionEpoch == sharepart.InitialEpoch {
			b.shares.closeWithConn(cc, sk)
		}
	}

	snap := b.ctrl.Snapshot()
	resp.AcquisitionLockTimeoutMillis = int32(b.shares.settings(group).lim.LockDuration / time.Millisecond)
	endpoints := map[int32]kmsg.ShareFetchResponseNodeEndpoint{}
	out := newShareFetchParts()

	// Acknowledgements first, as Kafka: a record released here may be
	// acquired again by this very fetch.
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if len(p.AcknowledgementBatches) == 0 {
				continue
			}
			rp := out.get(t.TopicID, p.Partition)
			out.acked[sharepart.TopicPartition{TopicID: t.TopicID, Partition: p.Partition}] = true
			acks := make([]ackBatch, 0, len(p.AcknowledgementBatches))
			for _, a := range p.AcknowledgementBatches {
				acks = append(acks, ackBatch{first: a.FirstOffset, last: a.LastOffset, types: a.AcknowledgeTypes})
			}
			rp.AcknowledgeErrorCode = b.shareAck(ctx, cc, snap, group, member, t.TopicID, p.Partition, acks, r.Version >= 2, func(leader, epoch int32, name string) {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = shareLeaderHint(snap, name, p.Partition, cc.Listener, endpoints)
			})
		}
	}
	if r.ShareSessionEpoch == sharepart.FinalEpoch {
		if _, c, serr := b.shares.sessions.Fetch(sk, cc.ID, sharepart.FinalEpoch, nil, nil, now); serr == sharepart.SessionOK {
			closed = c
		} else if code := sessionErrorCode(serr); code != nil {
			resp.ErrorCode = code.Code
		}
		if closed {
			b.shares.releaseMember(ctx, group, member)
		}
		resp.Topics, resp.NodeEndpoints = out.response(endpoints)
		return network.Response{Msg: resp}, nil
	}

	maxRecords := int(r.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = shareDefaultMaxRecords
	}
	maxBytes := r.MaxBytes
	if maxBytes <= 0 || (b.cfg.FetchMaxBytes > 0 && maxBytes > b.cfg.FetchMaxBytes) {
		maxBytes = b.cfg.FetchMaxBytes
	}
	deadline := now.Add(time.Duration(max(r.MaxWaitMillis, 0)) * time.Millisecond)
	for {
		snap = b.ctrl.Snapshot()
		freed := b.shares.freed.wait() // before reading, so that no release is missed
		chans, got, anyErr := b.shareFetchRound(ctx, cc, snap, group, member, serve, maxRecords, maxBytes, out, endpoints)
		chans = append(chans, freed)
		if got > 0 || anyErr || r.MaxWaitMillis <= 0 || len(serve) == 0 || ctx.Err() != nil {
			break
		}
		// Nothing acquired: wait for new records or for a lock to run out
		// (the earliest of this group's locks on these partitions).
		until := deadline
		if t := b.shares.nextLockExpiry(group, serve); !t.IsZero() && t.Before(until) {
			until = t.Add(time.Millisecond)
		}
		if !time.Now().Before(deadline) {
			break
		}
		if !replica.WaitAny(ctx, chans, until) && ctx.Err() != nil {
			return network.Response{}, ctx.Err()
		}
	}
	resp.Topics, resp.NodeEndpoints = out.response(endpoints)
	return network.Response{Msg: resp}, nil
}

func hasFetchPartitions(r *kmsg.ShareFetchRequest) bool {
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if len(p.AcknowledgementBatches) == 0 {
				return true
			}
		}
	}
	return false
}

func sessionErrorCode(e sharepart.SessionError) *kerr.Error {
	switch e {
	case sharepart.SessionNotFound:
		return kerr.ShareSessionNotFound
	case sharepart.SessionInvalidEpoch:
		return kerr.InvalidShareSessionEpoch
	case sharepart.SessionLimitReached:
		return kerr.ShareSessionLimitReached
	}
	return nil
}

// shareFetchRound acquires records from each partition in serve, filling
// out; it returns the partitions' change channels (taken before reading),
// the records acquired and whether a partition failed.
func (b *Broker) shareFetchRound(ctx context.Context, cc *network.ConnContext, snap *controller.Snapshot, group, member string, serve []sharepart.TopicPartition, maxRecords int, maxBytes int32, out *shareFetchParts, endpoints map[int32]kmsg.ShareFetchResponseNodeEndpoint) ([]<-chan struct{}, int, bool) {
	var chans []<-chan struct{}
	got, anyErr := 0, false
	remaining := int64(maxBytes)
	for _, tp := range serve {
		rp := out.get(tp.TopicID, tp.Partition)
		rp.ErrorCode, rp.ErrorMessage = 0, nil
		t := snap.TopicsByID[controller.TopicID(tp.TopicID)]
		if t == nil {
			rp.ErrorCode, anyErr = kerr.UnknownTopicID.Code, true
			continue
		}
		if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t.Name) {
			rp.ErrorCode, anyErr = kerr.TopicAuthorizationFailed.Code, true
			continue
		}
		rep, epoch, err := b.leaderWithEpoch(snap, t.Name, tp.Partition, -1)
		if err != nil {
			rp.ErrorCode, anyErr = errorCode(err), true
			if errors.Is(err, kerr.NotLeaderForPartition) {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = shareLeaderHint(snap, t.Name, tp.Partition, cc.Listener, endpoints)
			}
			continue
		}
		chans = append(chans, rep.Changed())
		if got >= maxRecords || remaining <= 0 {
			continue
		}
		k := sharepart.Key{Group: group, TopicID: tp.TopicID, Partition: tp.Partition}
		rd, err := b.shares.acquire(ctx, k, rep, epoch, member, maxRecords-got, int32(min(remaining, 1<<31-1)))
		if err != nil {
			rp.ErrorCode, anyErr = errorCode(err), true
			continue
		}
		if rd.count > 0 {
			rp.Records = append(rp.Records, rd.records...)
			rp.AcquiredRecords = append(rp.AcquiredRecords, rd.acquired...)
			got += rd.count
			remaining -= int64(len(rd.records))
		}
	}
	return chans, got, anyErr
}

// shareFetchParts collects a ShareFetch response's partitions in
// first-seen order.
type shareFetchParts struct {
	order []sharepart.TopicPartition
	parts map[sharepart.TopicPartition]*kmsg.ShareFetchResponseTopicPartition
	// acked: partitions with acknowledgements, reported even without
	// records so that the client learns their outcome.
	acked map[sharepart.TopicPartition]bool
}

func newShareFetchParts() *shareFetchParts {
	return &shareFetchParts{parts: map[sharepart.TopicPartition]*kmsg.ShareFetchResponseTopicPartition{}, acked: map[sharepart.TopicPartition]bool{}}
}

func (s *shareFetchParts) get(topic [16]byte, partition int32) *kmsg.ShareFetchResponseTopicPartition {
	k := sharepart.TopicPartition{TopicID: topic, Partition: partition}
	p := s.parts[k]
	if p == nil {
		np := kmsg.NewShareFetchResponseTopicPartition()
		np.Partition = partition
		np.CurrentLeader.LeaderID, np.CurrentLeader.LeaderEpoch = -1, -1
		p = &np
		s.parts[k] = p
		s.order = append(s.order, k)
	}
	return p
}

func (s *shareFetchParts) response(endpoints map[int32]kmsg.ShareFetchResponseNodeEndpoint) ([]kmsg.ShareFetchResponseTopic, []kmsg.ShareFetchResponseNodeEndpoint) {
	var topics []kmsg.ShareFetchResponseTopic
	index := map[[16]byte]int{}
	for _, k := range s.order {
		p := s.parts[k]
		if p.Records == nil && p.ErrorCode == 0 && p.AcknowledgeErrorCode == 0 && len(p.AcquiredRecords) == 0 && !s.acked[k] {
			continue // nothing to say about it (an incremental response)
		}
		i, ok := index[k.TopicID]
		if !ok {
			i = len(topics)
			index[k.TopicID] = i
			t := kmsg.NewShareFetchResponseTopic()
			t.TopicID = k.TopicID
			topics = append(topics, t)
		}
		if p.AcquiredRecords == nil {
			p.AcquiredRecords = []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord{}
		}
		if p.Records == nil {
			// Records is nullable in v0 only: from v1 (Kafka 4.1) null
			// is malformed. kmsg writes a nil slice as null, and Kafka's
			// client then drops the whole response ("non-nullable field
			// records was serialized as null"): its fetch never completes,
			// the member stops consuming, and close() waits out its 30 s
			// for the acknowledgements it carried. A partition reported
			// for its acknowledgements or an error has no records: empty.
			p.Records = []byte{}
		}
		topics[i].Partitions = append(topics[i].Partitions, *p)
	}
	var eps []kmsg.ShareFetchResponseNodeEndpoint
	for _, ep := range endpoints {
		eps = append(eps, ep)
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].NodeID < eps[j].NodeID })
	return topics, eps
}
