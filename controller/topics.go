package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Errors that Kafka handlers map to error codes are *kerr.Error values
// wrapped with a message: use errors.As(err, &ke) or errors.Is(err,
// kerr.TopicAlreadyExists). Other errors (etcd unreachable, context
// expiry) are wrapped etcd or context errors; handlers answer those with
// REQUEST_TIMED_OUT or similar.

func kerrf(e *kerr.Error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", e, fmt.Sprintf(format, args...))
}

// MaxPartitionsPerRequest is Kafka's bound on the partitions one
// CreateTopics request (all its topics together) or one CreatePartitions
// change may add (ReplicationControlManager's MAX_PARTITIONS_PER_BATCH):
// larger requests are refused before anything is planned or allocated, so
// a count near 2^31 cannot exhaust memory.
const MaxPartitionsPerRequest = 10_000

// ErrTooManyPartitions is the POLICY_VIOLATION Kafka answers a request
// over MaxPartitionsPerRequest with; the text is Kafka's message.
var ErrTooManyPartitions = fmt.Errorf("%w: Excessively large number of partitions per request.", kerr.PolicyViolation)

// CreateTopic creates a topic, its partitions and its config overrides in
// one etcd transaction that fails if the topic exists. It returns the
// topic as created and the revision of the write (pass it to WaitRevision
// before answering, so metadata shows the topic). With validateOnly
// nothing is written and the revision is 0.
//
// Without Assignments, replicas are placed by assignReplicas over the
// registered brokers; the first replica leads, with leader epoch 0, its
// current broker epoch as the leader broker epoch, and the full replica
// set in the ISR.
func (c *Controller) CreateTopic(ctx context.Context, s TopicSpec, validateOnly bool) (*Topic, int64, error) {
	if s.Name == "" {
		return nil, 0, kerrf(kerr.InvalidTopicException, "topic name is empty")
	}
	snap := c.Snapshot()
	if _, ok := snap.Topics[s.Name]; ok {
		return nil, 0, kerrf(kerr.TopicAlreadyExists, "topic %q already exists", s.Name)
	}
	assignment, err := c.planTopic(snap, s)
	if err != nil {
		return nil, 0, err
	}
	if err := c.checkBrokerPartitions(snap, assignment); err != nil {
		return nil, 0, err
	}
	t := &Topic{Name: s.Name, ID: newUUID(), Internal: s.Internal, Configs: map[string]string{}}
	maps.Copy(t.Configs, s.Configs)
	for i, r := range assignment {
		t.Partitions = append(t.Partitions, Partition{
			Index: int32(i), Replicas: r, ISR: slices.Clone(r), Leader: r[0],
			LeaderBrokerEpoch: snap.BrokerEpoch(r[0]),
		})
	}
	if validateOnly {
		return t, 0, nil
	}

	rec := topicRecord{ID: t.ID.String(), Internal: s.Internal, Count: int32(len(t.Partitions))}
	tv := marshal(rec)
	cv := marshal(t.Configs)
	tkey := c.k.topic(s.Name)
	parts := make([]kv, len(t.Partitions))
	for i, p := range t.Partitions {
		parts[i] = kv{c.k.partition(s.Name, p.Index), string(marshal(recordOf(p)))}
	}
	if !fitsOneTxn(parts, 2, len(tkey)+len(tv)+len(cv), c.txnPuts()) {
		rec.Creating = true
		partRevs, rev, err := c.createTopicChunked(ctx, s.Name, tv, marshal(rec), cv, parts)
		if err != nil {
			return nil, 0, err
		}
		for i := range t.Partitions {
			t.Partitions[i].ModRevision = partRevs[i]
		}
		return t, rev, nil
	}
	ops := append(putOps(parts),
		clientv3.OpPut(tkey, string(tv)),
		clientv3.OpPut(c.k.topicConfig(s.Name), string(cv)))
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(tkey), "=", 0)).
		Then(ops...).
		Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("controller: create topic %q: %w", s.Name, err)
	}
	if !resp.Succeeded {
		return nil, 0, kerrf(kerr.TopicAlreadyExists, "topic %q already exists", s.Name)
	}
	rev := resp.Header.Revision
	for i := range t.Partitions {
		t.Partitions[i].ModRevision = rev
	}
	return t, rev, nil
}

