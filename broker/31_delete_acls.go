package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteACLs refuses every filter with SECURITY_DISABLED (see
// 29_describe_acls.go).
func (b *Broker) handleDeleteACLs(_ context.Context, _ *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DeleteACLsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteACLsResponse)
	for range r.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		msg := noAuthorizerAlterMessage
		res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, &msg
		resp.Results = append(resp.Results, res)
	}
	return network.Response{Msg: resp}, nil
}
