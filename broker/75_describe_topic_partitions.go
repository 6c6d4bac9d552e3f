package broker

import (
	"context"
	"slices"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeTopicPartitionsMaxVersion is the highest DescribeTopicPartitions
// version served.
const describeTopicPartitionsMaxVersion int16 = 0

// maxDescribePartitions is Kafka's max.request.partition.size.limit
// default: the most partitions one DescribeTopicPartitions answer holds.
const maxDescribePartitions = 2000

// handleDescribeTopicPartitions answers DescribeTopicPartitions v0
// (KIP-966), which the Java AdminClient tries before Metadata. Topics are
// answered in name order — all of them when the request names none — with
// at most ResponsePartitionLimit partitions (clamped to 1..2000) in all.
// When the limit cuts the answer short, NextCursor names the topic and
// partition to continue from; a request's Cursor resumes there. Unknown
// named topics are UNKNOWN_TOPIC_OR_PARTITION; a cursor topic that is not
// among the named topics is INVALID_REQUEST, as in Kafka. Partitions carry
// no eligible leader replicas (Runnel has no ELR).
func (b *Broker) handleDescribeTopicPartitions(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeTopicPartitionsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	snap := b.ctrl.Snapshot()

	all := len(r.Topics) == 0
	var cursorTopic string
	var cursorPartition int32
	if r.Cursor != nil {
		cursorTopic, cursorPartition = r.Cursor.Topic, max(r.Cursor.Partition, 0)
	}

	var names []string
	mayDescribe := func(name string) bool {
		return b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
	}
	if all {
		// Topics the principal may not describe are left out, as Kafka.
		for _, name := range sortedTopicNames(snap) {
			if mayDescribe(name) {
				names = append(names, name)
			}
		}
	} else {
		seen := map[string]bool{}
		for _, t := range r.Topics {
			if !seen[t.Topic] {
				seen[t.Topic] = true
				names = append(names, t.Topic)
			}
		}
		slices.Sort(names)
		if r.Cursor != nil && !seen[cursorTopic] {
			// Kafka fails the whole request: every topic gets the error.
			for _, name := range names {
				rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				n := name
				rt.Topic, rt.ErrorCode = &n, kerr.InvalidRequest.Code
				rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
				resp.Topics = append(resp.Topics, rt)
			}
			return network.Response{Msg: resp}, nil
		}
	}

	remaining := int(min(max(r.ResponsePartitionLimit, 1), maxDescribePartitions))
	resp.Topics = []kmsg.DescribeTopicPartitionsResponseTopic{}
	for _, name := range names {
		if name < cursorTopic {
			continue
		}
		if remaining == 0 {
			// The previous topic filled the answer exactly: continue
			// from the start of this one.
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
			break
		}
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		n := name
		rt.Topic = &n
		rt.AuthorizedOperations = b.authorizedOperations(cc, kmsg.ACLResourceTypeTopic, name)
		rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
		if !all && !mayDescribe(name) {
			// As Kafka: a topic the principal may not describe gets no
			// operations computed ("omitted").
			rt.AuthorizedOperations = authorizedOperationsOmitted
			rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		t := snap.Topics[name]
		if t == nil {
			if all {
				continue
			}
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if validateTopicName(name) != nil {
				rt.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		rt.TopicID = t.ID
		rt.IsInternal = isInternalTopic(t)
		start := int32(0)
		if name == cursorTopic {
			start = cursorPartition
		}
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if p.Index < start {
				continue
			}
			if remaining == 0 {
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: p.Index}
				break
			}
			pv := viewPartition(snap, p, cc.Listener)
			rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			rp.ErrorCode, rp.Partition = pv.errCode, p.Index
			rp.LeaderID, rp.LeaderEpoch = pv.leader, pv.epoch
			rp.Replicas, rp.ISR, rp.OfflineReplicas = pv.replicas, pv.isr, pv.offline
			rp.EligibleLeaderReplicas, rp.LastKnownELR = []int32{}, []int32{}
			rt.Partitions = append(rt.Partitions, rp)
			remaining--
		}
		resp.Topics = append(resp.Topics, rt)
		if resp.NextCursor != nil {
			break
		}
	}
	return network.Response{Msg: resp}, nil
}