// planTopic validates a spec against the snapshot and returns the replica
// assignment, partition by partition.
func (c *Controller) planTopic(snap *Snapshot, s TopicSpec) ([][]int32, error) {
	// The cap comes before anything sized by the request is allocated.
	if len(s.Assignments) > MaxPartitionsPerRequest || (len(s.Assignments) == 0 && s.NumPartitions > MaxPartitionsPerRequest) ||
		(len(s.Assignments) == 0 && s.NumPartitions == -1 && c.o.DefaultPartitions > MaxPartitionsPerRequest) {
		return nil, ErrTooManyPartitions
	}
	if len(s.Assignments) > 0 {
		if s.NumPartitions > 0 || s.ReplicationFactor > 0 {
			return nil, kerrf(kerr.InvalidRequest, "both replica assignments and partition count or replication factor given")
		}
		n := int32(len(s.Assignments))
		out := make([][]int32, n)
		for p, r := range s.Assignments {
			if p < 0 || p >= n {
				return nil, kerrf(kerr.InvalidReplicaAssignment, "partitions must be numbered 0..%d without gaps, got %d", n-1, p)
			}
			out[p] = slices.Clone(r)
		}
		if err := checkReplicas(snap, out, len(out[0])); err != nil {
			return nil, err
		}
		return out, nil
	}
	np, rf := s.NumPartitions, int(s.ReplicationFactor)
	if np == -1 {
		np = c.o.DefaultPartitions
	}
	if rf == -1 {
		rf = int(c.o.DefaultReplicationFactor)
	}
	if err := c.checkClusterPartitions(snap, int64(np)*int64(max(rf, 0))); err != nil {
		return nil, err
	}
	if np < 1 {
		return nil, kerrf(kerr.InvalidPartitions, "number of partitions must be larger than 0, got %d", s.NumPartitions)
	}
	if rf < 1 {
		return nil, kerrf(kerr.InvalidReplicationFactor, "replication factor must be larger than 0, got %d", s.ReplicationFactor)
	}
	return newAssigner(snap.Brokers).assign(int(np), rf, 0, -1, nil)
}

// checkClusterPartitions refuses, before any assignment is computed, to
// add replicas beyond what MaxBrokerPartitions allows over all registered
// brokers together.
func (c *Controller) checkClusterPartitions(snap *Snapshot, adding int64) error {
	limit := int64(c.o.MaxBrokerPartitions)
	if limit <= 0 {
		return nil
	}
	var total int64
	for _, t := range snap.Topics {
		for i := range t.Partitions {
			total += int64(len(t.Partitions[i].Replicas))
		}
	}
	if total+adding > limit*int64(len(snap.Brokers)) {
		return kerrf(kerr.PolicyViolation, "Cannot add %d partition replicas: the %d registered broker(s) hold %d and max.broker.partitions is %d.",
			adding, len(snap.Brokers), total, limit)
	}
	return nil
}

// checkBrokerPartitions refuses new replica lists that would put more
// than MaxBrokerPartitions replicas on any one broker.
func (c *Controller) checkBrokerPartitions(snap *Snapshot, lists [][]int32) error {
	limit := c.o.MaxBrokerPartitions
	if limit <= 0 {
		return nil
	}
	count := map[int32]int{}
	for _, r := range lists {
		for _, b := range r {
			count[b]++
		}
	}
	for _, t := range snap.Topics {
		for i := range t.Partitions {
			for _, b := range t.Partitions[i].Replicas {
				if _, ok := count[b]; ok {
					count[b]++
				}
			}
		}
	}
	for b, n := range count {
		if n > limit {
			return kerrf(kerr.PolicyViolation, "Broker %d would hold %d partition replicas, more than max.broker.partitions (%d).", b, n, limit)
		}
	}
	return nil
}

