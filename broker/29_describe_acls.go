package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ACL APIs (DescribeAcls 29, CreateAcls 30, DeleteAcls 31) are served
// from Kafka 4's floor (v1) to v3 so that admin tools which list ACLs get
// Kafka's answer for a broker without an authorizer instead of a closed
// connection: SECURITY_DISABLED on the request (describe) or on every
// creation and filter (create, delete), with Kafka's messages. Runnel has
// no authorizer; config refuses authorizer.class.name rather than run
// without the ACLs a user configured one for.
const aclAPIsMaxVersion int16 = 3

const (
	noAuthorizerDescribeMessage = "No Authorizer is configured on the broker"
	noAuthorizerAlterMessage    = "No Authorizer is configured."
)

// handleDescribeACLs answers SECURITY_DISABLED: there are no ACLs to list.
func (b *Broker) handleDescribeACLs(_ context.Context, _ *network.ConnContext, req *protocol.Request) (network.Response, error) {
	resp := req.Body.(*kmsg.DescribeACLsRequest).ResponseKind().(*kmsg.DescribeACLsResponse)
	msg := noAuthorizerDescribeMessage
	resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, &msg
	return network.Response{Msg: resp}, nil
}
