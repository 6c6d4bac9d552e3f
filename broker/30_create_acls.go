package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleCreateACLs refuses every creation with SECURITY_DISABLED (see
// 29_describe_acls.go).
func (b *Broker) handleCreateACLs(_ context.Context, _ *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.CreateACLsRequest)
	resp := r.ResponseKind().(*kmsg.CreateACLsResponse)
	for range r.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		msg := noAuthorizerAlterMessage
		res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, &msg
		resp.Results = append(resp.Results, res)
	}
	return network.Response{Msg: resp}, nil
}