// checkReplicas validates explicit replica lists: non-empty, all of size rf,
// no duplicates, only registered brokers.
func checkReplicas(snap *Snapshot, lists [][]int32, rf int) error {
	for p, r := range lists {
		if len(r) == 0 {
			return kerrf(kerr.InvalidReplicaAssignment, "partition %d has no replicas", p)
		}
		if len(r) != rf {
			return kerrf(kerr.InvalidReplicaAssignment, "partition %d has %d replicas, others have %d", p, len(r), rf)
		}
		seen := map[int32]bool{}
		for _, b := range r {
			if seen[b] {
				return kerrf(kerr.InvalidReplicaAssignment, "partition %d lists broker %d twice", p, b)
			}
			seen[b] = true
			if _, ok := snap.Brokers[b]; !ok {
				return kerrf(kerr.InvalidReplicaAssignment, "partition %d: broker %d is not registered", p, b)
			}
		}
	}
	return nil
}

// DeleteTopic deletes the topic, its partition states and its configs in
// one transaction, and returns the revision. Brokers remove their local
// logs when their Subscribe callback sees the topic gone.
func (c *Controller) DeleteTopic(ctx context.Context, name string) (int64, error) {
	if name == "" {
		return 0, kerrf(kerr.InvalidTopicException, "topic name is empty")
	}
	tkey := c.k.topic(name)
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(tkey), ">", 0)).
		Then(
			clientv3.OpDelete(tkey),
			clientv3.OpDelete(c.k.partitions(name), clientv3.WithPrefix()),
			clientv3.OpDelete(c.k.topicConfig(name)),
		).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("controller: delete topic %q: %w", name, err)
	}
	if !resp.Succeeded {
		return 0, kerrf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	return resp.Header.Revision, nil
}

