package broker

import (
	"context"
	"fmt"
	"slices"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// createPartitionsMaxVersion is the highest CreatePartitions version served.
const createPartitionsMaxVersion int16 = 3

// handleCreatePartitions answers CreatePartitions v0–v3. Every requested
// topic is echoed in the answer, in request order, with its own result
// (clients match answers to topics by name and fail on a missing one): a
// topic named twice is INVALID_REQUEST, an unknown one
// UNKNOWN_TOPIC_OR_PARTITION, a count not above the current one
// INVALID_PARTITIONS, assignments of the wrong number or shape
// INVALID_REPLICA_ASSIGNMENT. ValidateOnly checks without changing
// anything. The answer waits until this broker's metadata shows the new
// partitions.
func (b *Broker) handleCreatePartitions(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	ctx, cancel := context.WithTimeout(ctx, adminTimeout(r.TimeoutMillis)) // etcd calls fail cleanly if etcd is unreachable
	defer cancel()
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)

	count := map[string]int{}
	for _, t := range r.Topics {
		count[t.Topic]++
	}
	snap := b.ctrl.Snapshot()
	for _, t := range r.Topics {
		if snap.Topics[t.Topic] == nil {
			snap = b.syncMetadata(ctx) // perhaps created through another broker just now
			break
		}
	}
	// As for CreateTopics, one request adds at most 10,000 partitions over
	// all its topics; over that every topic fails with Kafka's policy error
	// before anything is planned.
	var adding int64
	for _, t := range r.Topics {
		cur := int64(0)
		if st := snap.Topics[t.Topic]; st != nil {
			cur = int64(len(st.Partitions))
		}
		adding += max(0, int64(t.Count)-cur)
	}
	tooMany := adding > controller.MaxPartitionsPerRequest
	mq := b.mutationQuotaFor(cc, req, createPartitionsStrictQuotaVersion) // quotas.go
	var rev int64
	for _, t := range r.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var err error
		switch {
		case tooMany:
			err = controller.ErrTooManyPartitions
		case count[t.Topic] > 1:
			err = fmt.Errorf("%w: Duplicate topic in request.", kerr.InvalidRequest)
		case !b.authorize(cc, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic, t.Topic):
			err = kerr.TopicAuthorizationFailed
		case snap.Topics[t.Topic] == nil:
			err = fmt.Errorf("%w: The topic '%s' does not exist.", kerr.UnknownTopicOrPartition, t.Topic)
		case isInternalTopic(snap.Topics[t.Topic]):
			err = fmt.Errorf("%w: Cannot increase the number of partitions of internal topic %s.", kerr.InvalidRequest, t.Topic)
		case !r.ValidateOnly && t.Count > int32(len(snap.Topics[t.Topic].Partitions)):
			if err = mq.record(int(t.Count) - len(snap.Topics[t.Topic].Partitions)); err != nil {
				break
			}
			fallthrough
		default:
			var assignments [][]int32
			if t.Assignment != nil {
				assignments = make([][]int32, 0, len(t.Assignment))
				for _, a := range t.Assignment {
					assignments = append(assignments, slices.Clone(a.Replicas))
				}
			}
			var wrev int64
			wrev, err = b.ctrl.CreatePartitions(ctx, t.Topic, t.Count, assignments, r.ValidateOnly)
			if err == nil && !r.ValidateOnly {
				rev = max(rev, wrev)
				b.log.Info("created partitions", zap.String("topic", t.Topic), zap.Int32("count", t.Count))
			}
		}
		rt.ErrorCode, rt.ErrorMessage = adminError(err)
		resp.Topics = append(resp.Topics, rt)
	}
	if err := b.waitVisible(ctx, rev); err != nil && !r.ValidateOnly {
		b.log.Warn("created partitions not visible in time", zap.Int64("revision", rev), zap.Error(err))
		for i := range resp.Topics {
			if resp.Topics[i].ErrorCode == 0 {
				resp.Topics[i].ErrorCode, resp.Topics[i].ErrorMessage = timeoutError("partition creation", err)
			}
		}
	}
	return network.Response{Msg: resp, Throttle: mq.throttle}, nil
}
