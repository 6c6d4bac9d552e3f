package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saramaGroupConfig is config resource GROUP (32), which sarama has no
// name for; its admin requests carry the type as given.
const saramaGroupConfig = sarama.ConfigResourceType(kmsg.ConfigResourceTypeGroupConfig)

// TestGroupConfigsFranzAndSarama: KIP-848 group configs (config resource
// GROUP) set and read by franz-go (kmsg requests, kadm's
// ListConfigResources) and sarama's ClusterAdmin, each seeing the other's
// changes; a group's heartbeat interval reaches its members' next
// ConsumerGroupHeartbeat answer. kafka-configs is TestKafkaTools's.
func TestGroupConfigsFranzAndSarama(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := b.franz(t)
	adm := kadm.NewClient(cl)
	const group = "cfg-g"

	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_6_0_0
	sa, err := sarama.NewClusterAdmin([]string{b.addr()}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()

	franzSet := func(key, value string) (int16, string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Op, c.Name, c.Value = kmsg.IncrementalAlterConfigOpSet, key, &value
		res.Configs = append(res.Configs, c)
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.Resources[0]
		msg := ""
		if r.ErrorMessage != nil {
			msg = *r.ErrorMessage
		}
		return r.ErrorCode, msg
	}
	franzDescribe := func() map[string]kmsg.DescribeConfigsResponseResourceConfig {
		t.Helper()
		req := kmsg.NewPtrDescribeConfigsRequest()
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("describe: %v %+v", err, resp)
		}
		out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, c := range resp.Resources[0].Configs {
			out[c.Name] = c
		}
		return out
	}
	saramaDescribe := func() map[string]sarama.ConfigEntry {
		t.Helper()
		entries, err := sa.DescribeConfig(sarama.ConfigResource{Type: saramaGroupConfig, Name: group})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]sarama.ConfigEntry{}
		for _, e := range entries {
			out[e.Name] = e
		}
		return out
	}

	// franz-go sets, sarama reads.
	if code, msg := franzSet("consumer.heartbeat.interval.ms", "7000"); code != 0 {
		t.Fatalf("franz-go set: %v %s", kerr.ErrorForCode(code), msg)
	}
	got := saramaDescribe()
	if e := got["consumer.heartbeat.interval.ms"]; e.Value != "7000" || e.Source != sarama.ConfigSource(kmsg.ConfigSourceGroupConfig) {
		t.Fatalf("sarama sees %+v", e)
	}
	if e := got["consumer.session.timeout.ms"]; e.Value != "45000" || e.Source != sarama.SourceDefault {
		t.Fatalf("sarama sees default session timeout %+v", e)
	}
	if len(got) != 10 {
		t.Fatalf("sarama sees %d group keys", len(got))
	}

	// sarama sets, franz-go reads; the broker's bounds hold for both.
	v := "55000"
	if err := sa.IncrementalAlterConfig(saramaGroupConfig, group, map[string]sarama.IncrementalAlterConfigsEntry{
		"consumer.session.timeout.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v},
	}, false); err != nil {
		t.Fatalf("sarama set: %v", err)
	}
	if c := franzDescribe()["consumer.session.timeout.ms"]; *c.Value != "55000" || c.Source != kmsg.ConfigSourceGroupConfig {
		t.Fatalf("franz-go sees %+v", c)
	}
	tooLong := "70000"
	err = sa.IncrementalAlterConfig(saramaGroupConfig, group, map[string]sarama.IncrementalAlterConfigsEntry{
		"consumer.session.timeout.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &tooLong},
	}, false)
	if err == nil || !strings.Contains(err.Error(), "consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms") {
		t.Fatalf("sarama out of bounds: %v", err)
	}
	if code, msg := franzSet("consumer.heartbeat.interval.ms", "1000"); code != kerr.InvalidConfig.Code ||
		msg != "consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms" {
		t.Fatalf("franz-go out of bounds: %v %s", kerr.ErrorForCode(code), msg)
	}

	// kadm lists the group among the config resources.
	listed, err := adm.ListConfigResources(ctx, kadm.ConfigResourceGroupConfig)
	if err != nil || listed.Err != nil || len(listed.Resources) != 1 || listed.Resources[0].Name != group {
		t.Fatalf("kadm ListConfigResources: %v %v %+v", err, listed.Err, listed.Resources)
	}

	// The group's heartbeat interval is what its members are told.
	b.createTopic(t, "cfg-t", 1)
	beat := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	beat.Group, beat.MemberID, beat.RebalanceTimeoutMillis = group, "cfg-member-00000000001", 30000
	beat.SubscribedTopicNames = []string{"cfg-t"}
	beat.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	var hb *kmsg.ConsumerGroupHeartbeatResponse
	for hb == nil || hb.ErrorCode == kerr.CoordinatorLoadInProgress.Code || hb.ErrorCode == kerr.CoordinatorNotAvailable.Code {
		if hb, err = beat.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if hb.ErrorCode != 0 || hb.HeartbeatIntervalMillis != 7000 {
		t.Fatalf("heartbeat: %v, interval %d", kerr.ErrorForCode(hb.ErrorCode), hb.HeartbeatIntervalMillis)
	}

	// sarama's AlterConfigs replaces the group's configs: the consumer
	// keys fall back to the broker's.
	rc := "read_committed"
	if err := sa.AlterConfig(saramaGroupConfig, group, map[string]*string{"share.isolation.level": &rc}, false); err != nil {
		t.Fatalf("sarama alter: %v", err)
	}
	after := franzDescribe()
	if c := after["consumer.heartbeat.interval.ms"]; *c.Value != "5000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("after AlterConfigs %+v", c)
	}
	if c := after["share.isolation.level"]; *c.Value != "read_committed" || c.Source != kmsg.ConfigSourceGroupConfig {
		t.Fatalf("after AlterConfigs %+v", c)
	}
	beat.MemberEpoch = hb.MemberEpoch
	if hb, err = beat.RequestWith(ctx, cl); err != nil || hb.ErrorCode != 0 || hb.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("heartbeat after the override went: %v %+v", err, hb)
	}
}
