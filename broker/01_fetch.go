package broker

import (
	"context"
	"errors"
	"time"

	"github.com/runnel/runnel/broker/fetchsession"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/quota"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch (key 1), v4 and up.
//
// The partitions to read come from the request or its fetch session
// (package fetchsession). Each is read on its local leader, after the client's
// current leader epoch is checked (KIP-320):
//
//   - consumers (replica id -1) read up to the high watermark, or up to the
//     last stable offset under read_committed, which also lists the aborted
//     transactions overlapping what is returned. From v11 a consumer may
//     also read from a follower, up to the follower's own high watermark,
//     and a leader with rack-aware replica selection may answer a consumer
//     in another rack with a preferred read replica instead of records
//     (KIP-392, replica/selector.go);
//   - followers (replica id >= 0; from v15 in ReplicaState) read up to the
//     log end, and their fetch offset is recorded as their log end for the
//     leader's high watermark (replica/hw.go) — the seam replication uses.
//
// Reading a partition is replica.Partition.Read; this file resolves the
// partitions, checks roles and epochs and assembles the response.
//
// Reads return whole batches, starting with the batch holding the fetch
// offset even when the offset is in its middle (the client skips the
// records before it). The response is bounded by the request's max bytes
// (and fetch.max.bytes for consumers) and each partition by its own max
// bytes, except that the first partition with data returns at least one
// whole batch (KIP-74). An offset below the log start or above the log end
// is OFFSET_OUT_OF_RANGE, with -1 offsets for a consumer, as Kafka. A
// partition refused before reading (unknown, unauthorized) carries an
// empty aborted-transaction list, one refused by the read a null list. A
// v12+ fetcher whose last fetched epoch has diverged from the leader's log
// gets the diverging epoch instead of data.
//
// Long poll: if nothing is readable beyond MinBytes and no partition has an
// error, the handler waits on the replicas' change channels (the HW moved
// or the role changed), MaxWaitMillis and ctx, re-reading after each wake;
// when the wait runs out it answers what one last read finds.
//
// Record bytes never enter Go memory: the response is a protocol.Frame
// whose record sets are the log's file regions, written with sendfile, and
// the regions are released once the frame has been written.
const fetchMaxVersion int16 = 18

func (b *Broker) handleFetch(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.FetchRequest)
	replicaID := r.ReplicaID
	if r.Version >= 15 {
		replicaID = r.ReplicaState.ID
	}
	follower := replicaID >= 0
	if follower && (!b.fromBroker(cc) || !b.authorizeCluster(cc, kmsg.ACLOperationClusterAction)) {
		return refusedFollowerFetch(req, r), nil // broker_actions.go
	}
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	user, clientID := quotaUser(cc), quotaClientID(req)
	if follower {
		exemptFromRequestQuota(ctx) // replication is not a client's traffic
	}

	fc := b.fetchSessions.Open(r, follower, time.Now())
	if fc.ErrorCode != 0 {
		resp.ErrorCode = fc.ErrorCode
		return network.Response{Frame: protocol.EncodeFetchResponse(req.Version, req.CorrelationID, resp, nil)}, nil
	}
	resp.SessionID = fc.SessionID

	maxBytes, minBytes := r.MaxBytes, r.MinBytes
	if !follower && b.cfg.FetchMaxBytes > 0 {
		maxBytes = min(maxBytes, b.cfg.FetchMaxBytes)
	}
	if !follower {
		// A consumer with a byte quota gets no more than its quota allows
		// in one window, as Kafka bounds fetchMaxBytes.
		if window, ok := b.quotas.fetch.MaxValueInWindow(user, clientID); ok && window < float64(maxBytes) {
			maxBytes = int32(max(window, 1))
		}
		minBytes = min(minBytes, maxBytes)
	}
	fr := &fetchRead{
		b:         b,
		req:       r,
		fc:        fc,
		follower:  follower,
		replicaID: replicaID,
		maxBytes:  maxBytes,
		listener:  cc.Listener,
		mayRead: func(topic string) bool {
			return b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, topic)
		},
	}
	deadline := time.Now().Add(time.Duration(max(r.MaxWaitMillis, 0)) * time.Millisecond)
	last := false
	for {
		chans := fr.read(b.ctrl.Snapshot())
		if last || r.MaxWaitMillis <= 0 || len(fc.Partitions) == 0 || fr.total >= int64(minBytes) || fr.anyErr || fr.redirected {
			break
		}
		fr.release()
		if !replica.WaitAny(ctx, chans, deadline) {
			if ctx.Err() != nil {
				return network.Response{}, ctx.Err()
			}
			last = true
		}
	}

	// Assemble the response, grouped by topic in first-seen order.
	type topicKey struct {
		id   [16]byte
		name string
	}
	index := make(map[topicKey]int)
	var records [][][]protocol.Region
	for i := range fr.parts {
		fp := &fr.parts[i]
		if !fc.Include(i, &fp.resp, fp.records) {
			continue
		}
		k := fc.Partitions[i].Key
		tk := topicKey{id: k.ID, name: k.Topic}
		ti, ok := index[tk]
		if !ok {
			ti = len(resp.Topics)
			index[tk] = ti
			t := kmsg.NewFetchResponseTopic()
			t.Topic, t.TopicID = k.Topic, k.ID
			resp.Topics = append(resp.Topics, t)
			records = append(records, nil)
		}
		resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, fp.resp)
		var regions []protocol.Region
		if rr := fr.reads[i]; rr != nil {
			for _, rg := range rr.Regions {
				regions = append(regions, protocol.Region{File: rg.File, Offset: rg.Offset, Length: rg.Length})
			}
		}
		records[ti] = append(records[ti], regions)
	}
	resp.Brokers = fr.brokers
	if fr.fromFollower {
		b.followerReads.Add(1)
	}
	b.countFetch(follower, resp, records) // metrics.go
	frame := protocol.EncodeFetchResponse(req.Version, req.CorrelationID, resp, records)
	if follower {
		return network.Response{Frame: frame, Done: fr.release}, nil
	}
	return b.throttleFetch(ctx, cc, req, fc, frame, fr.release, user, clientID), nil
}

