package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// alterConfigsMaxVersion is the highest AlterConfigs version served.
const alterConfigsMaxVersion int16 = 2

// handleAlterConfigs answers AlterConfigs v0–v2: each resource's dynamic
// configs are replaced by the ones sent (a null value leaves the key out).
// Topic configs are checked with config.ValidateTopicConfigs, broker
// configs (this or any broker's id, or the empty name for the cluster-wide
// defaults) with config.ValidateBrokerDynamic, group configs (GROUP, any
// group id but the empty one) with config.Broker.ValidateGroupConfigs; a
// failure is INVALID_CONFIG with the validator's message, except a broker
// key that cannot change at run time: INVALID_REQUEST, as in Kafka. A null
// value leaves a topic or broker key out, and is INVALID_CONFIG for a
// group, as Kafka's controller answers. A resource named twice is INVALID_REQUEST,
// BROKER_LOGGER is not alterable this way (INVALID_REQUEST, as in Kafka).
// ValidateOnly checks without writing. Changes reach this broker's
// partition logs before the answer.
func (b *Broker) handleAlterConfigs(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	ctx, cancel := context.WithTimeout(ctx, adminTimeout(0)) // no timeout in the request: etcd calls fail cleanly after 30 s
	defer cancel()
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)

	dups := map[configResource]int{}
	for _, res := range r.Resources {
		dups[configResource{res.ResourceType, res.ResourceName}]++
	}
	var rev int64
	for _, res := range r.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		var err error
		if dups[configResource{res.ResourceType, res.ResourceName}] > 1 {
			err = fmt.Errorf("%w: Duplicate resource.", kerr.InvalidRequest)
		} else if aerr := b.authorizeConfigResource(cc, kmsg.ACLOperationAlterConfigs, res.ResourceType, res.ResourceName); aerr != nil {
			err = aerr
		} else if res.ResourceType == kmsg.ConfigResourceTypeBrokerLogger {
			err = fmt.Errorf("%w: AlterConfigs cannot change BROKER_LOGGER resources; use IncrementalAlterConfigs", kerr.InvalidRequest)
		} else {
			var wrev int64
			wrev, err = b.alterConfigResource(ctx, res.ResourceType, res.ResourceName, r.ValidateOnly, func(map[string]string) (map[string]string, error) {
				next := make(map[string]string, len(res.Configs))
				if res.ResourceType == kmsg.ConfigResourceTypeGroupConfig {
					if err := noNullGroupValues(res.Configs); err != nil {
						return nil, err
					}
				}
				for _, c := range res.Configs {
					if c.Value != nil {
						next[c.Name] = *c.Value
					} else {
						delete(next, c.Name)
					}
				}
				return next, nil
			})
			rev = max(rev, wrev)
		}
		rr.ErrorCode, rr.ErrorMessage = adminError(err)
		resp.Resources = append(resp.Resources, rr)
	}
	b.waitMetadata(ctx, rev)
	return network.Response{Msg: resp}, nil
}

// noNullGroupValues refuses null values in an AlterConfigs of a group, as
// Kafka's ControllerConfigurationValidator does.
func noNullGroupValues(cs []kmsg.AlterConfigsRequestResourceConfig) error {
	var nulls []string
	for _, c := range cs {
		if c.Value == nil {
			nulls = append(nulls, c.Name)
		}
	}
	if len(nulls) > 0 {
		return fmt.Errorf("%w: Null value not supported for group configs: %s", kerr.InvalidConfig, strings.Join(nulls, ","))
	}
	return nil
}

// configResource identifies a config resource in duplicate checks.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// alterConfigResource computes a topic's or broker entity's new dynamic
// configs from its current ones with change, validates them, and (unless
// validateOnly) stores them, returning the etcd revision of the write.
func (b *Broker) alterConfigResource(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool,
	change func(current map[string]string) (map[string]string, error),
) (int64, error) {
	snap := b.ctrl.Snapshot()
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := validateTopicName(name); err != nil {
			return 0, fmt.Errorf("%w: %s", kerr.InvalidTopicException, err)
		}
		t := snap.Topics[name]
		if t == nil {
			snap = b.syncMetadata(ctx) // perhaps created through another broker just now
			t = snap.Topics[name]
		}
		if t == nil {
			return 0, fmt.Errorf("%w: Topic %s does not exist.", kerr.UnknownTopicOrPartition, name)
		}
		next, err := change(maps.Clone(t.Configs))
		if err != nil {
			return 0, err
		}
		if err := config.ValidateTopicConfigs(next); err != nil {
			return 0, fmt.Errorf("%w: %s", kerr.InvalidConfig, err)
		}
		if validateOnly {
			return 0, nil
		}
		rev, err := b.ctrl.SetTopicConfigs(ctx, name, next)
		if err == nil {
			b.log.Info("altered topic configs", zap.String("topic", name), zap.Any("configs", next))
		}
		return rev, err
	case kmsg.ConfigResourceTypeBroker:
		if name != "" {
			if _, err := parseBrokerResource(name); err != nil {
				return 0, err
			}
		}
		next, err := change(maps.Clone(snap.BrokerConfigs[name]))
		if err != nil {
			return 0, err
		}
		if err := config.ValidateBrokerDynamic(next); err != nil {
			if errors.As(err, new(config.NotDynamicError)) {
				return 0, fmt.Errorf("%w: %s", kerr.InvalidRequest, err)
			}
			return 0, fmt.Errorf("%w: %s", kerr.InvalidConfig, err)
		}
		if validateOnly {
			return 0, nil
		}
		rev, err := b.ctrl.SetBrokerConfigs(ctx, name, next)
		if err == nil {
			b.log.Info("altered broker configs", zap.String("broker", name), zap.Any("configs", next))
		}
		return rev, err
	case kmsg.ConfigResourceTypeGroupConfig:
		if name == "" {
			return 0, fmt.Errorf("%w: Default group resources are not allowed.", kerr.InvalidRequest)
		}
		changeAndValidate := func(cur map[string]string) (map[string]string, error) {
			next, err := change(cur)
			if err != nil {
				return nil, err
			}
			if err := b.cfg.ValidateGroupConfigs(next); err != nil {
				return nil, fmt.Errorf("%w: %s", kerr.InvalidConfig, err)
			}
			return next, nil
		}
		if validateOnly {
			_, err := changeAndValidate(maps.Clone(snap.GroupConfigs[name]))
			return 0, err
		}
		var next map[string]string
		rev, err := b.ctrl.UpdateGroupConfigs(ctx, name, func(cur map[string]string) (map[string]string, error) {
			var err error
			next, err = changeAndValidate(cur)
			return next, err
		})
		if err == nil {
			b.log.Info("altered group configs", zap.String("group", name), zap.Any("configs", next))
		}
		return rev, err
	default:
		return 0, fmt.Errorf("%w: Unexpected resource type %s", kerr.InvalidRequest, typ)
	}
}
