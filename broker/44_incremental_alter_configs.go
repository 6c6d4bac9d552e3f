package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// incrementalAlterConfigsMaxVersion is the highest IncrementalAlterConfigs
// version served.
const incrementalAlterConfigsMaxVersion int16 = 1

// handleIncrementalAlterConfigs answers IncrementalAlterConfigs v0–v1:
// SET and DELETE change one key of a topic's, broker entity's or group's
// dynamic configs; APPEND and SUBTRACT add items to or remove them from a LIST
// key, starting from the key's default when it is not set (as Kafka does),
// and are INVALID_CONFIG on other keys. A key named twice in one resource,
// a resource named twice, a SET without a value or an unknown operation is
// INVALID_REQUEST. The result is validated like AlterConfigs. BROKER_LOGGER
// resources have no loggers to change: every key is INVALID_CONFIG.
func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	ctx, cancel := context.WithTimeout(ctx, adminTimeout(0)) // no timeout in the request: etcd calls fail cleanly after 30 s
	defer cancel()
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)

	dups := map[configResource]int{}
	for _, res := range r.Resources {
		dups[configResource{res.ResourceType, res.ResourceName}]++
	}
	var rev int64
	for _, res := range r.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		var err error
		switch {
		case dups[configResource{res.ResourceType, res.ResourceName}] > 1:
			err = fmt.Errorf("%w: Duplicate resource.", kerr.InvalidRequest)
		case b.authorizeConfigResource(cc, kmsg.ACLOperationAlterConfigs, res.ResourceType, res.ResourceName) != nil:
			err = b.authorizeConfigResource(cc, kmsg.ACLOperationAlterConfigs, res.ResourceType, res.ResourceName)
		case res.ResourceType == kmsg.ConfigResourceTypeBrokerLogger:
			err = b.alterBrokerLoggers(res)
		default:
			var wrev int64
			wrev, err = b.alterConfigResource(ctx, res.ResourceType, res.ResourceName, r.ValidateOnly, func(cur map[string]string) (map[string]string, error) {
				return incrementalConfigs(res.ResourceType, cur, res.Configs)
			})
			rev = max(rev, wrev)
		}
		rr.ErrorCode, rr.ErrorMessage = adminError(err)
		resp.Resources = append(resp.Resources, rr)
	}
	b.waitMetadata(ctx, rev)
	return network.Response{Msg: resp}, nil
}

// incrementalConfigs applies the operations to the current configs.
func incrementalConfigs(typ kmsg.ConfigResourceType, cur map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	if cur == nil {
		cur = map[string]string{}
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return nil, fmt.Errorf("%w: Error due to duplicate config keys", kerr.InvalidRequest)
		}
		seen[op.Name] = true
	}
	for _, op := range ops {
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.Value == nil {
				return nil, fmt.Errorf("%w: Null value not supported for : %s", kerr.InvalidRequest, op.Name)
			}
			cur[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cur, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			def, ok := configDef(typ, op.Name)
			if !ok || def.Type != config.List {
				return nil, fmt.Errorf("%w: Can't %s to key %s because its type is not LIST.", kerr.InvalidConfig, op.Op, op.Name)
			}
			base, set := cur[op.Name]
			if !set {
				base = def.Default
			}
			items := config.SplitList(base)
			var given []string
			if op.Value != nil {
				given = config.SplitList(*op.Value)
			}
			if op.Op == kmsg.IncrementalAlterConfigOpAppend {
				for _, g := range given {
					if !slices.Contains(items, g) {
						items = append(items, g)
					}
				}
			} else {
				items = slices.DeleteFunc(items, func(s string) bool { return slices.Contains(given, s) })
			}
			cur[op.Name] = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("%w: Unknown alter configs operation %d for %s", kerr.InvalidRequest, op.Op, op.Name)
		}
	}
	return cur, nil
}

// configDef finds the definition of a key of a topic, group or broker
// resource.
func configDef(typ kmsg.ConfigResourceType, name string) (config.Def, bool) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return config.LookupTopic(name)
	case kmsg.ConfigResourceTypeGroupConfig:
		return config.LookupGroup(name)
	}
	return config.LookupBroker(name)
}

// alterBrokerLoggers answers a BROKER_LOGGER resource: the name must be
// this broker's id, and since no loggers are exposed, every key names a
// logger that does not exist.
func (b *Broker) alterBrokerLoggers(res kmsg.IncrementalAlterConfigsRequestResource) error {
	if res.ResourceName == "" {
		return fmt.Errorf("%w: Broker id must not be empty", kerr.InvalidRequest)
	}
	if err := b.checkOwnBrokerID(res.ResourceName); err != nil {
		return err
	}
	if len(res.Configs) > 0 {
		return fmt.Errorf("%w: Logger %s does not exist", kerr.InvalidConfig, res.Configs[0].Name)
	}
	return nil
}