// throttleFetch charges a consumer's fetch to its byte and request
// quotas. Within both, frame goes out with a zero throttle time. Over
// either, as Kafka's KafkaApis does, the bytes are taken back from the
// byte quota and the client gets an empty response carrying the throttle
// time instead of the records (it asks again for the same offsets once
// the throttle has passed). A session the request created is dropped, as
// Kafka creates none for a throttled full fetch.
func (b *Broker) throttleFetch(ctx context.Context, cc *network.ConnContext, req *protocol.Request, fc *fetchsession.Context, frame *protocol.Frame, release func(), user, clientID string) network.Response {
	now := time.Now()
	size := float64(frame.Len())
	bandwidth := b.quotas.fetch.Record(user, clientID, size, now)
	requestThrottle := b.chargeRequest(ctx, cc, req)
	throttle := max(bandwidth, requestThrottle)
	if throttle <= 0 {
		return network.Response{Frame: frame, Done: release}
	}
	b.quotas.note(quota.ConsumerByteRate, bandwidth)
	b.quotas.fetch.Unrecord(user, clientID, size, now)
	release()
	empty := req.Body.(*kmsg.FetchRequest).ResponseKind().(*kmsg.FetchResponse)
	empty.SessionID = b.fetchSessions.Throttled(fc)
	empty.ThrottleMillis = int32(min(throttle.Milliseconds(), 1<<31-1))
	return network.Response{
		Frame:         protocol.EncodeFetchResponse(req.Version, req.CorrelationID, empty, nil),
		Throttle:      throttle,
		ThrottleFirst: !throttleAfter(empty),
	}
}

// fetchRead is one Fetch request's reading state: the outcome of the
// latest round of reads over the context's partitions.
type fetchRead struct {
	b         *Broker
	req       *kmsg.FetchRequest
	fc        *fetchsession.Context
	follower  bool
	replicaID int32
	maxBytes  int32
	listener  string
	// mayRead says whether a consumer may read a topic (READ on it).
	mayRead func(topic string) bool

	parts  []fetchedPartition
	reads  []*storage.ReadResult // parallel to parts; nil when nothing was read
	total  int64
	anyErr bool
	// redirected: some partition names a preferred read replica instead
	// of data, which the client should go to at once (no long poll).
	redirected bool
	// fromFollower: this round read records from a replica this broker
	// follows.
	fromFollower bool
	brokers      []kmsg.FetchResponseBroker
}

