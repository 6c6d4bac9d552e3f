package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit (key 8) is answered by the group coordinator (groups.go),
// after the check Kafka's KafkaApis makes first: a partition of a topic
// that does not exist, or past the topic's partition count, gets
// UNKNOWN_TOPIC_OR_PARTITION (a topic id that names no topic, from v10,
// UNKNOWN_TOPIC_ID) and never reaches the coordinator; librdkafka treats
// that answer as final for the partition.
const offsetCommitMaxVersion int16 = 10

func (b *Broker) handleOffsetCommit(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	if !b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, r.Group) {
		// Kafka: every partition refused, nothing committed.
		return network.Response{Msg: offsetCommitRefused(r, kerr.GroupAuthorizationFailed.Code)}, nil
	}
	mayRead := func(topic string) bool {
		return b.authorize(cc, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, topic)
	}
	return network.Response{Msg: b.offsetCommit(ctx, r, mayRead)}, nil
}

// offsetCommitRefused answers every partition of r with code.
func offsetCommitRefused(r *kmsg.OffsetCommitRequest, code int16) *kmsg.OffsetCommitResponse {
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// offsetCommit commits the partitions of existing topics that the client
// may read (READ on the topic, checked before existence as Kafka does) and
// answers the others with their error.
func (b *Broker) offsetCommit(ctx context.Context, r *kmsg.OffsetCommitRequest, mayRead func(topic string) bool) *kmsg.OffsetCommitResponse {
	snap := b.ctrl.Snapshot()
	type at struct{ topic, partition int }
	refused := map[at]int16{}
	known := *r
	known.Topics = nil
	for ti, t := range r.Topics {
		var topic *controller.Topic
		if r.Version >= 10 {
			topic = snap.TopicsByID[controller.TopicID(t.TopicID)]
		} else {
			topic = snap.Topics[t.Topic]
		}
		kt := t
		kt.Partitions = nil
		name := t.Topic
		if topic != nil {
			name = topic.Name
		}
		allowed := (r.Version >= 10 && topic == nil) || mayRead(name)
		for pi, p := range t.Partitions {
			switch {
			case !allowed:
				refused[at{ti, pi}] = kerr.TopicAuthorizationFailed.Code
			case topic == nil && r.Version >= 10:
				refused[at{ti, pi}] = kerr.UnknownTopicID.Code
			case topic == nil || topic.Partition(p.Partition) == nil:
				refused[at{ti, pi}] = kerr.UnknownTopicOrPartition.Code
			default:
				kt.Partitions = append(kt.Partitions, p)
			}
		}
		if len(kt.Partitions) > 0 {
			known.Topics = append(known.Topics, kt)
		}
	}
	if len(refused) == 0 {
		return b.groups.coord.OffsetCommit(ctx, r, b.groupTopicName)
	}
	// The coordinator's answer for the partitions it saw, by topic (name
	// or id) and partition; the response lists every partition of the
	// request in its order.
	type key struct {
		name      string
		id        [16]byte
		partition int32
	}
	answered := map[key]int16{}
	if len(known.Topics) > 0 {
		for _, t := range b.groups.coord.OffsetCommit(ctx, &known, b.groupTopicName).Topics {
			for _, p := range t.Partitions {
				answered[key{t.Topic, t.TopicID, p.Partition}] = p.ErrorCode
			}
		}
	}
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
	for ti, t := range r.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for pi, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			if code, ok := refused[at{ti, pi}]; ok {
				rp.ErrorCode = code
			} else {
				rp.ErrorCode = answered[key{t.Topic, t.TopicID, p.Partition}]
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
