package broker

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShareFetchAckOnlyPartitionHasEmptyRecords: a member joins (its first
// ShareGroupHeartbeat answer carries its assignment, as Kafka's does),
// acquires records with ShareFetch, and acknowledges them on its next
// ShareFetch when nothing more is there. That response reports the
// partition for its acknowledgement outcome, with no records: Records must
// be empty, not null — it is non-nullable from ShareFetch v1, and Kafka's
// KafkaShareConsumer drops a response with a null one, stops consuming
// and hangs in close() waiting for the acknowledgements' outcome.
func TestShareFetchAckOnlyPartitionHasEmptyRecords(t *testing.T) {
	tb := startTestBroker(t, "group.share.enable=true")
	const topic, group, member, n = "sf-ack", "sf-g", "sf-member-1", 3
	dataTopic(t, tb, topic, 1, nil)
	ctx := testCtx(t)
	cl := tb.client(t, kgo.DefaultProduceTopic(topic))

	// share.auto.offset.reset=earliest for the group, then n records.
	ac := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Op, cfg.Name, cfg.Value = kmsg.IncrementalAlterConfigOpSet, "share.auto.offset.reset", kmsg.StringPtr("earliest")
	res.Configs = append(res.Configs, cfg)
	ac.Resources = append(ac.Resources, res)
	if r, err := ac.RequestWith(ctx, cl); err != nil || r.Resources[0].ErrorCode != 0 {
		t.Fatalf("group config: %v %+v", err, r)
	}
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// Join: the answer to the joining heartbeat carries the assignment.
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = group, member, 0, []string{topic}
	hr, err := hb.RequestWith(ctx, cl)
	if err != nil || hr.ErrorCode != 0 || hr.MemberEpoch < 1 || hr.Assignment == nil ||
		len(hr.Assignment.TopicPartitions) != 1 || len(hr.Assignment.TopicPartitions[0].Partitions) != 1 {
		t.Fatalf("joining heartbeat: %v %+v", err, hr)
	}
	topicID := hr.Assignment.TopicPartitions[0].TopicID

	fetch := func(epoch int32, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) kmsg.ShareFetchResponseTopicPartition {
		t.Helper()
		r := kmsg.NewPtrShareFetchRequest()
		r.SetVersion(1) // Kafka 4.1's version, the first with non-nullable Records
		r.GroupID, r.MemberID, r.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr(member), epoch
		r.MaxWaitMillis, r.MinBytes, r.MaxBytes, r.MaxRecords, r.BatchSize = 50, 1, 1<<20, 500, 500
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = topicID
		rp := kmsg.NewShareFetchRequestTopicPartition()
		rp.AcknowledgementBatches = acks
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		resp, err := r.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("ShareFetch epoch %d: %v %+v", epoch, err, resp)
		}
		return resp.Topics[0].Partitions[0]
	}
	p := fetch(0)
	if p.ErrorCode != 0 || len(p.Records) == 0 || len(p.AcquiredRecords) != 1 ||
		p.AcquiredRecords[0].FirstOffset != 0 || p.AcquiredRecords[0].LastOffset != n-1 {
		t.Fatalf("first ShareFetch: %+v", p)
	}

	// Accept them all; nothing is left to acquire.
	ack := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	ack.FirstOffset, ack.LastOffset, ack.AcknowledgeTypes = 0, n-1, []int8{1}
	p = fetch(1, ack)
	if p.ErrorCode != 0 || p.AcknowledgeErrorCode != 0 || len(p.AcquiredRecords) != 0 {
		t.Fatalf("acknowledging ShareFetch: %+v", p)
	}
	if p.Records == nil {
		t.Fatal("acknowledging ShareFetch: Records is null, want empty (non-nullable from v1)")
	}
	if len(p.Records) != 0 {
		t.Fatalf("acknowledging ShareFetch: %d bytes of records, want none", len(p.Records))
	}
}
