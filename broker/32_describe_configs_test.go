package broker

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeConfigs sends one DescribeConfigs request for a resource.
func describeConfigs(t *testing.T, tb *testBroker, typ kmsg.ConfigResourceType, name string, synonyms, docs bool, keys ...string) kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = synonyms, docs
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = typ, name, keys
	req.Resources = append(req.Resources, res)
	// Straight to the broker: the client would route a broker resource
	// to the broker it names.
	kresp, err := tb.client(t).Broker(int(tb.ID())).Request(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 {
		t.Fatalf("%d resources answered", len(resp.Resources))
	}
	return resp.Resources[0]
}

func configNamed(cs []kmsg.DescribeConfigsResponseResourceConfig, name string) *kmsg.DescribeConfigsResponseResourceConfig {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func TestDescribeConfigs(t *testing.T) {
	tb := startTestBroker(t, "log.retention.hours=100")
	ctx := testCtx(t)
	adm := tb.admin(t)
	if r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": strPtr("2097152")}, "cfg"); err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}

	t.Run("topic", func(t *testing.T) {
		res := describeConfigs(t, tb, kmsg.ConfigResourceTypeTopic, "cfg", true, true)
		if res.ErrorCode != 0 || len(res.Configs) < 25 {
			t.Fatalf("code %d, %d configs", res.ErrorCode, len(res.Configs))
		}
		seg := configNamed(res.Configs, "segment.bytes")
		if seg == nil || *seg.Value != "2097152" || seg.Source != kmsg.ConfigSourceDynamicTopicConfig || seg.ReadOnly ||
			len(seg.ConfigSynonyms) != 2 || seg.ConfigSynonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig ||
			seg.ConfigSynonyms[1].Name != "log.segment.bytes" || seg.Documentation == nil || seg.ConfigType != kmsg.ConfigTypeInt {
			t.Fatalf("segment.bytes %+v", seg)
		}
		ret := configNamed(res.Configs, "retention.ms")
		if ret == nil || *ret.Value != "360000000" || ret.Source != kmsg.ConfigSourceStaticBrokerConfig {
			t.Fatalf("retention.ms %+v", ret)
		}
		if len(ret.ConfigSynonyms) == 0 || ret.ConfigSynonyms[0].Name != "log.retention.hours" {
			t.Fatalf("retention.ms synonyms %+v", ret.ConfigSynonyms)
		}
		def := configNamed(res.Configs, "cleanup.policy")
		if def == nil || *def.Value != "delete" || def.Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("cleanup.policy %+v", def)
		}

		// Names filter; no synonyms or docs unless asked.
		res = describeConfigs(t, tb, kmsg.ConfigResourceTypeTopic, "cfg", false, false, "segment.bytes", "no.such")
		if len(res.Configs) != 1 || len(res.Configs[0].ConfigSynonyms) != 0 || res.Configs[0].Documentation != nil {
			t.Fatalf("filtered %+v", res.Configs)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			typ  kmsg.ConfigResourceType
			name string
			want *kerr.Error
		}{
			{kmsg.ConfigResourceTypeTopic, "missing", kerr.UnknownTopicOrPartition},
			{kmsg.ConfigResourceTypeTopic, "bad/name", kerr.InvalidTopicException},
			{kmsg.ConfigResourceTypeBroker, "7", kerr.InvalidRequest},
			{kmsg.ConfigResourceTypeBroker, "x", kerr.InvalidRequest},
			{kmsg.ConfigResourceTypeBrokerLogger, "", kerr.InvalidRequest},
			{kmsg.ConfigResourceTypeUnknown, "x", kerr.InvalidRequest},
		} {
			if res := describeConfigs(t, tb, tc.typ, tc.name, false, false); res.ErrorCode != tc.want.Code {
				t.Errorf("%v %q: code %d, want %v", tc.typ, tc.name, res.ErrorCode, tc.want)
			}
		}
		if res := describeConfigs(t, tb, kmsg.ConfigResourceTypeBrokerLogger, itoa(tb.ID()), false, false); res.ErrorCode != 0 {
			t.Errorf("broker logger: %+v", res)
		}
	})

	t.Run("broker", func(t *testing.T) {
		res := describeConfigs(t, tb, kmsg.ConfigResourceTypeBroker, itoa(tb.ID()), true, true)
		if res.ErrorCode != 0 || len(res.Configs) < 50 {
			t.Fatalf("code %d, %d configs", res.ErrorCode, len(res.Configs))
		}
		h := configNamed(res.Configs, "log.retention.hours")
		if h == nil || *h.Value != "100" || h.Source != kmsg.ConfigSourceStaticBrokerConfig {
			t.Fatalf("log.retention.hours %+v", h)
		}
		np := configNamed(res.Configs, "num.partitions")
		if np == nil || *np.Value != "1" || np.Source != kmsg.ConfigSourceDefaultConfig || !np.ReadOnly {
			t.Fatalf("num.partitions %+v", np)
		}
		// The cluster-wide default resource lists only what is set there.
		if res := describeConfigs(t, tb, kmsg.ConfigResourceTypeBroker, "", true, false); res.ErrorCode != 0 || len(res.Configs) != 0 {
			t.Fatalf("defaults %+v", res)
		}
		bc, err := adm.DescribeBrokerConfigs(ctx, tb.ID())
		if err != nil || len(bc) != 1 || bc[0].Err != nil || len(bc[0].Configs) < 50 {
			t.Fatalf("kadm broker configs: %v %+v", err, bc)
		}
	})

	t.Run("kadm and sarama", func(t *testing.T) {
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg", "missing")
		if err != nil {
			t.Fatal(err)
		}
		got, err := rcs.On("cfg", nil)
		if err != nil || got.Err != nil || len(got.Configs) < 25 {
			t.Fatalf("cfg: %v %+v", err, got)
		}
		if m, _ := rcs.On("missing", nil); !errors.Is(m.Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("missing: %+v", m)
		}

		sa := tb.saramaAdmin(t)
		entries, err := sa.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "cfg"})
		if err != nil {
			t.Fatal(err)
		}
		var seg *sarama.ConfigEntry
		for i := range entries {
			if entries[i].Name == "segment.bytes" {
				seg = &entries[i]
			}
		}
		if seg == nil || seg.Value != "2097152" || seg.Source != sarama.SourceTopic {
			t.Fatalf("sarama segment.bytes %+v", seg)
		}
		entries, err = sa.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: itoa(tb.ID())})
		if err != nil || len(entries) < 50 {
			t.Fatalf("sarama broker: %v, %d entries", err, len(entries))
		}
	})
}
