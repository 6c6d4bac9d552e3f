package broker

import (
	"context"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/security/authz"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeClusterMaxVersion is the highest DescribeCluster version served.
const describeClusterMaxVersion int16 = 2

// Endpoint types of DescribeCluster v1+ (KIP-919).
const (
	endpointTypeBroker     int8 = 1
	endpointTypeController int8 = 2
)

// handleDescribeCluster answers DescribeCluster v0–v2 with the cluster id,
// the controller id clients should use and the live brokers' endpoints on
// the request's listener. Runnel brokers are not fenced the way KRaft
// brokers are, so IncludeFencedBrokers adds nothing and IsFenced is false.
// Asking a broker for controller endpoints is UNSUPPORTED_ENDPOINT_TYPE, as
// in Kafka 4.
func (b *Broker) handleDescribeCluster(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointTypeBroker
	resp.ControllerID = -1
	resp.ClusterAuthorizedOperations = authorizedOperationsOmitted
	if req.Version >= 1 && r.EndpointType != endpointTypeBroker {
		msg := "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
		if r.EndpointType != endpointTypeController {
			msg = "Unknown endpoint type"
		}
		resp.ErrorCode, resp.ErrorMessage = kerr.UnsupportedEndpointType.Code, &msg
		return network.Response{Msg: resp}, nil
	}
	snap := b.ctrl.Snapshot()
	resp.ClusterID = snap.ClusterID
	resp.ControllerID = controllerIDFor(snap, cc.Listener)
	if r.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = b.authorizedOperations(cc, kmsg.ACLResourceTypeCluster, authz.ClusterResourceName)
	}
	for _, id := range liveBrokerIDs(snap, cc.Listener) {
		ep, _ := endpointFor(snap, id, cc.Listener)
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = id, ep.Host, ep.Port
		if rack := snap.Brokers[id].Rack; rack != "" {
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	return network.Response{Msg: resp}, nil
}
