package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const alterPartitionReassignmentsMaxVersion = 1

// AlterPartitionReassignments (key 45), v0–v1 (KIP-455; v1 adds KIP-860's
// AllowReplicationFactorChange).
//
// A reassignment is written into the partition state in etcd (see
// docs/etcd-keys.md): Replicas becomes the target followed by the replicas
// being removed, with Adding (target − current) and Removing (current −
// target) listed beside it, and the ISR and leader unchanged. Brokers
// named in Replicas create the log and start following at once (their
// metadata watch feeds replica.Manager.Apply); the leader adds them to the ISR
// when they catch up; the controller loop then completes the reassignment
// (controller.completeReassignment): Replicas = target, removed replicas
// leave the ISR, a removed leader hands over to the first target replica
// in the ISR, and the removed brokers delete their logs.
//
// As in Kafka's KRaft controller, a new target for a partition already
// being reassigned starts from the current Replicas (adding ones
// included). A null target cancels: the adding replicas leave Replicas and
// the ISR (NO_REASSIGNMENT_IN_PROGRESS when there is none), and if one of
// them led, the first remaining ISR member leads. A target that is empty,
// names a broker twice or names an unregistered broker is
// INVALID_REPLICA_ASSIGNMENT; a size change with
// AllowReplicationFactorChange false is INVALID_REPLICATION_FACTOR.
//
// Every write is a compare-and-swap of the partition state, bounded by the
// request's timeout; an unreachable etcd answers REQUEST_TIMED_OUT with
// the etcd error. The answer comes once this broker's metadata shows the
// writes.
func (b *Broker) handleAlterPartitionReassignments(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	if !b.authorizeCluster(cc, kmsg.ACLOperationAlter) {
		// As Kafka's error response: the error at the top and on every
		// partition asked for.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, t := range r.Topics {
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return network.Response{Msg: resp}, nil
	}
	resp.AllowReplicationFactorChange = r.AllowReplicationFactorChange
	allowRF := r.Version < 1 || r.AllowReplicationFactorChange
	ctx, cancel := context.WithTimeout(ctx, adminTimeout(r.TimeoutMillis))
	defer cancel()

	var lastRev int64
	for _, t := range r.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rev, err := b.reassignOne(ctx, t.Topic, p.Partition, p.Replicas, allowRF)
			lastRev = max(lastRev, rev)
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = errorCode(err)
			rp.ErrorMessage = errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if lastRev > 0 {
		_ = b.ctrl.WaitRevision(ctx, lastRev)
	}
	return network.Response{Msg: resp}, nil
}

// reassignOne starts (target non-nil) or cancels (target nil) the
// reassignment of one partition and returns the revision of the write (0
// when nothing was written).
func (b *Broker) reassignOne(ctx context.Context, topic string, part int32, target []int32, allowRF bool) (int64, error) {
	for attempt := 0; ; attempt++ {
		snap := b.ctrl.Snapshot()
		t := snap.Topics[topic]
		if t == nil || t.Partition(part) == nil {
			return 0, kerr.UnknownTopicOrPartition
		}
		p := *t.Partition(part)
		var np controller.Partition
		var err error
		if target == nil {
			np, err = cancelReassignment(p, snap)
		} else {
			np, err = startReassignment(p, target, snap.Brokers, allowRF)
		}
		if err != nil {
			return 0, err
		}
		if samePartitionState(np, p) {
			return 0, nil
		}
		rev, err := b.ctrl.UpdatePartition(ctx, topic, np)
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, controller.ErrStalePartition) || attempt >= 5 {
			if !errors.Is(err, controller.ErrStalePartition) && errorCode(err) == kerr.UnknownServerError.Code {
				err = fmt.Errorf("%w: writing the reassignment to etcd: %v", kerr.RequestTimedOut, err)
			}
			return 0, err
		}
		if err := b.ctrl.WaitRevision(ctx, snap.Revision+1); err != nil {
			return 0, fmt.Errorf("%w: %v", kerr.RequestTimedOut, err)
		}
	}
}

// startReassignment is p with a reassignment to target recorded.
func startReassignment(p controller.Partition, target []int32, live map[int32]controller.BrokerInfo, allowRF bool) (controller.Partition, error) {
	if len(target) == 0 {
		return p, fmt.Errorf("%w: the target replica list is empty", kerr.InvalidReplicaAssignment)
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return p, fmt.Errorf("%w: broker %d is listed twice in %v", kerr.InvalidReplicaAssignment, id, target)
		}
		if _, ok := live[id]; !ok {
			return p, fmt.Errorf("%w: broker %d is not registered", kerr.InvalidReplicaAssignment, id)
		}
	}
	// The assignment before any reassignment in progress decides whether
	// the replication factor changes.
	orig := without(p.Replicas, p.Adding)
	if !allowRF && len(target) != len(orig) {
		return p, fmt.Errorf("%w: the reassignment changes the replication factor from %d to %d", kerr.InvalidReplicationFactor, len(orig), len(target))
	}
	np := p
	np.Adding = without(target, p.Replicas)
	np.Removing = without(p.Replicas, target)
	np.Replicas = append(slices.Clone(target), np.Removing...)
	if len(np.Adding) == 0 && len(np.Removing) == 0 {
		np.Adding, np.Removing = nil, nil
	}
	return np, nil
}

// cancelReassignment is p with its reassignment reverted.
func cancelReassignment(p controller.Partition, snap *controller.Snapshot) (controller.Partition, error) {
	if len(p.Adding) == 0 && len(p.Removing) == 0 {
		return p, kerr.NoReassignmentInProgress
	}
	np := p
	np.Replicas = without(p.Replicas, p.Adding)
	np.ISR = without(p.ISR, p.Adding)
	if len(np.ISR) == 0 {
		// Only adding replicas were in sync (the originals all fell
		// out): keep the leader's view rather than an empty ISR; the
		// controller elects among the originals as usual.
		np.ISR = slices.Clone(np.Replicas)
	}
	np.Adding, np.Removing = nil, nil
	if slices.Contains(p.Adding, p.Leader) {
		np.Leader = -1
		for _, id := range np.Replicas {
			if slices.Contains(np.ISR, id) {
				np.Leader = id
				break
			}
		}
		np.LeaderEpoch = p.LeaderEpoch + 1
		np.LeaderBrokerEpoch = snap.BrokerEpoch(np.Leader)
	}
	return np, nil
}

// without is a minus b, in a's order.
func without(a, b []int32) []int32 {
	var out []int32
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}

func samePartitionState(a, b controller.Partition) bool {
	return slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) && a.Leader == b.Leader &&
		a.LeaderEpoch == b.LeaderEpoch && a.LeaderBrokerEpoch == b.LeaderBrokerEpoch && slices.Equal(a.Adding, b.Adding) && slices.Equal(a.Removing, b.Removing)
}