// getTopic reads a committed topic record, its mod revision and the
// state of its partition 0 straight from etcd, in one read.
func (c *Controller) getTopic(ctx context.Context, name string) (topicRecord, int64, *partitionRecord, error) {
	resp, err := c.cli.Txn(ctx).Then(
		clientv3.OpGet(c.k.topic(name)),
		clientv3.OpGet(c.k.partition(name, 0)),
	).Commit()
	if err != nil {
		return topicRecord{}, 0, nil, fmt.Errorf("controller: read topic %q: %w", name, err)
	}
	tkvs, pkvs := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
	var r topicRecord
	if len(tkvs) == 1 {
		if err := json.Unmarshal(tkvs[0].Value, &r); err != nil {
			return r, 0, nil, fmt.Errorf("controller: topic %q: %w", name, err)
		}
	}
	if len(tkvs) == 0 || r.Creating {
		return topicRecord{}, 0, nil, kerrf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	var p0 *partitionRecord
	if len(pkvs) == 1 {
		p0 = new(partitionRecord)
		if err := json.Unmarshal(pkvs[0].Value, p0); err != nil {
			return r, 0, nil, fmt.Errorf("controller: partition %s-0: %w", name, err)
		}
	}
	return r, tkvs[0].ModRevision, p0, nil
}

// CreatePartitions grows a topic to count partitions in total (Kafka's
// CreatePartitions semantics). assignments, if given, hold the replica
// lists of the new partitions only, in order. New partitions start led by
// their first replica with the full replica set in sync.
func (c *Controller) CreatePartitions(ctx context.Context, topic string, count int32, assignments [][]int32, validateOnly bool) (int64, error) {
	if topic == "" {
		return 0, kerrf(kerr.InvalidTopicException, "topic name is empty")
	}
	for attempt := 0; ; attempt++ {
		rev, retry, err := c.createPartitions(ctx, topic, count, assignments, validateOnly)
		if !retry || attempt == 4 {
			return rev, err
		}
	}
}

// createPartitions makes one attempt. The new partition keys are written
// first (in chunks when they do not fit one transaction), every write
// guarded by the topic key's mod revision as read; the topic record with
// the new count comes last, so watchers see every new partition at once.
// Keys left above the count by an attempt that lost the race are never
// shown and are overwritten by the next extension or removed with the
// topic.
func (c *Controller) createPartitions(ctx context.Context, topic string, count int32, assignments [][]int32, validateOnly bool) (_ int64, retry bool, _ error) {
	rec, modRev, p0, err := c.getTopic(ctx, topic)
	if err != nil {
		return 0, false, err
	}
	cur := rec.count()
	if count < cur {
		return 0, false, kerrf(kerr.InvalidPartitions, "topic %q has %d partitions, which is more than the requested %d", topic, cur, count)
	}
	if count == cur {
		return 0, false, kerrf(kerr.InvalidPartitions, "topic %q already has %d partitions", topic, cur)
	}
	if int64(count)-int64(cur) > MaxPartitionsPerRequest {
		return 0, false, ErrTooManyPartitions
	}
	add := int(count - cur)
	// New partitions get partition 0's current replication factor, and
	// their leaders continue the round robin from its first replica.
	rf := 1
	var first []int32
	if p0 != nil && len(p0.Replicas) > 0 {
		first = p0.Replicas[:len(p0.Replicas)-len(p0.Removing)]
		rf = len(first)
	} else if len(rec.Partitions) > 0 && len(rec.Partitions[0]) > 0 {
		first = rec.Partitions[0]
		rf = len(first)
	}
	snap := c.Snapshot()
	var lists [][]int32
	if assignments != nil {
		if len(assignments) != add {
			return 0, false, kerrf(kerr.InvalidReplicaAssignment, "%d replica assignments given for %d new partitions", len(assignments), add)
		}
		lists = make([][]int32, add)
		for i, r := range assignments {
			lists[i] = slices.Clone(r)
		}
		if err := checkReplicas(snap, lists, rf); err != nil {
			return 0, false, err
		}
	} else {
		a := newAssigner(snap.Brokers)
		start := -1
		if len(first) > 0 {
			start = slices.Index(a.ids, first[0])
		}
		if err := c.checkClusterPartitions(snap, int64(add)*int64(rf)); err != nil {
			return 0, false, err
		}
		lists, err = a.assign(add, rf, int(cur), start, nil)
		if err != nil {
			return 0, false, err
		}
	}
	if err := c.checkBrokerPartitions(snap, lists); err != nil {
		return 0, false, err
	}
	if validateOnly {
		return 0, false, nil
	}
	rec.Count, rec.Partitions = count, nil
	tv := marshal(rec)
	tkey := c.k.topic(topic)
	parts := make([]kv, len(lists))
	for i, r := range lists {
		pv := marshal(partitionRecord{Replicas: r, ISR: slices.Clone(r), Leader: r[0], LeaderBrokerEpoch: snap.BrokerEpoch(r[0])})
		parts[i] = kv{c.k.partition(topic, cur+int32(i)), string(pv)}
	}
	guard := clientv3.Compare(clientv3.ModRevision(tkey), "=", modRev)
	if fitsOneTxn(parts, 1, len(tkey)+len(tv), c.txnPuts()) {
		parts = append(parts, kv{tkey, string(tv)})
	} else {
		for _, ch := range chunked(parts, c.txnPuts()) {
			resp, err := c.cli.Txn(ctx).If(guard).Then(putOps(ch)...).Commit()
			if err != nil {
				return 0, false, fmt.Errorf("controller: create partitions of %q: %w", topic, err)
			}
			if !resp.Succeeded {
				return 0, true, fmt.Errorf("controller: topic %q kept changing during CreatePartitions", topic)
			}
		}
		parts = []kv{{tkey, string(tv)}}
	}
	resp, err := c.cli.Txn(ctx).If(guard).Then(putOps(parts)...).Commit()
	if err != nil {
		return 0, false, fmt.Errorf("controller: create partitions of %q: %w", topic, err)
	}
	if !resp.Succeeded {
		return 0, true, fmt.Errorf("controller: topic %q kept changing during CreatePartitions", topic)
	}
	return resp.Header.Revision, false, nil
}

// SetTopicConfigs replaces the topic's config overrides (AlterConfigs
// semantics; the broker computes incremental changes itself).
func (c *Controller) SetTopicConfigs(ctx context.Context, topic string, configs map[string]string) (int64, error) {
	if topic == "" {
		return 0, kerrf(kerr.InvalidTopicException, "topic name is empty")
	}
	if configs == nil {
		configs = map[string]string{}
	}
	v, _ := json.Marshal(configs)
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(c.k.topic(topic)), ">", 0)).
		Then(clientv3.OpPut(c.k.topicConfig(topic), string(v))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("controller: set configs of %q: %w", topic, err)
	}
	if !resp.Succeeded {
		return 0, kerrf(kerr.UnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	return resp.Header.Revision, nil
}

// SetBrokerConfigs replaces the dynamic configs of one broker (broker = its
// id in decimal) or, with broker "", the cluster-wide defaults. An empty
// map removes the entry.
func (c *Controller) SetBrokerConfigs(ctx context.Context, broker string, configs map[string]string) (int64, error) {
	if broker != "" {
		if _, err := strconv.ParseInt(broker, 10, 32); err != nil {
			return 0, kerrf(kerr.InvalidRequest, "broker config entity %q is not a broker id", broker)
		}
	}
	key := c.k.brokerConfig(broker)
	var op clientv3.Op
	if len(configs) == 0 {
		op = clientv3.OpDelete(key)
	} else {
		v, _ := json.Marshal(configs)
		op = clientv3.OpPut(key, string(v))
	}
	resp, err := c.cli.Txn(ctx).Then(op).Commit()
	if err != nil {
		return 0, fmt.Errorf("controller: set broker configs %q: %w", broker, err)
	}
	return resp.Header.Revision, nil
}

// ErrStalePartition is wrapped (together with kerr.InvalidUpdateVersion)
// by UpdatePartition when the partition changed since the caller read it.
var ErrStalePartition = errors.New("controller: partition state changed since it was read")

// UpdatePartition writes p's state (replicas, ISR, leader, leader epoch,
// offline replicas) if the partition key still has p.ModRevision — the
// compare-and-swap ZooKeeper's zkVersion gave Kafka. The stored
// PartitionEpoch becomes p.PartitionEpoch+1; the leader epoch and the
// leader broker epoch are written as given (whoever changes the leader
// bumps the one and sets the other to the new leader's current broker
// epoch; an ISR change keeps both). A stale p changes nothing
// and returns an error wrapping ErrStalePartition and
// kerr.InvalidUpdateVersion; a missing partition returns
// kerr.UnknownTopicOrPartition.
func (c *Controller) UpdatePartition(ctx context.Context, topic string, p Partition) (int64, error) {
	return c.updatePartition(ctx, topic, p)
}

func (c *Controller) updatePartition(ctx context.Context, topic string, p Partition, guards ...clientv3.Cmp) (int64, error) {
	key := c.k.partition(topic, p.Index)
	p.PartitionEpoch++
	if p.Leader < 0 {
		p.LeaderBrokerEpoch = 0
	}
	v, _ := json.Marshal(recordOf(p))
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", p.ModRevision)}, guards...)
	resp, err := c.cli.Txn(ctx).
		If(cmps...).
		Then(clientv3.OpPut(key, string(v))).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("controller: update %s-%d: %w", topic, p.Index, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return 0, kerrf(kerr.UnknownTopicOrPartition, "partition %s-%d does not exist", topic, p.Index)
		}
		return 0, fmt.Errorf("%w: %w: %s-%d", kerr.InvalidUpdateVersion, ErrStalePartition, topic, p.Index)
	}
	return resp.Header.Revision, nil
}

