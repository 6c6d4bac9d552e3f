package broker

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDeleteTopics(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, "a", "b", "c", "d", "e"); err != nil {
		t.Fatal(err)
	}

	t.Run("kadm by name", func(t *testing.T) {
		resps, err := adm.DeleteTopics(ctx, "a", "missing")
		if err != nil {
			t.Fatal(err)
		}
		if resps["a"].Err != nil || !errors.Is(resps["missing"].Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("%+v", resps)
		}
		// Gone from metadata and from disk once answered.
		if _, ok := tb.ctrl.Snapshot().Topics["a"]; ok {
			t.Fatal("topic still in metadata")
		}
		if tb.logs.Get("a", 0) != nil {
			t.Fatal("log still open")
		}
	})

	t.Run("by id and duplicates", func(t *testing.T) {
		id := tb.ctrl.Snapshot().Topics["b"].ID
		req := kmsg.NewPtrDeleteTopicsRequest()
		byID := kmsg.NewDeleteTopicsRequestTopic()
		byID.TopicID = id
		unknownID := kmsg.NewDeleteTopicsRequestTopic()
		unknownID.TopicID = [16]byte{9}
		dup := kmsg.NewDeleteTopicsRequestTopic()
		dup.Topic = kmsg.StringPtr("c")
		req.Topics = []kmsg.DeleteTopicsRequestTopic{byID, unknownID, dup, dup}
		resp, err := req.RequestWith(ctx, tb.client(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 4 {
			t.Fatalf("%d answers", len(resp.Topics))
		}
		if r := resp.Topics[0]; r.ErrorCode != 0 || r.Topic == nil || *r.Topic != "b" {
			t.Fatalf("by id: %+v", r)
		}
		if r := resp.Topics[1]; r.ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("unknown id: %+v", r)
		}
		for _, r := range resp.Topics[2:] {
			if r.ErrorCode != kerr.InvalidRequest.Code {
				t.Fatalf("duplicate: %+v", r)
			}
		}
		if _, ok := tb.ctrl.Snapshot().Topics["c"]; !ok {
			t.Fatal("duplicated topic was deleted")
		}
	})

	t.Run("internal", func(t *testing.T) {
		// An internal topic cannot be deleted.
		if _, rev, err := tb.ctrl.CreateTopic(ctx, createSpec("__consumer_offsets", 1, true), false); err != nil {
			t.Fatal(err)
		} else if err := tb.ctrl.WaitRevision(ctx, rev); err != nil {
			t.Fatal(err)
		}
		resps, err := adm.DeleteTopics(ctx, "__consumer_offsets")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(resps["__consumer_offsets"].Err, kerr.InvalidRequest) {
			t.Fatalf("%+v", resps)
		}
		md := metadataFor(t, tb, 12, false, "__consumer_offsets")
		if !md.Topics[0].IsInternal {
			t.Fatal("internal topic not flagged internal")
		}
	})

	t.Run("sarama", func(t *testing.T) {
		sa := tb.saramaAdmin(t)
		if err := sa.DeleteTopic("d"); err != nil {
			t.Fatal(err)
		}
		if err := sa.DeleteTopic("d"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Fatalf("second delete: %v", err)
		}
		topics, err := sa.ListTopics()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := topics["d"]; ok {
			t.Fatal("deleted topic listed")
		}
		if _, ok := topics["e"]; !ok {
			t.Fatal("topic e missing")
		}
	})
}

func TestDeleteTopicsDisabled(t *testing.T) {
	tb := startTestBroker(t, "delete.topic.enable=false")
	ctx := testCtx(t)
	adm := tb.admin(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "keep"); err != nil {
		t.Fatal(err)
	}
	resps, err := adm.DeleteTopics(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(resps["keep"].Err, kerr.TopicDeletionDisabled) {
		t.Fatalf("%+v", resps["keep"])
	}
	if _, ok := tb.ctrl.Snapshot().Topics["keep"]; !ok {
		t.Fatal("deleted anyway")
	}
}