// fetchedPartition is the outcome of reading one partition of a fetch
// context.
type fetchedPartition struct {
	resp    kmsg.FetchResponseTopicPartition
	records int64 // bytes of records
}

// release drops the current round's segment references.
func (fr *fetchRead) release() {
	for i, rr := range fr.reads {
		rr.Release()
		fr.reads[i] = nil
	}
}

// read does one round of reads and returns the change channels of the
// replicas read, taken before reading so that no change is missed.
func (fr *fetchRead) read(snap *controller.Snapshot) []<-chan struct{} {
	n := len(fr.fc.Partitions)
	fr.parts = make([]fetchedPartition, n)
	fr.reads = make([]*storage.ReadResult, n)
	fr.total, fr.anyErr, fr.redirected, fr.fromFollower, fr.brokers = 0, false, false, false, nil
	var chans []<-chan struct{}
	remaining := int64(fr.maxBytes)
	minOne := true // until the first partition with data (KIP-74)
	for i, sp := range fr.fc.Partitions {
		fp := &fr.parts[i]
		fp.resp = kmsg.NewFetchResponseTopicPartition()
		fp.resp.Partition = sp.Key.Partition
		fp.resp.HighWatermark = -1
		fp.resp.PreferredReadReplica = -1
		name, err := fr.topicName(snap, sp.Key)
		if name != "" && !fr.follower && !fr.mayRead(name) {
			// Authorization before existence, as Kafka.
			err = kerr.TopicAuthorizationFailed
		}
		var rep *replica.Partition
		leading := false
		if err == nil {
			rep, leading, err = fr.replicaToRead(snap, name, sp)
		}
		if err != nil {
			fr.fail(snap, fp, name, err)
			continue
		}
		if leading && fr.fromConsumerWithMetadata() {
			if id := fr.b.replicas.PreferredReadReplica(snap, rep, sp.FetchOffset, fr.req.Rack, fr.listener); id >= 0 {
				l := rep.Log()
				fp.resp.PreferredReadReplica = id
				fp.resp.HighWatermark, fp.resp.LastStableOffset, fp.resp.LogStartOffset = l.HighWatermark(), l.LastStableOffset(), l.LogStartOffset()
				fr.redirected = true
				continue
			}
		}
		chans = append(chans, rep.Changed())
		rr, err := fr.readPartition(rep, sp, fp, remaining, minOne)
		if err != nil {
			fr.fail(snap, fp, name, err)
			continue
		}
		if rr != nil && rr.Size > 0 {
			fr.fromFollower = fr.fromFollower || !leading
			fr.reads[i] = rr
			fp.records = rr.Size
			fr.total += rr.Size
			remaining = max(remaining-rr.Size, 0)
			minOne = false
		} else {
			rr.Release()
		}
	}
	return chans
}

// fromConsumerWithMetadata: a consumer's fetch of v11 or later, which
// carries its rack (KIP-392). Kafka serves such fetches on followers too;
// older consumer fetches and every replica fetch need the leader.
func (fr *fetchRead) fromConsumerWithMetadata() bool {
	return !fr.follower && fr.req.Version >= 11
}

// replicaToRead resolves the local replica a fetch reads, after checking
// the client's current leader epoch against it (KIP-320): the leader, or,
// for a consumer fetch that may be served by a follower, a follower —
// one that follows a live leader, not a replica fenced after a restart
// (replica.Partition.setRole). leading reports which.
func (fr *fetchRead) replicaToRead(snap *controller.Snapshot, topic string, sp *fetchsession.Partition) (rep *replica.Partition, leading bool, err error) {
	if !fr.fromConsumerWithMetadata() {
		rep, _, err = fr.b.leaderWithEpoch(snap, topic, sp.Key.Partition, sp.CurrentLeaderEpoch)
		return rep, err == nil, err
	}
	rep, err = fr.b.replicas.Get(snap, topic, sp.Key.Partition)
	if err != nil {
		return nil, false, err
	}
	leader, epoch := rep.State()
	if leader < 0 {
		return nil, false, kerr.NotLeaderForPartition
	}
	if err := checkCurrentLeaderEpoch(sp.CurrentLeaderEpoch, epoch); err != nil {
		return nil, false, err
	}
	return rep, leader == fr.b.id, nil
}

