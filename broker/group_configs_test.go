package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// incrementalGroup sends one IncrementalAlterConfigs for a group and
// returns the resource's answer.
func incrementalGroup(t *testing.T, tb *testBroker, group string, validateOnly bool, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.Configs = kmsg.ConfigResourceTypeGroupConfig, group, ops
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(testCtx(t), tb.client(t))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Resources[0]
}

func groupOp(op kmsg.IncrementalAlterConfigOp, name string, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name, c.Value = op, name, value
	return c
}

func expectAnswer(t *testing.T, what string, code int16, msg *string, want *kerr.Error, wantMsg string) {
	t.Helper()
	var got string
	if msg != nil {
		got = *msg
	}
	if (want == nil && code != 0) || (want != nil && code != want.Code) || (wantMsg != "" && got != wantMsg) {
		t.Fatalf("%s: %v %q, want %v %q", what, kerr.ErrorForCode(code), got, want, wantMsg)
	}
}

// TestGroupConfigs: config resource GROUP (32) with DescribeConfigs,
// IncrementalAlterConfigs, AlterConfigs and ListConfigResources, answered
// as Kafka 4.1 answers them.
func TestGroupConfigs(t *testing.T) {
	tb := startTestBroker(t)

	// A group that exists nowhere is described with its defaults.
	d := describeConfigs(t, tb, kmsg.ConfigResourceTypeGroupConfig, "g1", true, true)
	if d.ErrorCode != 0 || len(d.Configs) != 10 {
		t.Fatalf("describe: %v, %d configs", kerr.ErrorForCode(d.ErrorCode), len(d.Configs))
	}
	c := configNamed(d.Configs, "consumer.session.timeout.ms")
	if *c.Value != "45000" || c.Source != kmsg.ConfigSourceDefaultConfig || c.ReadOnly ||
		c.ConfigType != kmsg.ConfigTypeInt || c.Documentation == nil || len(c.ConfigSynonyms) != 1 {
		t.Fatalf("default session timeout %+v", c)
	}

	r := incrementalGroup(t, tb, "g1", false, groupOp(kmsg.IncrementalAlterConfigOpSet, "consumer.session.timeout.ms", strPtr("50000")))
	expectAnswer(t, "set", r.ErrorCode, r.ErrorMessage, nil, "")
	c = configNamed(describeConfigs(t, tb, kmsg.ConfigResourceTypeGroupConfig, "g1", true, false).Configs, "consumer.session.timeout.ms")
	if *c.Value != "50000" || c.Source != kmsg.ConfigSourceGroupConfig ||
		len(c.ConfigSynonyms) != 1 || c.ConfigSynonyms[0].Source != kmsg.ConfigSourceGroupConfig {
		t.Fatalf("set session timeout %+v", c)
	}
	if got := tb.ctrl.Snapshot().GroupConfigs["g1"]; got["consumer.session.timeout.ms"] != "50000" {
		t.Fatalf("snapshot %v", got)
	}

	// Refusals, with Kafka's codes and messages; nothing is written.
	r = incrementalGroup(t, tb, "g1", false, groupOp(kmsg.IncrementalAlterConfigOpSet, "consumer.session.timeout.ms", strPtr("70000")))
	expectAnswer(t, "above the broker's max", r.ErrorCode, r.ErrorMessage, kerr.InvalidConfig,
		"consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms")
	r = incrementalGroup(t, tb, "g1", false, groupOp(kmsg.IncrementalAlterConfigOpSet, "no.such.key", strPtr("1")))
	expectAnswer(t, "unknown key", r.ErrorCode, r.ErrorMessage, kerr.InvalidConfig, "Unknown group config name: no.such.key")
	r = incrementalGroup(t, tb, "g1", false, groupOp(kmsg.IncrementalAlterConfigOpAppend, "consumer.session.timeout.ms", strPtr("1")))
	expectAnswer(t, "append", r.ErrorCode, r.ErrorMessage, kerr.InvalidConfig, "")
	r = incrementalGroup(t, tb, "", false, groupOp(kmsg.IncrementalAlterConfigOpSet, "consumer.session.timeout.ms", strPtr("50000")))
	expectAnswer(t, "empty group", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest, "Default group resources are not allowed.")
	if d := describeConfigs(t, tb, kmsg.ConfigResourceTypeGroupConfig, "", false, false); d.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("describe empty group: %v", kerr.ErrorForCode(d.ErrorCode))
	}
	// ValidateOnly checks without writing.
	r = incrementalGroup(t, tb, "g1", true, groupOp(kmsg.IncrementalAlterConfigOpSet, "consumer.heartbeat.interval.ms", strPtr("6000")))
	expectAnswer(t, "validate only", r.ErrorCode, r.ErrorMessage, nil, "")
	if got := tb.ctrl.Snapshot().GroupConfigs["g1"]; len(got) != 1 {
		t.Fatalf("validate-only wrote: %v", got)
	}

	// AlterConfigs replaces the group's configs; a null value is refused.
	alter := func(group string, kv ...*string) kmsg.AlterConfigsResponseResource {
		t.Helper()
		req := kmsg.NewPtrAlterConfigsRequest()
		res := kmsg.NewAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = *kv[i], kv[i+1]
			res.Configs = append(res.Configs, c)
		}
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(testCtx(t), tb.client(t))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0]
	}
	a := alter("g2", strPtr("share.isolation.level"), strPtr("read_committed"), strPtr("consumer.heartbeat.interval.ms"), nil)
	expectAnswer(t, "alter with null", a.ErrorCode, a.ErrorMessage, kerr.InvalidConfig, "Null value not supported for group configs: consumer.heartbeat.interval.ms")
	a = alter("g2", strPtr("share.isolation.level"), strPtr("read_committed"))
	expectAnswer(t, "alter", a.ErrorCode, a.ErrorMessage, nil, "")

	// ListConfigResources lists the groups that have configs, the broker
	// and the topics; kadm's helper reads it.
	if _, err := tb.admin(t).CreateTopics(testCtx(t), 1, 1, nil, "lcr"); err != nil {
		t.Fatal(err)
	}
	listed, err := tb.admin(t).ListConfigResources(testCtx(t))
	if err != nil || listed.Err != nil {
		t.Fatal(err, listed.Err)
	}
	want := map[kadm.ConfigResource]bool{
		{Name: "g1", Type: kadm.ConfigResourceGroupConfig}: true, {Name: "g2", Type: kadm.ConfigResourceGroupConfig}: true,
		{Name: "1", Type: kadm.ConfigResourceBroker}: true, {Name: "1", Type: kadm.ConfigResourceBrokerLogger}: true,
		{Name: "lcr", Type: kadm.ConfigResourceTopic}: true,
	}
	for _, r := range listed.Resources {
		delete(want, r)
	}
	if len(want) > 0 {
		t.Fatalf("not listed: %v (listed %v)", want, listed.Resources)
	}
	groups, err := tb.admin(t).ListConfigResources(testCtx(t), kadm.ConfigResourceGroupConfig)
	if err != nil || len(groups.Resources) != 2 || groups.Names()[0] != "g1" {
		t.Fatalf("groups only: %v %v", groups.Resources, err)
	}
	// v0 (ListClientMetricsResources) knows client metrics only: none here.
	v0 := kmsg.NewPtrListConfigResourcesRequest()
	v0.SetVersion(0)
	v0Only := kversion.Stable()
	v0Only.SetMaxKeyVersion(74, 0)
	kresp, err := tb.client(t, kgo.MaxVersions(v0Only)).Request(testCtx(t), v0)
	if err != nil || kresp.(*kmsg.ListConfigResourcesResponse).ErrorCode != 0 || len(kresp.(*kmsg.ListConfigResourcesResponse).ConfigResources) != 0 {
		t.Fatalf("v0: %v %+v", err, kresp)
	}
	bad := kmsg.NewPtrListConfigResourcesRequest()
	bad.ResourceTypes = []int8{int8(kmsg.ConfigResourceTypeGroupConfig), 1}
	br, err := bad.RequestWith(testCtx(t), tb.client(t))
	if err != nil || br.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("unknown type: %v %v", err, br)
	}

	// Deleting the last key removes the group from the listing.
	r = incrementalGroup(t, tb, "g1", false, groupOp(kmsg.IncrementalAlterConfigOpDelete, "consumer.session.timeout.ms", nil))
	expectAnswer(t, "delete", r.ErrorCode, r.ErrorMessage, nil, "")
	groups, err = tb.admin(t).ListConfigResources(testCtx(t), kadm.ConfigResourceGroupConfig)
	if err != nil || len(groups.Resources) != 1 || groups.Resources[0].Name != "g2" {
		t.Fatalf("after delete: %v %v", groups.Resources, err)
	}
}

