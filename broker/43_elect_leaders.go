package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const electLeadersMaxVersion = 2

// ElectLeaders (key 43), v0–v2 (v0 is always a preferred election).
//
//   - preferred (type 0): the first replica of the assignment becomes
//     leader if it is live and in the ISR (else
//     PREFERRED_LEADER_NOT_AVAILABLE); ELECTION_NOT_NEEDED if it already
//     leads.
//   - unclean (type 1): only for a partition whose leader is gone: the
//     first live ISR member leads, else the first live replica with an ISR
//     of itself (the data it lacks is lost, which is what the caller asked
//     for); ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is live;
//     ELECTION_NOT_NEEDED when the leader is live.
//
// Each election is a compare-and-swap of the partition state with the
// leader epoch bumped, written by whichever broker receives the request
// (the controller loop runs on one broker, but every write is guarded the
// same way, so it need not be the controller). With no topics listed,
// every partition is considered and only the ones elected, or failing
// otherwise than ELECTION_NOT_NEEDED, are reported (as Kafka does). The
// answer comes once this broker's metadata shows the writes.
func (b *Broker) handleElectLeaders(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ElectLeadersRequest)
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	if !b.authorizeCluster(cc, kmsg.ACLOperationAlter) {
		// Kafka: the error at the top and on every partition asked for.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, t := range r.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return network.Response{Msg: resp}, nil
	}
	unclean := r.Version >= 1 && r.ElectionType == 1
	if r.Version >= 1 && r.ElectionType != 0 && r.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return network.Response{Msg: resp}, nil
	}
	timeout := time.Duration(max(r.TimeoutMillis, 1000)) * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	snap := b.ctrl.Snapshot()
	all := r.Topics == nil
	type tp struct {
		topic string
		part  int32
	}
	var order []tp
	if all {
		for name, t := range snap.Topics {
			for _, p := range t.Partitions {
				order = append(order, tp{name, p.Index})
			}
		}
	} else {
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				order = append(order, tp{t.Topic, p})
			}
		}
	}
	var lastRev int64
	results := map[string][]kmsg.ElectLeadersResponseTopicPartition{}
	var topics []string
	for _, x := range order {
		rev, err := b.electOne(ctx, x.topic, x.part, unclean)
		lastRev = max(lastRev, rev)
		if all && errors.Is(err, kerr.ElectionNotNeeded) {
			continue
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = x.part
		rp.ErrorCode = errorCode(err)
		rp.ErrorMessage = errorMessage(err)
		if _, ok := results[x.topic]; !ok {
			topics = append(topics, x.topic)
		}
		results[x.topic] = append(results[x.topic], rp)
	}
	for _, name := range topics {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = name
		rt.Partitions = results[name]
		resp.Topics = append(resp.Topics, rt)
	}
	if lastRev > 0 {
		_ = b.ctrl.WaitRevision(ctx, lastRev)
	}
	return network.Response{Msg: resp}, nil
}

// electOne elects a leader for one partition and returns the revision of
// the write (0 when nothing was written).
func (b *Broker) electOne(ctx context.Context, topic string, part int32, unclean bool) (int64, error) {
	for attempt := 0; ; attempt++ {
		snap := b.ctrl.Snapshot()
		t := snap.Topics[topic]
		if t == nil || t.Partition(part) == nil {
			return 0, kerr.UnknownTopicOrPartition
		}
		p := *t.Partition(part)
		np, err := electFor(p, snap.Brokers, unclean)
		if err != nil {
			return 0, err
		}
		rev, err := b.ctrl.UpdatePartition(ctx, topic, np)
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, controller.ErrStalePartition) || attempt >= 5 {
			if !errors.Is(err, controller.ErrStalePartition) {
				err = fmt.Errorf("%w: writing the election to etcd: %v", kerr.RequestTimedOut, err)
			}
			return 0, err
		}
		if err := b.ctrl.WaitRevision(ctx, snap.Revision+1); err != nil {
			return 0, fmt.Errorf("%w: %v", kerr.RequestTimedOut, err)
		}
	}
}

// electFor is the state p should get under a preferred (unclean false) or
// unclean election, or the error Kafka answers. A broker counts as live
// only if it is registered and not restarted since the state counted it
// (controller.Snapshot.Eligible); the new leader's broker epoch is
// recorded with it.
func electFor(p controller.Partition, brokers map[int32]controller.BrokerInfo, unclean bool) (controller.Partition, error) {
	s := &controller.Snapshot{Brokers: brokers}
	isLive := func(id int32) bool { return s.Eligible(p, id) }
	np := p
	lead := func(id int32) {
		np.Leader = id
		np.LeaderEpoch = p.LeaderEpoch + 1
		np.LeaderBrokerEpoch = s.BrokerEpoch(id)
	}
	if !unclean {
		if len(p.Replicas) == 0 {
			return p, kerr.PreferredLeaderNotAvailable
		}
		pref := p.Replicas[0]
		if p.Leader == pref {
			return p, kerr.ElectionNotNeeded
		}
		if !isLive(pref) || !slices.Contains(p.ISR, pref) {
			return p, fmt.Errorf("%w: preferred replica %d is not live and in the ISR %v", kerr.PreferredLeaderNotAvailable, pref, p.ISR)
		}
		lead(pref)
		return np, nil
	}
	if p.Leader >= 0 && isLive(p.Leader) {
		return p, kerr.ElectionNotNeeded
	}
	for _, id := range p.Replicas {
		if isLive(id) && slices.Contains(p.ISR, id) {
			lead(id)
			np.ISR = slices.DeleteFunc(slices.Clone(p.ISR), isNot(isLive))
			return np, nil
		}
	}
	for _, id := range p.Replicas {
		if isLive(id) {
			lead(id)
			np.ISR = []int32{id}
			return np, nil
		}
	}
	return p, kerr.EligibleLeadersNotAvailable
}

func isNot(f func(int32) bool) func(int32) bool { return func(id int32) bool { return !f(id) } }
