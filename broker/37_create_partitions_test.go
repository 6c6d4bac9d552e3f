package broker

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/runnel/runnel/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createSpec is a topic spec for tests that create topics through the
// controller directly.
func createSpec(name string, partitions int32, internal bool) controller.TopicSpec {
	return controller.TopicSpec{Name: name, NumPartitions: partitions, ReplicationFactor: 1, Internal: internal}
}

func TestCreatePartitions(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "grow", "grow2", "sgrow"); err != nil {
		t.Fatal(err)
	}

	t.Run("kadm", func(t *testing.T) {
		resps, err := adm.CreatePartitions(ctx, 2, "grow")
		if err != nil {
			t.Fatal(err)
		}
		if r := resps["grow"]; r.Err != nil {
			t.Fatalf("%+v", r)
		}
		md, err := adm.Metadata(ctx, "grow")
		if err != nil || len(md.Topics["grow"].Partitions) != 3 {
			t.Fatalf("after growing: %v %+v", err, md.Topics["grow"])
		}
		if tb.logs.Get("grow", 2) == nil {
			t.Fatal("new partition has no log")
		}
		resps, err = adm.ValidateUpdatePartitions(ctx, 10, "grow")
		if err != nil || resps["grow"].Err != nil {
			t.Fatalf("validate: %v %+v", err, resps)
		}
		if md, _ := adm.Metadata(ctx, "grow"); len(md.Topics["grow"].Partitions) != 3 {
			t.Fatal("validate-only changed the topic")
		}
	})

	t.Run("every topic is echoed", func(t *testing.T) {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 10000
		add := func(name string, count int32, assign ...[]int32) {
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = name, count
			for _, a := range assign {
				rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: a})
			}
			req.Topics = append(req.Topics, rt)
		}
		add("grow2", 1)                   // not above current
		add("missing", 4)                 // unknown
		add("grow2", 3, []int32{tb.ID()}) // named twice (and a wrong assignment count)
		add("sgrow", 3, []int32{tb.ID()}) // one assignment for two new partitions
		resp, err := req.RequestWith(ctx, tb.client(t))
		if err != nil {
			t.Fatal(err)
		}
		want := []*kerr.Error{kerr.InvalidRequest, kerr.UnknownTopicOrPartition, kerr.InvalidRequest, kerr.InvalidReplicaAssignment}
		if len(resp.Topics) != len(want) {
			t.Fatalf("%d of %d topics echoed", len(resp.Topics), len(want))
		}
		for i, rt := range resp.Topics {
			if rt.Topic != req.Topics[i].Topic || rt.ErrorCode != want[i].Code {
				t.Errorf("%d %s: code %d, want %v", i, rt.Topic, rt.ErrorCode, want[i])
			}
		}

		req.Topics = nil
		add("grow2", 1)
		resp, err = req.RequestWith(ctx, tb.client(t))
		if err != nil || resp.Topics[0].ErrorCode != kerr.InvalidPartitions.Code {
			t.Fatalf("same count: %v %+v", err, resp)
		}
	})

	t.Run("sarama", func(t *testing.T) {
		sa := tb.saramaAdmin(t)
		if err := sa.CreatePartitions("sgrow", 4, nil, false); err != nil {
			t.Fatal(err)
		}
		if err := sa.CreatePartitions("sgrow", 2, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
			t.Fatalf("shrink: %v", err)
		}
		md, err := sa.DescribeTopics([]string{"sgrow"})
		if err != nil || len(md[0].Partitions) != 4 {
			t.Fatalf("%v %+v", err, md)
		}
	})
}
