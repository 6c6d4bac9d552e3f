package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/runnel/runnel/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Helpers shared by the metadata and admin handlers (Metadata,
// CreateTopics, DeleteTopics, CreatePartitions, the config APIs,
// DescribeCluster, DescribeTopicPartitions).

// authorizedOperationsOmitted is the value of an "authorized operations"
// field the client did not ask for (Integer.MIN_VALUE in Kafka).
const authorizedOperationsOmitted int32 = -2147483648

// metadataWaitTimeout bounds how long an admin handler waits for its own
// write to reach the local metadata snapshot before answering.
const metadataWaitTimeout = 30 * time.Second

// adminError splits err into the error code and message an admin response
// carries. Controller errors wrap a *kerr.Error as "<kerr text>: detail";
// the message is the detail alone.
func adminError(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	msg := err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		if rest, ok := strings.CutPrefix(msg, ke.Error()+": "); ok {
			msg = rest
		}
	} else if errors.Is(err, context.DeadlineExceeded) {
		msg = "etcd (the cluster metadata store) did not complete the change within the request timeout: " + msg
	}
	return errorCode(err), &msg
}

// adminTimeout bounds an admin request's etcd work: its TimeoutMillis, or
// 30 s when it gives none. An unreachable etcd then answers
// REQUEST_TIMED_OUT instead of holding the request.
func adminTimeout(ms int32) time.Duration {
	if ms <= 0 {
		return 30 * time.Second
	}
	return time.Duration(ms) * time.Millisecond
}

// codeMsg is a code with a formatted message, for errors the handlers
// detect themselves.
func codeMsg(e *kerr.Error, msg string) (int16, *string) { return e.Code, &msg }

// waitMetadata waits until the local snapshot includes revision rev, so a
// response (or the client's next Metadata request to this broker) shows
// the change just made. A failure is logged, not returned: the change is
// made, and the snapshot catches up on its own.
func (b *Broker) waitMetadata(ctx context.Context, rev int64) {
	if err := b.waitVisible(ctx, rev); err != nil {
		b.log.Warn("waiting for metadata revision", zap.Int64("revision", rev), zap.Error(err))
	}
}

// waitVisible waits, within ctx and at most metadataWaitTimeout, until
// the local snapshot includes revision rev; CreateTopics, DeleteTopics and
// CreatePartitions answer only then, as Kafka answers once the change is
// visible, and answer REQUEST_TIMED_OUT (timeoutError) when it is not
// visible within the request's timeout.
func (b *Broker) waitVisible(ctx context.Context, rev int64) error {
	if rev <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, metadataWaitTimeout)
	defer cancel()
	if err := b.ctrl.WaitRevision(ctx, rev); err != nil {
		return err
	}
	// The replica set follows snapshots through a subscription that may
	// run a little later; applying here (idempotent) makes the change
	// reach this broker's partition logs — new logs, deleted logs, new
	// storage configs — before the client hears of it.
	b.replicas.Apply(b.ctrl.Snapshot())
	return nil
}

// timeoutError is the answer for a change made in etcd that this broker's
// metadata did not show within the request's timeout: Kafka's
// REQUEST_TIMED_OUT; the change itself stands and shows up later.
func timeoutError(what string, err error) (int16, *string) {
	return codeMsg(kerr.RequestTimedOut, fmt.Sprintf("The %s was made but did not become visible within the request timeout: %v", what, err))
}

// endpointFor returns broker id's advertised endpoint on the named
// listener, if the broker is live and has one.
func endpointFor(snap *controller.Snapshot, id int32, listener string) (controller.Endpoint, bool) {
	bi, ok := snap.Brokers[id]
	if !ok {
		return controller.Endpoint{}, false
	}
	for _, ep := range bi.Endpoints {
		if ep.Listener == listener {
			return ep, true
		}
	}
	return controller.Endpoint{}, false
}

// liveBrokerIDs are the registered brokers that advertise the listener,
// sorted by id.
func liveBrokerIDs(snap *controller.Snapshot, listener string) []int32 {
	ids := make([]int32, 0, len(snap.Brokers))
	for id := range snap.Brokers {
		if _, ok := endpointFor(snap, id, listener); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// controllerIDFor is the controller id clients are told: the elected
// controller if it is live on the listener, else (as Kafka 4 brokers do,
// since any broker forwards admin requests) the lowest live broker, or
// -1 with none.
func controllerIDFor(snap *controller.Snapshot, listener string) int32 {
	if _, ok := endpointFor(snap, snap.ControllerID, listener); ok {
		return snap.ControllerID
	}
	if ids := liveBrokerIDs(snap, listener); len(ids) > 0 {
		return ids[0]
	}
	return -1
}

// partitionView is one partition as Metadata and DescribeTopicPartitions
// report it: a leader that is not live on the listener is reported as -1
// with LEADER_NOT_AVAILABLE, and replicas of brokers that are not
// registered count as offline.
type partitionView struct {
	errCode  int16
	leader   int32
	epoch    int32
	replicas []int32
	isr      []int32
	offline  []int32
}

func viewPartition(snap *controller.Snapshot, p *controller.Partition, listener string) partitionView {
	v := partitionView{
		leader:   p.Leader,
		epoch:    p.LeaderEpoch,
		replicas: nonNilIDs(p.Replicas),
		isr:      nonNilIDs(p.ISR),
		offline:  []int32{},
	}
	if _, ok := endpointFor(snap, p.Leader, listener); !ok {
		v.leader = -1
		v.errCode = kerr.LeaderNotAvailable.Code
	}
	for _, r := range p.Replicas {
		_, live := snap.Brokers[r]
		if !live || slices.Contains(p.Offline, r) {
			v.offline = append(v.offline, r)
		}
	}
	return v
}

func nonNilIDs(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return slices.Clone(s)
}

// sortedTopicNames returns the snapshot's topic names in order.
func sortedTopicNames(snap *controller.Snapshot) []string {
	names := make([]string, 0, len(snap.Topics))
	for n := range snap.Topics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// isInternalTopic reports a topic that clients must see as internal.
func isInternalTopic(t *controller.Topic) bool {
	return t.Internal || isInternalTopicName(t.Name)
}
