package broker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeConfigsMaxVersion is the highest DescribeConfigs version served.
const describeConfigsMaxVersion int16 = 4

// handleDescribeConfigs answers DescribeConfigs v1–v4 for
//
//   - TOPIC: every topic key with its value, source and (IncludeSynonyms)
//     the broker keys it falls back to; an illegal name is
//     INVALID_TOPIC_EXCEPTION, an unknown topic UNKNOWN_TOPIC_OR_PARTITION;
//   - BROKER named with this broker's id: every broker key as this broker
//     sees it; with the empty name: the cluster-wide dynamic defaults only;
//     another id, or one that is not a number, is INVALID_REQUEST, as in
//     Kafka (clients send a broker resource to that broker);
//   - BROKER_LOGGER named with this broker's id: no loggers (log levels are
//     not configurable through Kafka's API here); an empty or other name is
//     INVALID_REQUEST;
//   - GROUP (KIP-848 group configs) named with any group id, whether the
//     group exists or not: every group key, set on the group
//     (GROUP_CONFIG) or at its default (config.Broker.DescribeGroup); the
//     empty name is INVALID_REQUEST.
//
// ConfigNames, when not null, keeps only the named keys; documentation is
// sent only with IncludeDocumentation (v3+). Sensitive values are null.
func (b *Broker) handleDescribeConfigs(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	snap := b.ctrl.Snapshot()
	for _, res := range r.Resources {
		if res.ResourceType == kmsg.ConfigResourceTypeTopic && snap.Topics[res.ResourceName] == nil {
			snap = b.syncMetadata(ctx) // perhaps created through another broker just now
			break
		}
	}
	dyn := dynamicConfigs(snap, b.id)

	for _, res := range r.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		err := b.authorizeConfigResource(cc, kmsg.ACLOperationDescribeConfigs, res.ResourceType, res.ResourceName)
		var entries []config.Entry
		if err == nil {
			entries, err = b.describeResource(snap, dyn, res)
		}
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = adminError(err)
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		var keep map[string]bool
		if res.ConfigNames != nil {
			keep = make(map[string]bool, len(res.ConfigNames))
			for _, n := range res.ConfigNames {
				keep[n] = true
			}
		}
		rr.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		for _, e := range entries {
			if keep != nil && !keep[e.Name] {
				continue
			}
			rr.Configs = append(rr.Configs, describedConfig(e, r.IncludeSynonyms, r.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return network.Response{Msg: resp}, nil
}

// describeResource returns the config entries of one resource.
func (b *Broker) describeResource(snap *controller.Snapshot, dyn config.Dynamic, res kmsg.DescribeConfigsRequestResource) ([]config.Entry, error) {
	switch res.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if err := validateTopicName(res.ResourceName); err != nil {
			return nil, fmt.Errorf("%w: %s", kerr.InvalidTopicException, err)
		}
		t := snap.Topics[res.ResourceName]
		if t == nil {
			return nil, fmt.Errorf("%w: Topic %s does not exist.", kerr.UnknownTopicOrPartition, res.ResourceName)
		}
		return config.DescribeTopic(b.cfg, dyn, t.Configs), nil
	case kmsg.ConfigResourceTypeBroker:
		if res.ResourceName == "" {
			return config.DescribeBrokerDefaults(dyn), nil
		}
		if err := b.checkOwnBrokerID(res.ResourceName); err != nil {
			return nil, err
		}
		return config.DescribeBroker(b.cfg, dyn), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if res.ResourceName == "" {
			return nil, fmt.Errorf("%w: Broker id must not be empty", kerr.InvalidRequest)
		}
		if err := b.checkOwnBrokerID(res.ResourceName); err != nil {
			return nil, err
		}
		return nil, nil
	case kmsg.ConfigResourceTypeGroupConfig:
		if res.ResourceName == "" {
			return nil, fmt.Errorf("%w: Group name must not be empty", kerr.InvalidRequest)
		}
		return b.cfg.DescribeGroup(snap.GroupConfigs[res.ResourceName]), nil
	default:
		return nil, fmt.Errorf("%w: Unsupported resource type: %s", kerr.InvalidRequest, res.ResourceType)
	}
}

// checkOwnBrokerID accepts a broker resource name that is this broker's
// id, and answers anything else as Kafka does.
func (b *Broker) checkOwnBrokerID(name string) error {
	id, err := parseBrokerResource(name)
	if err != nil {
		return err
	}
	if id != b.id {
		return fmt.Errorf("%w: Unexpected broker id, expected %d or empty string, but received %s", kerr.InvalidRequest, b.id, name)
	}
	return nil
}

// parseBrokerResource parses a non-empty broker resource name.
func parseBrokerResource(name string) (int32, error) {
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: Broker id must be an integer, but it is: %s", kerr.InvalidRequest, name)
	}
	return int32(id), nil
}

// describedConfig turns a config.Entry into its DescribeConfigs form.
func describedConfig(e config.Entry, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value = e.Name, e.Value
	c.ReadOnly, c.IsSensitive = e.ReadOnly, e.Sensitive
	c.Source = e.Source
	c.IsDefault = e.Source == config.SourceDefault
	c.ConfigType = e.Type
	if docs && e.Doc != "" {
		doc := e.Doc
		c.Documentation = &doc
	}
	c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{}
	if synonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.Name, s.Value, s.Source
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	return c
}
