package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch (key 23), v2 and up: for each partition, the largest
// leader epoch <= the requested one that the leader's epoch cache knows and
// the offset where the epoch after it starts (the log end for the latest
// epoch), or -1/-1 when unknown. Followers use it to truncate after a
// leader change (replica id >= 0, v3+); consumers (replica id -1) use it to
// detect log truncation (KIP-320). The client's current leader epoch is
// checked first (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH).
const offsetForLeaderEpochMaxVersion int16 = 4

func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	snap := b.ctrl.Snapshot()
	// A follower's request needs CLUSTER_ACTION, a consumer's DESCRIBE on
	// each topic; either way the refusal is per partition, as Kafka.
	follower := r.Version >= 3 && r.ReplicaID >= 0
	clusterAllowed := follower && b.authorizeCluster(cc, kmsg.ACLOperationClusterAction)
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		allowed := clusterAllowed || (!follower && b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			if !allowed {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			rep, _, err := b.leaderWithEpoch(snap, rt.Topic, rp.Partition, rp.CurrentLeaderEpoch)
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.LeaderEpoch, sp.EndOffset = rep.Log().EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return network.Response{Msg: resp}, nil
}