// PartitionUpdate is a partition state to write: the state read (its
// ModRevision guards the write) with the changes made.
type PartitionUpdate struct {
	Topic string
	State Partition
}

// UpdatePartitions writes many partition states (controlled shutdown),
// each under its own compare-and-swap, as few transactions as etcd's
// limits allow (partitionTxnOps). It returns the states written, how many
// were not (stale or failed: decide them again from a newer snapshot) and
// the revision of the last write.
func (c *Controller) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) (written []PartitionUpdate, failed int, rev int64) {
	return c.updatePartitions(ctx, updates)
}

// updatePartitions writes partition states as updatePartition does, each
// guarded by its own compare-and-swap and by guards, in transactions of
// at most partitionTxnOps states and chunkBytes bytes (partitionChunks),
// up to partitionWriters transactions and about partitionStatesInFlight
// states at a time (etcd commits concurrent
// transactions in one raft round and one fsync, so a failover's or a
// controlled shutdown's thousands of states take a few round trips, not
// hundreds). Chunks are started in the order of changes: callers put the
// urgent ones (partitions without a usable leader) first, and each
// chunk's states are visible to every watcher — a partition's new leader
// starts leading — as soon as that chunk commits, not after the whole
// batch. A transaction refused because some of its partitions moved
// meanwhile learns which from its else branch and writes the rest again
// (updateChunk), so that only the stale ones are left out. It returns the
// states written (with their new partition epochs, in the order of
// changes), how many were not, and the last write's revision.
func (c *Controller) updatePartitions(ctx context.Context, changes []PartitionUpdate, guards ...clientv3.Cmp) (written []PartitionUpdate, failed int, rev int64) {
	type result struct {
		written []PartitionUpdate
		failed  int
		rev     int64
	}
	chunks := c.partitionChunks(changes, len(guards))
	results := make([]result, len(chunks))
	// At most partitionWriters transactions and about
	// partitionStatesInFlight states are in flight: etcd applies the
	// states of one raft batch one after the other, and a deep queue of
	// large transactions delays the first of them (it waits for the WAL
	// write of the whole batch) and makes the last ones time out.
	biggest := 1
	for _, ch := range chunks {
		biggest = max(biggest, len(ch))
	}
	sem := make(chan struct{}, max(1, min(partitionWriters, partitionStatesInFlight/biggest)))
	var wg sync.WaitGroup
	for i, chunk := range chunks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			results[i].failed = len(chunk)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w, f, r := c.updateChunk(ctx, chunk, guards)
			results[i] = result{w, f, r}
		}()
	}
	wg.Wait()
	for _, r := range results {
		written = append(written, r.written...)
		failed += r.failed
		rev = max(rev, r.rev)
	}
	return written, failed, rev
}

