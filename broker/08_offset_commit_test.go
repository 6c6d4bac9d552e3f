package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetCommitUnknownTopic: as Kafka's KafkaApis, OffsetCommit answers
// a topic that does not exist, or a partition past its count, with
// UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID for an unknown id at v10),
// commits the rest, and lists every partition in request order.
func TestOffsetCommitUnknownTopic(t *testing.T) {
	tb := startTestBroker(t)
	dataTopic(t, tb, "known", 2, nil)
	ctx := testCtx(t)

	commit := func(version int16, topics ...kmsg.OffsetCommitRequestTopic) *kmsg.OffsetCommitResponse {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = version
		req.Group = "commit-group"
		req.Generation = -1
		req.Topics = topics
		resp, err := req.RequestWith(ctx, tb.pinnedClient(t, 8, version))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	topic := func(name string, id [16]byte, parts ...int32) kmsg.OffsetCommitRequestTopic {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = name, id
		for _, p := range parts {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = p, 7
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}

	resp := commit(9, topic("nope", [16]byte{}, 0, 1), topic("known", [16]byte{}, 0, 99, 1))
	want := [][]*kerr.Error{{kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition}, {nil, kerr.UnknownTopicOrPartition, nil}}
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != "nope" || resp.Topics[1].Topic != "known" {
		t.Fatalf("topics %+v", resp.Topics)
	}
	for ti, rt := range resp.Topics {
		if len(rt.Partitions) != len(want[ti]) {
			t.Fatalf("%s: %d partitions answered, want %d", rt.Topic, len(rt.Partitions), len(want[ti]))
		}
		for pi, rp := range rt.Partitions {
			if got := kerr.ErrorForCode(rp.ErrorCode); !errors.Is(got, want[ti][pi]) && !(got == nil && want[ti][pi] == nil) {
				t.Errorf("%s/%d: %v, want %v", rt.Topic, rp.Partition, got, want[ti][pi])
			}
		}
	}
	// The valid partitions were committed.
	fetched, err := tb.admin(t).FetchOffsets(ctx, "commit-group")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{0, 1} {
		if o, ok := fetched.Lookup("known", p); !ok || o.At != 7 {
			t.Errorf("known/%d committed %+v (%v), want 7", p, o, ok)
		}
	}
	if _, ok := fetched.Lookup("known", 99); ok {
		t.Error("known/99 committed")
	}

	// v10 names topics by id.
	id := tb.ctrl.Snapshot().Topics["known"].ID
	resp = commit(10, topic("", [16]byte{1, 2, 3}, 0), topic("", id, 0))
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.UnknownTopicID.Code {
		t.Errorf("unknown topic id: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(c))
	}
	if c := resp.Topics[1].Partitions[0].ErrorCode; c != 0 {
		t.Errorf("known topic id: %v", kerr.ErrorForCode(c))
	}
}

// TestJoinGroupEmptyGroupIDKafkaGo: kafka-go's JoinGroup with an empty group
// id gets INVALID_GROUP_ID even when its session timeout is out of range:
// Kafka checks the group id first.
func TestJoinGroupEmptyGroupIDKafkaGo(t *testing.T) {
	tb := startTestBroker(t)
	cl := &kafka.Client{Addr: kafka.TCP(tb.addr), Transport: kafkaGoTransport(t)}
	resp, err := cl.JoinGroup(testCtx(t), &kafka.JoinGroupRequest{
		GroupID:          "",
		SessionTimeout:   time.Millisecond, // below group.min.session.timeout.ms
		RebalanceTimeout: time.Second,
		ProtocolType:     "consumer",
		Protocols:        []kafka.GroupProtocol{{Name: "range", Metadata: kafka.GroupProtocolSubscription{Topics: []string{"t"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(resp.Error, kafka.InvalidGroupId) {
		t.Errorf("JoinGroup with an empty group id: %v, want %v", resp.Error, kafka.InvalidGroupId)
	}
}
