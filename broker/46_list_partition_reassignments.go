package broker

import (
	"context"
	"slices"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const listPartitionReassignmentsMaxVersion = 0

// ListPartitionReassignments (key 46), v0: the reassignments in progress
// (partitions whose state lists adding or removing replicas), from this
// broker's metadata. With no topics given every reassignment is listed;
// otherwise only the named partitions that are being reassigned, and
// unknown topics or partitions are left out (as Kafka's controller does).
func (b *Broker) handleListPartitionReassignments(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !b.authorizeCluster(cc, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	snap := b.ctrl.Snapshot()
	want := map[string][]int32{}
	var names []string
	if r.Topics == nil {
		for name := range snap.Topics {
			names = append(names, name)
		}
		slices.Sort(names)
	} else {
		for _, t := range r.Topics {
			if _, seen := want[t.Topic]; !seen {
				names = append(names, t.Topic)
			}
			want[t.Topic] = append(want[t.Topic], t.Partitions...)
		}
	}
	for _, name := range names {
		t := snap.Topics[name]
		if t == nil {
			continue
		}
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = name
		for _, p := range t.Partitions {
			if r.Topics != nil && !slices.Contains(want[name], p.Index) {
				continue
			}
			if len(p.Adding) == 0 && len(p.Removing) == 0 {
				continue
			}
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = p.Index
			rp.Replicas = slices.Clone(p.Replicas)
			rp.AddingReplicas = nonNilIDs(p.Adding)
			rp.RemovingReplicas = nonNilIDs(p.Removing)
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return network.Response{Msg: resp}, nil
}
