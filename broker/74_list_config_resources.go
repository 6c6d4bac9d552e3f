package broker

import (
	"context"
	"slices"
	"strconv"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listConfigResourcesMaxVersion is the highest ListConfigResources
// version served (KIP-1142; v0 was ListClientMetricsResources, KIP-714).
const listConfigResourcesMaxVersion int16 = 1

// listableConfigResourceTypes are the config resource types each version
// lists when the request names none, and the only ones it accepts
// (Kafka's ListConfigResourcesRequest.supportedResourceTypes).
func listableConfigResourceTypes(version int16) []kmsg.ConfigResourceType {
	if version == 0 {
		return []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeClientMetrics}
	}
	return []kmsg.ConfigResourceType{
		kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger,
		kmsg.ConfigResourceTypeClientMetrics, kmsg.ConfigResourceTypeGroupConfig,
	}
}

// handleListConfigResources answers ListConfigResources v0–v1 as Kafka
// 4.1's KafkaApis does: it needs DESCRIBE_CONFIGS on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED for the whole answer); the types asked for
// (all the version knows when none) must each be one the version knows,
// else UNSUPPORTED_VERSION. It lists, in this order, the groups that have
// dynamic configs, the client-metrics subscriptions (none: Runnel has no
// client metrics), every live broker on the request's listener as a
// BROKER_LOGGER and as a BROKER resource, and every topic, internal ones
// included.
func (b *Broker) handleListConfigResources(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.ListConfigResourcesRequest)
	resp := r.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	resp.ConfigResources = []kmsg.ListConfigResourcesResponseConfigResource{}
	if !b.authorizeCluster(cc, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	supported := listableConfigResourceTypes(req.Version)
	asked := supported
	if len(r.ResourceTypes) > 0 {
		asked = make([]kmsg.ConfigResourceType, 0, len(r.ResourceTypes))
		for _, t := range r.ResourceTypes {
			typ := kmsg.ConfigResourceType(t)
			if !slices.Contains(supported, typ) {
				resp.ErrorCode = kerr.UnsupportedVersion.Code
				return network.Response{Msg: resp}, nil
			}
			asked = append(asked, typ)
		}
	}
	add := func(typ kmsg.ConfigResourceType, name string) {
		cr := kmsg.NewListConfigResourcesResponseConfigResource()
		cr.Name, cr.Type = name, int8(typ)
		resp.ConfigResources = append(resp.ConfigResources, cr)
	}
	snap := b.ctrl.Snapshot()
	if slices.Contains(asked, kmsg.ConfigResourceTypeGroupConfig) {
		groups := make([]string, 0, len(snap.GroupConfigs))
		for g := range snap.GroupConfigs {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			add(kmsg.ConfigResourceTypeGroupConfig, g)
		}
	}
	for _, typ := range []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeBroker} {
		if slices.Contains(asked, typ) {
			for _, id := range liveBrokerIDs(snap, cc.Listener) {
				add(typ, strconv.Itoa(int(id)))
			}
		}
	}
	if slices.Contains(asked, kmsg.ConfigResourceTypeTopic) {
		topics := make([]string, 0, len(snap.Topics))
		for name := range snap.Topics {
			topics = append(topics, name)
		}
		slices.Sort(topics)
		for _, name := range topics {
			add(kmsg.ConfigResourceTypeTopic, name)
		}
	}
	return network.Response{Msg: resp}, nil
}