// partitionWriters and partitionStatesInFlight bound the partition-state
// transactions updatePartitions has in flight, and the states in them.
const (
	partitionWriters        = 32
	partitionStatesInFlight = 4096
	// firstPartitionChunk is the size of the first chunk of a large
	// batch; each next chunk doubles, up to partitionTxnOps. The first
	// partitions (the urgent ones: callers sort them first) are then
	// written — and led — within one small transaction's round trip,
	// the rest in large ones.
	firstPartitionChunk = 64
)

// partitionTxnOps is the most partition states one transaction of
// updatePartitions writes next to nGuards guard compares. Each state costs
// one compare, one put and one get (the else branch), and etcd counts each
// of the three lists against --max-txn-ops separately, so a state costs
// one op: chunkOps against an external etcd (whose default limit is 128),
// embeddedTxnPuts against the embedded one (started with room for them
// and a few guards, embed.go). At 100,000 partitions a restarted broker's
// re-election is then a few dozen transactions — few fsyncs, few watch
// events, and few rebuilds of each topic by every watcher — instead of a
// thousand.
func (c *Controller) partitionTxnOps(nGuards int) int {
	if c.emb != nil {
		return embeddedTxnPuts
	}
	return chunkOps - nGuards
}

// partitionTxnBytes estimates what one state adds to a transaction's
// request: its key three times (compare, put, get), its value, and a
// little protobuf framing per op.
func partitionTxnBytes(key string, valueLen int) int { return 3*len(key) + valueLen + 3*16 }

// partitionChunks cuts changes, in order, into the transactions
// updatePartitions writes: at most partitionTxnOps states and chunkBytes
// (partitionTxnBytes) each, so that both an embedded etcd and an
// external one with its default limits accept them; the first chunk
// holds firstPartitionChunk states, and each next one twice as many as
// the one before, up to those limits.
func (c *Controller) partitionChunks(changes []PartitionUpdate, nGuards int) [][]PartitionUpdate {
	maxOps := max(c.partitionTxnOps(nGuards), 1)
	limit := min(firstPartitionChunk, maxOps)
	var out [][]PartitionUpdate
	start, size := 0, 0
	for i, ch := range changes {
		// A value's size without marshalling it: the record is a few
		// numbers and the replica lists.
		n := partitionTxnBytes(c.k.partition(ch.Topic, ch.State.Index), 160+12*(len(ch.State.Replicas)+len(ch.State.ISR)+len(ch.State.Adding)+len(ch.State.Removing)))
		if i > start && (i-start == limit || size+n > chunkBytes) {
			out = append(out, changes[start:i])
			start, size = i, 0
			limit = min(2*limit, maxOps)
		}
		size += n
	}
	if start < len(changes) {
		out = append(out, changes[start:])
	}
	return out
}

