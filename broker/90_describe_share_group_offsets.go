package broker

import (
	"context"
	"sort"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator/sharepart"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeShareGroupOffsets (key 90, KIP-932), v0-v1: each share-partition's
// start offset, read from its durable state (share_state.go), and from v1
// its lag: the high watermark less the start offset less the records past
// the start that are already acknowledged or archived. A partition the
// group has no state for is -1. Asked of the group's coordinator; DESCRIBE
// on the group, and on each topic (topics the client may not describe are
// TOPIC_AUTHORIZATION_FAILED). No topics means every topic the group was
// assigned.
const describeShareGroupOffsetsMaxVersion int16 = 1

func (b *Broker) handleDescribeShareGroupOffsets(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, g := range r.Groups {
		rg := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		rg.GroupID = g.GroupID
		rg.ErrorCode = b.describeShareGroupOffsets(ctx, cc, g, &rg)
		resp.Groups = append(resp.Groups, rg)
	}
	return network.Response{Msg: resp}, nil
}

func (b *Broker) describeShareGroupOffsets(ctx context.Context, cc *network.ConnContext, g kmsg.DescribeShareGroupOffsetsRequestGroup, rg *kmsg.DescribeShareGroupOffsetsResponseGroup) int16 {
	if !b.shareEnabled() {
		return kerr.UnsupportedVersion.Code
	}
	if !b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.GroupID) {
		return kerr.GroupAuthorizationFailed.Code
	}
	st, err := b.groups.coord.ShareGroupStatus(g.GroupID)
	if err != nil {
		return errorCode(err)
	}
	if st.OtherType {
		msg := "Group " + g.GroupID + " is not a share group."
		rg.ErrorMessage = &msg
		return kerr.GroupIDNotFound.Code
	}
	snap := b.ctrl.Snapshot()
	topics := g.Topics
	if topics == nil {
		for name := range st.Topics {
			t := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
			t.Topic = name
			if mt := snap.Topics[name]; mt != nil {
				for p := range mt.Partitions {
					t.Partitions = append(t.Partitions, int32(p))
				}
			}
			topics = append(topics, t)
		}
		sort.Slice(topics, func(i, j int) bool { return topics[i].Topic < topics[j].Topic })
	}
	for _, t := range topics {
		rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
		rt.Topic = t.Topic
		mt := snap.Topics[t.Topic]
		allowed := b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Topic)
		if mt != nil && allowed {
			rt.TopicID = [16]byte(mt.ID)
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
			rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = p, -1, -1, -1
			switch {
			case !allowed:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case mt == nil || mt.Partition(p) == nil:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				k := sharepart.Key{Group: g.GroupID, TopicID: [16]byte(mt.ID), Partition: p}
				rp.ErrorCode = b.describeSharePartition(ctx, snap, mt, k, &rp)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		rg.Topics = append(rg.Topics, rt)
	}
	return 0
}

// describeSharePartition fills a share-partition's start offset and lag
// from its durable state.
func (b *Broker) describeSharePartition(ctx context.Context, snap *controller.Snapshot, mt *controller.Topic, k sharepart.Key, rp *kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition) int16 {
	raw, _, found, err := b.shares.state.Read(ctx, k)
	if err != nil {
		return errorCode(err)
	}
	if !found {
		return 0
	}
	start, batches, err := sharepart.DecodeSnapshot(raw)
	if err != nil {
		return kerr.UnknownServerError.Code
	}
	if start == sharepart.UninitializedStart {
		return 0
	}
	rp.StartOffset = start
	if p := mt.Partition(k.Partition); p != nil {
		rp.LeaderEpoch = p.LeaderEpoch
	}
	if hw, ok := b.highWatermarkOf(snap, mt.Name, k.Partition); ok {
		done := int64(0)
		for _, sb := range batches {
			if sb.State == sharepart.Acknowledged || sb.State == sharepart.Archived {
				done += sb.Last - sb.First + 1
			}
		}
		rp.Lag = max(hw-start-done, 0)
	}
	return 0
}

// highWatermarkOf is the high watermark of a partition this broker leads,
// else the one its ListOffsets would give through the leader; ok is false
// when it is not known here.
func (b *Broker) highWatermarkOf(snap *controller.Snapshot, topic string, partition int32) (int64, bool) {
	rep, _, err := b.leaderWithEpoch(snap, topic, partition, -1)
	if err != nil {
		rep, err = b.replicas.Get(snap, topic, partition)
		if err != nil {
			return 0, false
		}
	}
	return rep.Log().HighWatermark(), true
}
