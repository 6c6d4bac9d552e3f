package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords (key 21) moves a partition's log start up to the requested
// offset (-1 means the high watermark); whole segments below it are
// deleted. An offset above the HW, or negative other than -1, is
// OFFSET_OUT_OF_RANGE; a topic whose cleanup.policy lacks "delete" is
// POLICY_VIOLATION, as in Kafka. The low watermark answered is the new log
// start. Kafka waits for every replica's log start to follow; with
// replication that wait joins the replica's change channel like acks=all.
const deleteRecordsMaxVersion int16 = 2

func (b *Broker) handleDeleteRecords(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	snap := b.ctrl.Snapshot()
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		allowed := b.authorize(cc, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			low, err := int64(-1), error(kerr.TopicAuthorizationFailed)
			if allowed {
				low, err = b.deleteRecords(snap, rt.Topic, rp.Partition, rp.Offset)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return network.Response{Msg: resp}, nil
}

func (b *Broker) deleteRecords(snap *controller.Snapshot, topic string, partition int32, offset int64) (int64, error) {
	r, err := b.replicas.LeaderFor(snap, topic, partition)
	if err != nil {
		return -1, err
	}
	if !strings.Contains(r.Log().Config().CleanupPolicy, "delete") {
		return -1, fmt.Errorf("%w: records of %s-%d cannot be deleted under cleanup.policy=%s",
			kerr.PolicyViolation, topic, partition, r.Log().Config().CleanupPolicy)
	}
	hw := r.Log().HighWatermark()
	switch {
	case offset == -1:
		offset = hw
	case offset < 0 || offset > hw:
		return -1, kerr.OffsetOutOfRange
	}
	low, err := r.AdvanceLogStart(offset) // wakes fetch sessions, which report it
	if err != nil {
		return -1, err
	}
	return low, nil
}
