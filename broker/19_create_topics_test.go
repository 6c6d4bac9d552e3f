package broker

import (
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sarama's go-metrics meters start a goroutine that never ends; nil
// metrics keep goleak (TestMain) quiet. Tests do not read sarama metrics.
func init() { metrics.UseNilMetrics = true }

// saramaAdmin returns a sarama ClusterAdmin for the broker, closed at test
// end.
func (tb *testBroker) saramaAdmin(t *testing.T) sarama.ClusterAdmin {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "runnel-test"
	adm, err := sarama.NewClusterAdmin([]string{tb.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

func strPtr(s string) *string { return &s }

func TestCreateTopics(t *testing.T) {
	tb := startTestBroker(t, "num.partitions=3")
	ctx := testCtx(t)
	adm := tb.admin(t)

	t.Run("kadm", func(t *testing.T) {
		resp, err := adm.CreateTopic(ctx, -1, -1, map[string]*string{"retention.ms": strPtr("12345")}, "kadm-a")
		if err != nil || resp.Err != nil {
			t.Fatal(err, resp.Err, resp.ErrMessage)
		}
		if resp.NumPartitions != 3 || resp.ReplicationFactor != 1 || resp.ID == [16]byte{} {
			t.Fatalf("created %+v", resp)
		}
		// The response lists every topic config with its source.
		var found bool
		for _, c := range resp.Configs {
			if c.Key == "retention.ms" {
				found = c.Value != nil && *c.Value == "12345" && c.Source == kmsg.ConfigSourceDynamicTopicConfig
			}
		}
		if !found || len(resp.Configs) < 20 {
			t.Fatalf("configs %+v", resp.Configs)
		}
		// Metadata right after shows it (no lag).
		md, err := adm.Metadata(ctx, "kadm-a")
		if err != nil {
			t.Fatal(err)
		}
		td := md.Topics["kadm-a"]
		if td.Err != nil || len(td.Partitions) != 3 || td.ID != resp.ID {
			t.Fatalf("metadata %+v", td)
		}
		for _, p := range td.Partitions {
			if p.Leader != tb.ID() || len(p.Replicas) != 1 || len(p.ISR) != 1 {
				t.Fatalf("partition %+v", p)
			}
		}
		// Local logs exist once the answer is in.
		for p := int32(0); p < 3; p++ {
			if tb.logs.Get("kadm-a", p) == nil {
				t.Fatalf("no log for partition %d", p)
			}
		}

		resp, _ = adm.CreateTopic(ctx, 1, 1, nil, "kadm-a")
		if !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			t.Fatalf("re-create: %v", resp.Err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		add := func(name string, parts int32, rf int16, cfg map[string]string) {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
			for k, v := range cfg {
				c := kmsg.NewCreateTopicsRequestTopicConfig()
				c.Name, c.Value = k, strPtr(v)
				rt.Configs = append(rt.Configs, c)
			}
			req.Topics = append(req.Topics, rt)
		}
		add("dup", 1, 1, nil)
		add("dup", 1, 1, nil)
		add("bad/name", 1, 1, nil)
		add(strings.Repeat("x", 250), 1, 1, nil)
		add("zero-parts", 0, 1, nil)
		add("rf-too-big", 1, 3, nil)
		add("rf-zero", 1, 0, nil)
		add("bad-config", 1, 1, map[string]string{"retention.ms": "-5"})
		add("unknown-config", 1, 1, map[string]string{"no.such.key": "1"})
		add("ok", 2, 1, nil)
		resp, err := req.RequestWith(ctx, tb.client(t))
		if err != nil {
			t.Fatal(err)
		}
		want := []*kerr.Error{kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidTopicException, kerr.InvalidTopicException,
			kerr.InvalidPartitions, kerr.InvalidReplicationFactor, kerr.InvalidReplicationFactor, kerr.InvalidConfig, kerr.InvalidConfig, nil}
		if len(resp.Topics) != len(want) {
			t.Fatalf("%d topics answered", len(resp.Topics))
		}
		for i, rt := range resp.Topics {
			got := kerr.ErrorForCode(rt.ErrorCode)
			if (want[i] == nil) != (got == nil) || (want[i] != nil && !errors.Is(got, want[i])) {
				t.Errorf("%s: got %v, want %v", rt.Topic, got, want[i])
			}
			if got != nil && (rt.ErrorMessage == nil || *rt.ErrorMessage == "") {
				t.Errorf("%s: no error message", rt.Topic)
			}
		}
		if msg := resp.Topics[7].ErrorMessage; msg == nil || !strings.Contains(*msg, "retention.ms") {
			t.Errorf("bad-config message %v", msg)
		}
	})

	t.Run("validate only and assignments", func(t *testing.T) {
		resps, err := adm.ValidateCreateTopics(ctx, 4, 1, nil, "dry")
		if err != nil {
			t.Fatal(err)
		}
		if r := resps["dry"]; r.Err != nil || r.NumPartitions != 4 {
			t.Fatalf("validate: %+v", r)
		}
		if md, _ := adm.Metadata(ctx, "dry"); !errors.Is(md.Topics["dry"].Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("validate-only created the topic: %+v", md.Topics["dry"])
		}

		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "assigned", -1, -1
		for p := int32(0); p < 2; p++ {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, []int32{tb.ID()}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		bad := rt
		bad.Topic = "assigned-bad"
		bad.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{99}}}
		req.Topics = append(req.Topics, bad)
		resp, err := req.RequestWith(ctx, tb.client(t))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Topics[0].ErrorCode != 0 || resp.Topics[0].NumPartitions != 2 {
			t.Fatalf("assigned: %+v", resp.Topics[0])
		}
		if resp.Topics[1].ErrorCode != kerr.InvalidReplicaAssignment.Code {
			t.Fatalf("assigned-bad: %+v", resp.Topics[1])
		}
	})

	t.Run("sarama", func(t *testing.T) {
		sa := tb.saramaAdmin(t)
		err := sa.CreateTopic("sarama-a", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
			ConfigEntries: map[string]*string{"cleanup.policy": strPtr("compact")}}, false)
		if err != nil {
			t.Fatal(err)
		}
		err = sa.CreateTopic("sarama-a", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false)
		if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			t.Fatalf("re-create: %v", err)
		}
		err = sa.CreateTopic("bad name", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
		if !errors.Is(err, sarama.ErrInvalidTopic) {
			t.Fatalf("bad name: %v", err)
		}
		err = sa.CreateTopic("sarama-bad-config", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
			ConfigEntries: map[string]*string{"cleanup.policy": strPtr("sometimes")}}, false)
		if !errors.Is(err, sarama.ErrInvalidConfig) {
			t.Fatalf("bad config: %v", err)
		}
		if err := sa.CreateTopic("sarama-dry", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, true); err != nil {
			t.Fatal(err)
		}
		topics, err := sa.ListTopics()
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := topics["sarama-a"]; !ok || d.NumPartitions != 2 || d.ConfigEntries["cleanup.policy"] == nil {
			t.Fatalf("listed %+v", topics)
		}
		if _, ok := topics["sarama-dry"]; ok {
			t.Fatal("validate-only topic was created")
		}
		md, err := sa.DescribeTopics([]string{"sarama-a", "sarama-missing"})
		if err != nil {
			t.Fatal(err)
		}
		if len(md) != 2 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 2 || md[1].Err != sarama.ErrUnknownTopicOrPartition {
			t.Fatalf("described %+v %+v", md[0], md[1])
		}
	})
}
