package broker

import (
	"context"
	"fmt"
	"slices"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// createTopicsMaxVersion is the highest CreateTopics version served.
const createTopicsMaxVersion int16 = 7

// handleCreateTopics answers CreateTopics v2–v7. Each topic is checked as
// Kafka checks it — a name given twice in one request is INVALID_REQUEST
// for every entry; an illegal name, or one that differs from an existing
// topic only in '.' versus '_', is INVALID_TOPIC_EXCEPTION; an existing
// topic is TOPIC_ALREADY_EXISTS; a partition count or replication factor
// that is 0 or below -1 is INVALID_PARTITIONS or INVALID_REPLICATION_FACTOR
// (-1 means the broker's num.partitions / default.replication.factor); a
// bad config is INVALID_CONFIG with the validator's message — and then
// created (unless ValidateOnly) through the controller. The answer waits
// until this broker's metadata shows the new topics. From v5 a topic's
// answer carries its partition count, replication factor and every config
// with its source; from v7 its id.
func (b *Broker) handleCreateTopics(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	ctx, cancel := context.WithTimeout(ctx, adminTimeout(r.TimeoutMillis)) // etcd calls fail cleanly if etcd is unreachable
	defer cancel()
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)

	count := map[string]int{}
	for _, t := range r.Topics {
		count[t.Topic]++
	}
	// Kafka refuses the whole request, every topic with the same policy
	// error, when its topics together would add more than 10,000
	// partitions; checked before anything sized by the counts is allocated.
	tooMany := requestedPartitions(r, b.cfg.NumPartitions) > controller.MaxPartitionsPerRequest
	// CREATE on the cluster covers every topic; else CREATE on each.
	clusterCreate := b.authorizeCluster(cc, kmsg.ACLOperationCreate)
	mq := b.mutationQuotaFor(cc, req, createTopicsStrictQuotaVersion) // quotas.go
	var rev int64
	for _, t := range r.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		if tooMany {
			rt.ErrorCode, rt.ErrorMessage = adminError(controller.ErrTooManyPartitions)
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		if count[t.Topic] > 1 {
			rt.ErrorCode, rt.ErrorMessage = codeMsg(kerr.InvalidRequest, "Duplicate topic name.")
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		if !clusterCreate && !b.authorize(cc, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, t.Topic) {
			rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		if !r.ValidateOnly {
			if err := mq.record(requestedTopicPartitions(t, b.cfg.NumPartitions)); err != nil {
				rt.ErrorCode, rt.ErrorMessage = adminError(err)
				resp.Topics = append(resp.Topics, rt)
				continue
			}
		}
		created, wrev, err := b.createTopic(ctx, t, r.ValidateOnly)
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = adminError(err)
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		rev = max(rev, wrev)
		if !r.ValidateOnly {
			rt.TopicID = created.ID
			b.log.Info("created topic", zap.String("topic", t.Topic), zap.Int("partitions", len(created.Partitions)))
		}
		rt.NumPartitions = int32(len(created.Partitions))
		rt.ReplicationFactor = int16(len(created.Partitions[0].Replicas))
		if b.authorize(cc, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, t.Topic) {
			rt.Configs = b.createdTopicConfigs(created.Configs)
		} else {
			// Kafka: created, but its configs are not the caller's to see.
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			rt.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if err := b.waitVisible(ctx, rev); err != nil && !r.ValidateOnly {
		b.log.Warn("created topics not visible in time", zap.Int64("revision", rev), zap.Error(err))
		for i := range resp.Topics {
			if resp.Topics[i].ErrorCode == 0 {
				resp.Topics[i].ErrorCode, resp.Topics[i].ErrorMessage = timeoutError("topic creation", err)
			}
		}
	}
	for i := range resp.Topics {
		if rt := &resp.Topics[i]; rt.ErrorCode != 0 && rt.Configs == nil {
			rt.Configs = []kmsg.CreateTopicsResponseTopicConfig{} // Kafka sends an empty array, not null
		}
	}
	return network.Response{Msg: resp, Throttle: mq.throttle}, nil
}

// requestedTopicPartitions is one topic's share of requestedPartitions
// (also its controller_mutation_rate charge).
func requestedTopicPartitions(t kmsg.CreateTopicsRequestTopic, defaultPartitions int32) int {
	switch {
	case len(t.ReplicaAssignment) > 0:
		return len(t.ReplicaAssignment)
	case t.NumPartitions == -1:
		return int(defaultPartitions)
	case t.NumPartitions > 0:
		return int(t.NumPartitions)
	}
	return 0
}

// requestedPartitions is the number of partitions a CreateTopics request
// asks for, counted as Kafka counts it for its per-request cap: an
// explicit assignment's length, else the count (the broker default for
// -1); invalid counts add nothing (they fail on their own).
func requestedPartitions(r *kmsg.CreateTopicsRequest, defaultPartitions int32) int64 {
	var n int64
	for _, t := range r.Topics {
		n += int64(requestedTopicPartitions(t, defaultPartitions))
	}
	return n
}

// createTopic validates one requested topic and creates it (or, with
// validateOnly, only plans it).
func (b *Broker) createTopic(ctx context.Context, t kmsg.CreateTopicsRequestTopic, validateOnly bool) (*controller.Topic, int64, error) {
	if err := validateTopicName(t.Topic); err != nil {
		return nil, 0, fmt.Errorf("%w: %s", kerr.InvalidTopicException, err)
	}
	snap := b.ctrl.Snapshot()
	if _, ok := snap.Topics[t.Topic]; ok {
		return nil, 0, fmt.Errorf("%w: Topic '%s' already exists.", kerr.TopicAlreadyExists, t.Topic)
	}
	if other, ok := collidingTopic(snap, t.Topic); ok {
		return nil, 0, fmt.Errorf("%w: Topic '%s' collides with existing topic: %s", kerr.InvalidTopicException, t.Topic, other)
	}

	spec := controller.TopicSpec{Name: t.Topic, NumPartitions: t.NumPartitions, ReplicationFactor: t.ReplicationFactor}
	if len(t.ReplicaAssignment) > 0 {
		if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
			return nil, 0, fmt.Errorf("%w: Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.", kerr.InvalidRequest)
		}
		spec.NumPartitions, spec.ReplicationFactor = -1, -1
		spec.Assignments = make(map[int32][]int32, len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			if _, dup := spec.Assignments[a.Partition]; dup {
				return nil, 0, fmt.Errorf("%w: Partition %d is listed more than once in the replica assignment.", kerr.InvalidReplicaAssignment, a.Partition)
			}
			spec.Assignments[a.Partition] = slices.Clone(a.Replicas)
		}
	} else {
		switch {
		case t.NumPartitions == -1:
			spec.NumPartitions = b.cfg.NumPartitions
		case t.NumPartitions <= 0:
			return nil, 0, fmt.Errorf("%w: Number of partitions was set to an invalid non-positive value.", kerr.InvalidPartitions)
		}
		switch {
		case t.ReplicationFactor == -1:
			spec.ReplicationFactor = int16(b.cfg.DefaultReplicationFactor)
		case t.ReplicationFactor <= 0:
			return nil, 0, fmt.Errorf("%w: Replication factor must be larger than 0, or -1 to use the default value.", kerr.InvalidReplicationFactor)
		}
		if n := len(snap.Brokers); int(spec.ReplicationFactor) > n {
			return nil, 0, fmt.Errorf("%w: Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.",
				kerr.InvalidReplicationFactor, spec.ReplicationFactor, spec.ReplicationFactor, n)
		}
	}

	spec.Configs = make(map[string]string, len(t.Configs))
	for _, c := range t.Configs {
		if c.Value == nil {
			return nil, 0, fmt.Errorf("%w: Null value not supported for topic configs: %s", kerr.InvalidConfig, c.Name)
		}
		spec.Configs[c.Name] = *c.Value
	}
	if err := config.ValidateTopicConfigs(spec.Configs); err != nil {
		return nil, 0, fmt.Errorf("%w: %s", kerr.InvalidConfig, err)
	}
	return b.ctrl.CreateTopic(ctx, spec, validateOnly)
}

// collidingTopic returns an existing topic whose name differs from name
// only in '.' versus '_' (Kafka refuses such a pair: metric names cannot
// tell them apart).
func collidingTopic(snap *controller.Snapshot, name string) (string, bool) {
	for other := range snap.Topics {
		if topicNameCollides(name, other) {
			return other, true
		}
	}
	return "", false
}

// createdTopicConfigs lists every topic config of a topic with the given
// overrides, as the v5+ CreateTopics response carries them.
func (b *Broker) createdTopicConfigs(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	entries := config.DescribeTopic(b.cfg, dynamicConfigs(b.ctrl.Snapshot(), b.id), overrides)
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Sensitive
		c.Source = int8(e.Source)
		out = append(out, c)
	}
	return out
}
