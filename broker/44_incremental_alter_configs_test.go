package broker

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAlterConfigs(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "alt", "legacy", "sar"); err != nil {
		t.Fatal(err)
	}
	topicValue := func(t *testing.T, topic, key string) *kmsg.DescribeConfigsResponseResourceConfig {
		t.Helper()
		return configNamed(describeConfigs(t, tb, kmsg.ConfigResourceTypeTopic, topic, false, false).Configs, key)
	}
	alterOne := func(t *testing.T, topic string, cfgs ...kadm.AlterConfig) error {
		t.Helper()
		resps, err := adm.AlterTopicConfigs(ctx, cfgs, topic)
		if err != nil {
			t.Fatal(err)
		}
		return resps[0].Err
	}

	t.Run("incremental", func(t *testing.T) {
		if err := alterOne(t, "alt", kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: strPtr("1000")}); err != nil {
			t.Fatal(err)
		}
		// The change reaches the partition log before the answer.
		if got := tb.logs.Get("alt", 0).Config().RetentionMs; got != 1000 {
			t.Fatalf("log retention %d", got)
		}
		if c := topicValue(t, "alt", "retention.ms"); *c.Value != "1000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatalf("%+v", c)
		}

		if err := alterOne(t, "alt", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: strPtr("compact")}); err != nil {
			t.Fatal(err)
		}
		if c := topicValue(t, "alt", "cleanup.policy"); *c.Value != "delete,compact" {
			t.Fatalf("append: %s", *c.Value)
		}
		if got := tb.logs.Get("alt", 0).Config().CleanupPolicy; got != "compact,delete" {
			t.Fatalf("log cleanup policy %q", got)
		}
		if err := alterOne(t, "alt", kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: strPtr("delete")}); err != nil {
			t.Fatal(err)
		}
		if c := topicValue(t, "alt", "cleanup.policy"); *c.Value != "compact" {
			t.Fatalf("subtract: %s", *c.Value)
		}

		if err := alterOne(t, "alt", kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"}); err != nil {
			t.Fatal(err)
		}
		if c := topicValue(t, "alt", "retention.ms"); *c.Value != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("after delete %+v", c)
		}
		if got := tb.logs.Get("alt", 0).Config().RetentionMs; got != 604800000 {
			t.Fatalf("log retention after delete %d", got)
		}

		for _, tc := range []struct {
			cfg  kadm.AlterConfig
			want *kerr.Error
		}{
			{kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: strPtr("soon")}, kerr.InvalidConfig},
			{kadm.AlterConfig{Op: kadm.SetConfig, Name: "no.such.key", Value: strPtr("1")}, kerr.InvalidConfig},
			{kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.ms", Value: strPtr("1")}, kerr.InvalidConfig},
			{kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms"}, kerr.InvalidRequest},
		} {
			if err := alterOne(t, "alt", tc.cfg); !errors.Is(err, tc.want) {
				t.Errorf("%+v: %v, want %v", tc.cfg, err, tc.want)
			}
		}
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: strPtr("1")}}, "missing")
		if err != nil || !errors.Is(resps[0].Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("missing topic: %v %+v", err, resps)
		}

		// Validate-only changes nothing.
		resps, err = adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: strPtr("5")}}, "alt")
		if err != nil || resps[0].Err != nil {
			t.Fatalf("validate: %v %+v", err, resps)
		}
		if c := topicValue(t, "alt", "retention.ms"); *c.Value != "604800000" {
			t.Fatalf("validate-only changed the value: %s", *c.Value)
		}

		// A key named twice is INVALID_REQUEST.
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "alt"
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", strPtr("5")
		res.Configs = append(res.Configs, c, c)
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, tb.client(t))
		if err != nil || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("duplicate keys: %v %+v", err, resp)
		}
	})

	t.Run("legacy replaces", func(t *testing.T) {
		resps, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{
			{Name: "retention.ms", Value: strPtr("2000")}, {Name: "segment.ms", Value: strPtr("3000")},
		}, "legacy")
		if err != nil || resps[0].Err != nil {
			t.Fatalf("%v %+v", err, resps)
		}
		resps, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: strPtr("4000")}}, "legacy")
		if err != nil || resps[0].Err != nil {
			t.Fatalf("%v %+v", err, resps)
		}
		if c := topicValue(t, "legacy", "retention.ms"); c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("retention.ms survived a full replacement: %+v", c)
		}
		if c := topicValue(t, "legacy", "segment.ms"); *c.Value != "4000" {
			t.Fatalf("segment.ms %s", *c.Value)
		}
		if got := tb.logs.Get("legacy", 0).Config().SegmentMs; got != 4000 {
			t.Fatalf("log segment.ms %d", got)
		}
		resps, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: strPtr("-3")}}, "legacy")
		if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
			t.Fatalf("bad value: %v %+v", err, resps)
		}
	})

	t.Run("broker", func(t *testing.T) {
		// A cluster-wide dynamic default reaches topics without an override.
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: strPtr("7000")}})
		if err != nil || resps[0].Err != nil {
			t.Fatalf("%v %+v", err, resps)
		}
		if got := tb.logs.Get("sar", 0).Config().RetentionMs; got != 7000 {
			t.Fatalf("log retention %d", got)
		}
		def := describeConfigs(t, tb, kmsg.ConfigResourceTypeBroker, "", true, false)
		if c := configNamed(def.Configs, "log.retention.ms"); c == nil || *c.Value != "7000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			t.Fatalf("defaults %+v", def.Configs)
		}
		if c := topicValue(t, "sar", "retention.ms"); *c.Value != "7000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			t.Fatalf("topic sees %+v", c)
		}
		// Per broker.
		resps, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: strPtr("8000")}}, tb.ID())
		if err != nil || resps[0].Err != nil {
			t.Fatalf("%v %+v", err, resps)
		}
		if got := tb.logs.Get("sar", 0).Config().RetentionMs; got != 8000 {
			t.Fatalf("log retention %d", got)
		}
		resps, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "broker.id", Value: strPtr("3")}}, tb.ID())
		if err != nil || !errors.Is(resps[0].Err, kerr.InvalidRequest) { // as Kafka: not dynamic
			t.Fatalf("static key: %v %+v", err, resps)
		}
		for _, b := range []string{"", itoa(tb.ID())} {
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			res := kmsg.NewIncrementalAlterConfigsRequestResource()
			res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, b
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op = "log.retention.ms", kmsg.IncrementalAlterConfigOpDelete
			res.Configs = append(res.Configs, c)
			req.Resources = append(req.Resources, res)
			if resp, err := req.RequestWith(ctx, tb.client(t)); err != nil || resp.Resources[0].ErrorCode != 0 {
				t.Fatalf("delete %q: %v %+v", b, err, resp)
			}
		}
		if got := tb.logs.Get("sar", 0).Config().RetentionMs; got != 604800000 {
			t.Fatalf("log retention after deletes %d", got)
		}
	})

	t.Run("sarama", func(t *testing.T) {
		sa := tb.saramaAdmin(t)
		if err := sa.AlterConfig(sarama.TopicResource, "sar", map[string]*string{"retention.ms": strPtr("9000")}, false); err != nil {
			t.Fatal(err)
		}
		if got := tb.logs.Get("sar", 0).Config().RetentionMs; got != 9000 {
			t.Fatalf("log retention %d", got)
		}
		err := sa.IncrementalAlterConfig(sarama.TopicResource, "sar", map[string]sarama.IncrementalAlterConfigsEntry{
			"retention.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strPtr("1048576")},
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		cfg := tb.logs.Get("sar", 0).Config()
		if cfg.RetentionBytes != 1048576 || cfg.RetentionMs != 9000 {
			t.Fatalf("log config %+v", cfg)
		}
		err = sa.AlterConfig(sarama.TopicResource, "sar", map[string]*string{"retention.ms": strPtr("x")}, false)
		if !errors.Is(err, sarama.ErrInvalidConfig) {
			t.Fatalf("bad value: %v", err)
		}
	})
}