// topicName resolves a session key's topic: by id from v13.
func (fr *fetchRead) topicName(snap *controller.Snapshot, k fetchsession.Key) (string, error) {
	if k.Topic != "" || fr.req.Version < 13 {
		return k.Topic, nil
	}
	t := snap.TopicsByID[controller.TopicID(k.ID)]
	if t == nil {
		return "", kerr.UnknownTopicID
	}
	return t.Name, nil
}

// fail records a partition error, with KIP-951's current leader (v12+)
// and its endpoint (v16+) when this broker is not the leader.
func (fr *fetchRead) fail(snap *controller.Snapshot, fp *fetchedPartition, topic string, err error) {
	fp.resp.ErrorCode = errorCode(err)
	fr.anyErr = true
	if errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.TopicAuthorizationFailed) {
		// Kafka's KafkaApis answers these before reading, with an empty
		// (non-null, v4+) aborted list; errors of the read keep null.
		fp.resp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	if fr.req.Version < 12 || !(errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.FencedLeaderEpoch)) {
		return
	}
	leader, epoch, ep, ok := leaderHint(snap, topic, fp.resp.Partition, fr.listener)
	if !ok {
		return
	}
	fp.resp.CurrentLeader.LeaderID, fp.resp.CurrentLeader.LeaderEpoch = leader, epoch
	if fr.req.Version < 16 {
		return
	}
	for _, nb := range fr.brokers {
		if nb.NodeID == leader {
			return
		}
	}
	nb := kmsg.NewFetchResponseBroker()
	nb.NodeID, nb.Host, nb.Port = leader, ep.Host, ep.Port
	if rack := snap.Brokers[leader].Rack; rack != "" {
		nb.Rack = &rack
	}
	fr.brokers = append(fr.brokers, nb)
}

// readPartition reads one partition of rep into fp.
func (fr *fetchRead) readPartition(rep *replica.Partition, sp *fetchsession.Partition, fp *fetchedPartition, remaining int64, minOne bool) (*storage.ReadResult, error) {
	o := replica.ReadOptions{
		ReplicaID:        -1,
		FetchOffset:      sp.FetchOffset,
		LastFetchedEpoch: -1,
		ReadCommitted:    fr.req.IsolationLevel == 1,
		MaxBytes:         int32(min(min(int64(max(sp.MaxBytes, 0)), remaining), 1<<31-1)),
		MinOneBatch:      minOne,
	}
	if fr.follower {
		o.ReplicaID = fr.replicaID
	}
	if fr.req.Version >= 12 {
		o.LastFetchedEpoch = sp.LastFetchedEpoch
	}
	info, rr, err := rep.Read(o)
	if err != nil && !info.Diverging && !fr.follower {
		// As Kafka's ReplicaManager, a consumer's refused read
		// (OFFSET_OUT_OF_RANGE, ...) answers -1 offsets. A follower
		// gets the log's: on OFFSET_OUT_OF_RANGE it starts over from
		// the leader's log start (replica/fetcher.go).
		return nil, err
	}
	fp.resp.HighWatermark, fp.resp.LastStableOffset, fp.resp.LogStartOffset = info.HighWatermark, info.LastStableOffset, info.LogStartOffset
	if info.Diverging {
		fp.resp.DivergingEpoch.Epoch, fp.resp.DivergingEpoch.EndOffset = info.DivergingEpoch, info.DivergingEndOffset
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fr.follower && o.ReadCommitted {
		fp.resp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		for _, a := range info.Aborted {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
			fp.resp.AbortedTransactions = append(fp.resp.AbortedTransactions, at)
		}
	}
	return rr, nil
}
