package broker

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func metadataFor(t *testing.T, tb *testBroker, version int16, auto bool, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.AllowAutoTopicCreation = auto
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	for _, n := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(testCtx(t), tb.pinnedClient(t, 3, version))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// pinnedClient is a client that sends API key at most at version.
func (tb *testBroker) pinnedClient(t *testing.T, key, version int16) *kgo.Client {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(key, version)
	return tb.client(t, kgo.MaxVersions(vs))
}

func TestMetadata(t *testing.T) {
	tb := startTestBroker(t, "num.partitions=2")
	ctx := testCtx(t)
	if r, err := tb.admin(t).CreateTopic(ctx, 3, 1, nil, "known"); err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}

	t.Run("brokers and topics", func(t *testing.T) {
		resp := metadataFor(t, tb, 12, false, "known")
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != tb.ID() || resp.ControllerID != tb.ID() || resp.ClusterID == nil {
			t.Fatalf("brokers %+v controller %d", resp.Brokers, resp.ControllerID)
		}
		if got := resp.Brokers[0].Host + ":" + itoa(resp.Brokers[0].Port); got != tb.addr {
			t.Fatalf("advertised %s, listening on %s", got, tb.addr)
		}
		rt := resp.Topics[0]
		if rt.ErrorCode != 0 || len(rt.Partitions) != 3 || rt.TopicID == [16]byte{} || rt.IsInternal {
			t.Fatalf("topic %+v", rt)
		}
		if rt.AuthorizedOperations != authorizedOperationsOmitted || resp.AuthorizedOperations != authorizedOperationsOmitted {
			t.Fatalf("authorized operations sent unasked: %d %d", rt.AuthorizedOperations, resp.AuthorizedOperations)
		}
		for i, p := range rt.Partitions {
			if p.Partition != int32(i) || p.Leader != tb.ID() || p.LeaderEpoch != 0 || len(p.ISR) != 1 || len(p.OfflineReplicas) != 0 {
				t.Fatalf("partition %+v", p)
			}
		}

		// By topic id (v12).
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		byID := kmsg.NewMetadataRequestTopic()
		byID.TopicID = rt.TopicID
		unknown := kmsg.NewMetadataRequestTopic()
		unknown.TopicID = [16]byte{1, 2, 3}
		req.Topics = []kmsg.MetadataRequestTopic{byID, unknown}
		req.IncludeTopicAuthorizedOperations = true
		resp2, err := req.RequestWith(ctx, tb.pinnedClient(t, 3, 12))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp2.Topics) != 2 || resp2.Topics[0].Topic == nil || *resp2.Topics[0].Topic != "known" ||
			resp2.Topics[1].ErrorCode != kerr.UnknownTopicID.Code || resp2.Topics[0].AuthorizedOperations != allTopicOperations {
			t.Fatalf("by id: %+v", resp2.Topics)
		}
	})

	t.Run("all topics", func(t *testing.T) {
		for _, v := range []int16{0, 1, 4, 9, 13} {
			var resp *kmsg.MetadataResponse
			if v == 0 {
				resp = metadataFor(t, tb, v, false, []string{}...) // v0: empty list = all
			} else {
				resp = metadataFor(t, tb, v, true)
			}
			found := false
			for _, rt := range resp.Topics {
				found = found || (rt.Topic != nil && *rt.Topic == "known")
			}
			if !found {
				t.Fatalf("v%d: all-topics answer lacks the topic: %+v", v, resp.Topics)
			}
		}
		// An empty list (v1+) is no topics, and never auto-creates.
		if resp := metadataFor(t, tb, 9, true, []string{}...); len(resp.Topics) != 0 {
			t.Fatalf("empty list answered %d topics", len(resp.Topics))
		}
	})

	t.Run("unknown and invalid", func(t *testing.T) {
		resp := metadataFor(t, tb, 12, false, "nope", "bad name", "__internal-looking")
		want := []int16{kerr.UnknownTopicOrPartition.Code, kerr.InvalidTopicException.Code, kerr.UnknownTopicOrPartition.Code}
		for i, rt := range resp.Topics {
			if rt.ErrorCode != want[i] {
				t.Errorf("%s: code %d, want %d", *rt.Topic, rt.ErrorCode, want[i])
			}
		}
		// Allowed to auto-create, illegal and internal-looking names are still not created.
		resp = metadataFor(t, tb, 12, true, "bad name", "__internal-looking")
		if resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("%+v", resp.Topics)
		}
		if _, ok := tb.ctrl.Snapshot().Topics["__internal-looking"]; ok {
			t.Fatal("internal-looking topic auto-created")
		}
	})

	t.Run("auto-create", func(t *testing.T) {
		resp := metadataFor(t, tb, 12, true, "auto-v12")
		if rt := resp.Topics[0]; rt.ErrorCode != 0 || len(rt.Partitions) != 2 || rt.Partitions[0].Leader != tb.ID() {
			t.Fatalf("auto-created: %+v", rt)
		}
		// v0–v3 always auto-create.
		if rt := metadataFor(t, tb, 1, false, "auto-v1").Topics[0]; rt.ErrorCode != 0 || len(rt.Partitions) != 2 {
			t.Fatalf("v1 auto-create: %+v", rt)
		}
		// v4+ only when allowed.
		if rt := metadataFor(t, tb, 4, false, "not-auto").Topics[0]; rt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("v4 without permission: %+v", rt)
		}
	})

	t.Run("sarama auto-create", func(t *testing.T) {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cl, err := sarama.NewClient([]string{tb.addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.RefreshMetadata("sarama-auto"); err != nil {
			t.Fatal(err)
		}
		parts, err := cl.Partitions("sarama-auto")
		if err != nil || len(parts) != 2 {
			t.Fatalf("partitions %v %v", parts, err)
		}
		leader, err := cl.Leader("sarama-auto", 0)
		if err != nil || leader.ID() != tb.ID() {
			t.Fatalf("leader %v %v", leader, err)
		}
		cfg.Metadata.AllowAutoTopicCreation = false
		cl2, err := sarama.NewClient([]string{tb.addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cl2.Close()
		if err := cl2.RefreshMetadata("sarama-no-auto"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Fatalf("without auto-create: %v", err)
		}
	})

	t.Run("kgo produce auto-creates", func(t *testing.T) {
		if _, ok := tb.srv.Table().Range(0); !ok {
			t.Skip("Produce is not served yet")
		}
		cl := tb.client(t, kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("kgo-auto"))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if _, ok := tb.ctrl.Snapshot().Topics["kgo-auto"]; !ok {
			t.Fatal("topic not created")
		}
	})
}

func TestMetadataAutoCreateDisabled(t *testing.T) {
	tb := startTestBroker(t, "auto.create.topics.enable=false", "default.replication.factor=3")
	if rt := metadataFor(t, tb, 12, true, "t").Topics[0]; rt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", rt)
	}
	if _, ok := tb.ctrl.Snapshot().Topics["t"]; ok {
		t.Fatal("created")
	}
}

func TestMetadataAutoCreateReplicationFactor(t *testing.T) {
	// default.replication.factor above the live brokers: the topic cannot
	// be created and the client is told why.
	tb := startTestBroker(t, "default.replication.factor=3")
	if rt := metadataFor(t, tb, 12, true, "t").Topics[0]; rt.ErrorCode != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("%+v", rt)
	}
}