// A consumer group's own heartbeat interval reaches its members' next
// ConsumerGroupHeartbeat answer, without a restart.
func TestGroupConfigHeartbeatInterval(t *testing.T) {
	tb := startTestBroker(t)
	if _, err := tb.admin(t).CreateTopics(testCtx(t), 1, 1, nil, "hb"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(t)
	beat := func(epoch int32, member string) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "tuned", member, epoch, 30000
		req.SubscribedTopicNames = []string{"hb"}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		var resp *kmsg.ConsumerGroupHeartbeatResponse
		for { // the first request may find __consumer_offsets not yet loaded
			var err error
			if resp, err = req.RequestWith(testCtx(t), cl); err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code && resp.ErrorCode != kerr.CoordinatorNotAvailable.Code && resp.ErrorCode != kerr.NotCoordinator.Code {
				break
			}
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("heartbeat: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp
	}
	first := beat(0, "member-tuned-000001")
	if first.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("broker's interval: %d", first.HeartbeatIntervalMillis)
	}
	r := incrementalGroup(t, tb, "tuned", false, groupOp(kmsg.IncrementalAlterConfigOpSet, "consumer.heartbeat.interval.ms", strPtr("7000")))
	expectAnswer(t, "set interval", r.ErrorCode, r.ErrorMessage, nil, "")
	if next := beat(first.MemberEpoch, "member-tuned-000001"); next.HeartbeatIntervalMillis != 7000 {
		t.Fatalf("group's interval: %d", next.HeartbeatIntervalMillis)
	}
}
