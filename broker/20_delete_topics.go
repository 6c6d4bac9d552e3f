package broker

import (
	"context"
	"fmt"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// deleteTopicsMaxVersion is the highest DeleteTopics version served.
const deleteTopicsMaxVersion int16 = 6

// handleDeleteTopics answers DeleteTopics v1–v6, topics named (TopicNames
// below v6, Topics[].Topic from v6) or given by id (v6). As in Kafka:
// with delete.topic.enable=false every topic fails with
// TOPIC_DELETION_DISABLED (INVALID_REQUEST below v3, which predates that
// code); a topic named or identified twice is INVALID_REQUEST; an unknown
// name is UNKNOWN_TOPIC_OR_PARTITION and an unknown id UNKNOWN_TOPIC_ID.
// Internal topics are refused with INVALID_REQUEST. The answer waits until
// this broker's metadata no longer shows the deleted topics.
func (b *Broker) handleDeleteTopics(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	ctx, cancel := context.WithTimeout(ctx, adminTimeout(r.TimeoutMillis)) // etcd calls fail cleanly if etcd is unreachable
	defer cancel()
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)

	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version < 6 {
		for _, n := range r.TopicNames {
			targets = append(targets, target{name: &n})
		}
	} else {
		for _, t := range r.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	}

	names, ids := map[string]int{}, map[[16]byte]int{}
	for _, t := range targets {
		if t.id != [16]byte{} {
			ids[t.id]++
		} else if t.name != nil {
			names[*t.name]++
		}
	}

	snap := b.ctrl.Snapshot()
	for _, t := range targets {
		if (t.id != [16]byte{} && snap.TopicsByID[controller.TopicID(t.id)] == nil) || (t.id == [16]byte{} && t.name != nil && snap.Topics[*t.name] == nil) {
			// Perhaps created through another broker just now.
			snap = b.syncMetadata(ctx)
			break
		}
	}
	var rev int64
	deleting := map[string]bool{}
	mq := b.mutationQuotaFor(cc, req, deleteTopicsStrictQuotaVersion) // quotas.go
	for _, t := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.name, t.id
		rt.ErrorCode, rt.ErrorMessage = b.deleteOne(ctx, cc, snap, req.Version, t.name, t.id, names, ids, deleting, &rt, &rev, mq)
		resp.Topics = append(resp.Topics, rt)
	}
	if err := b.waitVisible(ctx, rev); err != nil {
		b.log.Warn("deleted topics not gone in time", zap.Int64("revision", rev), zap.Error(err))
		for i := range resp.Topics {
			if resp.Topics[i].ErrorCode == 0 {
				resp.Topics[i].ErrorCode, resp.Topics[i].ErrorMessage = timeoutError("topic deletion", err)
			}
		}
	}
	return network.Response{Msg: resp, Throttle: mq.throttle}, nil
}

// deleteOne deletes one requested topic, filling in the name or id the
// response echoes, and returns the error code and message.
func (b *Broker) deleteOne(ctx context.Context, cc *network.ConnContext, snap *controller.Snapshot, version int16, name *string, id [16]byte,
	names map[string]int, ids map[[16]byte]int, deleting map[string]bool, rt *kmsg.DeleteTopicsResponseTopic, rev *int64, mq *mutationQuota,
) (int16, *string) {
	if !b.cfg.DeleteTopicEnable {
		if version < 3 {
			return codeMsg(kerr.InvalidRequest, "Topic deletion is disabled.")
		}
		return codeMsg(kerr.TopicDeletionDisabled, "Topic deletion is disabled.")
	}
	var t *controller.Topic
	switch {
	case id != [16]byte{}:
		if ids[id] > 1 {
			return codeMsg(kerr.InvalidRequest, "Duplicate topic id.")
		}
		t = snap.TopicsByID[controller.TopicID(id)]
		if t == nil {
			return codeMsg(kerr.UnknownTopicID, fmt.Sprintf("Topic id %s does not exist.", controller.TopicID(id)))
		}
		// Kafka: the name of an id only to who may describe it.
		if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Name) {
			return kerr.TopicAuthorizationFailed.Code, nil
		}
		if !b.authorize(cc, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, t.Name) {
			n := t.Name
			rt.Topic = &n
			return kerr.TopicAuthorizationFailed.Code, nil
		}
		n := t.Name
		rt.Topic = &n
	case name == nil:
		return codeMsg(kerr.InvalidRequest, "Neither a topic name nor a topic id was given.")
	default:
		if names[*name] > 1 {
			return codeMsg(kerr.InvalidRequest, "Duplicate topic name.")
		}
		if !b.authorize(cc, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, *name) {
			// Whether or not it exists, as Kafka.
			return kerr.TopicAuthorizationFailed.Code, nil
		}
		t = snap.Topics[*name]
		if t == nil {
			if err := validateTopicName(*name); err != nil {
				return codeMsg(kerr.InvalidTopicException, err.Error())
			}
			return codeMsg(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
		}
		if version >= 6 {
			rt.TopicID = t.ID
		}
	}
	if deleting[t.Name] {
		// Named once and identified once in the same request.
		return codeMsg(kerr.InvalidRequest, "The provided topic name maps to an ID that was already supplied.")
	}
	deleting[t.Name] = true
	if isInternalTopic(t) {
		return codeMsg(kerr.InvalidRequest, fmt.Sprintf("Topic %s is an internal topic and cannot be deleted.", t.Name))
	}
	if err := mq.record(len(t.Partitions)); err != nil {
		return adminError(err)
	}
	wrev, err := b.ctrl.DeleteTopic(ctx, t.Name)
	if err != nil {
		return adminError(err)
	}
	b.log.Info("deleted topic", zap.String("topic", t.Name))
	*rev = max(*rev, wrev)
	return 0, nil
}