// updateChunk writes one chunk of partition states (partitionChunks) in
// one transaction. If it is refused, its else branch tells which
// partitions changed since they were read: those are left out (failed)
// and the rest is tried again in one transaction, a few times; a refusal
// with no stale partition is a guard that failed (a deposed controller),
// and fails the whole chunk.
func (c *Controller) updateChunk(ctx context.Context, chunk []PartitionUpdate, guards []clientv3.Cmp) (written []PartitionUpdate, failed int, rev int64) {
	for attempt := 0; len(chunk) > 0; attempt++ {
		if attempt == 3 {
			return nil, failed + len(chunk), 0
		}
		cmps := slices.Clone(guards)
		ops := make([]clientv3.Op, 0, len(chunk))
		gets := make([]clientv3.Op, 0, len(chunk))
		next := make([]PartitionUpdate, len(chunk))
		for i, ch := range chunk {
			key := c.k.partition(ch.Topic, ch.State.Index)
			np := ch.State
			np.PartitionEpoch++
			if np.Leader < 0 {
				np.LeaderBrokerEpoch = 0
			}
			v, _ := json.Marshal(recordOf(np))
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", ch.State.ModRevision))
			ops = append(ops, clientv3.OpPut(key, string(v)))
			gets = append(gets, clientv3.OpGet(key, clientv3.WithKeysOnly()))
			next[i] = PartitionUpdate{Topic: ch.Topic, State: np}
		}
		// A large transaction takes a while to apply on a busy etcd.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second+time.Duration(len(chunk))*2*time.Millisecond)
		resp, err := c.cli.Txn(wctx).If(cmps...).Then(ops...).Else(gets...).Commit()
		cancel()
		if err != nil {
			c.log.Debug("partition state changes not written; will retry", zap.Int("count", len(chunk)), zap.Error(err))
			return nil, failed + len(chunk), 0
		}
		if resp.Succeeded {
			return next, failed, resp.Header.Revision
		}
		var fresh []PartitionUpdate
		for i, ch := range chunk {
			kvs := resp.Responses[i].GetResponseRange().Kvs
			if len(kvs) == 1 && kvs[0].ModRevision == ch.State.ModRevision {
				fresh = append(fresh, ch)
				continue
			}
			failed++
			c.log.Debug("partition state changed since it was read; will decide again", zap.String("topic", ch.Topic), zap.Int32("partition", ch.State.Index))
		}
		if len(fresh) == len(chunk) {
			// Nothing stale: a guard failed.
			return nil, failed + len(chunk), 0
		}
		chunk = fresh
	}
	return nil, failed, 0
}

// AllocateProducerIDs reserves n consecutive producer ids and returns the
// first. The counter is one etcd key advanced by compare-and-swap, so
// blocks never overlap across brokers and restarts.
func (c *Controller) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	if n <= 0 {
		return 0, kerrf(kerr.InvalidRequest, "producer id block size %d", n)
	}
	key := c.k.producerIDs()
	for {
		resp, err := c.cli.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("controller: producer ids: %w", err)
		}
		var next, mod int64
		if len(resp.Kvs) == 1 {
			mod = resp.Kvs[0].ModRevision
			next, err = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("controller: producer id counter: %w", err)
			}
		}
		if next > (1<<63-1)-n {
			return 0, errors.New("controller: producer ids exhausted")
		}
		tx, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", mod)).
			Then(clientv3.OpPut(key, strconv.FormatInt(next+n, 10))).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("controller: producer ids: %w", err)
		}
		if tx.Succeeded {
			return next, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}
