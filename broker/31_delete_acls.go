package broker

import (
	"context"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/authz"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// handleDeleteACLs deletes, for each filter, the bindings it selects and
// lists them in that filter's result. A binding two filters select is
// listed under both, as Kafka does.
func (b *Broker) handleDeleteACLs(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DeleteACLsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(r.Filters))
	failAll := func(code int16, msg *string) (network.Response, error) {
		for i := range resp.Results {
			resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return network.Response{Msg: resp}, nil
	}
	if !b.authorizeCluster(cc, kmsg.ACLOperationAlter) {
		return failAll(kerr.ClusterAuthorizationFailed.Code, nil)
	}
	a := b.authorizer()
	if a == nil {
		msg := noAuthorizerAlterMessage
		return failAll(kerr.SecurityDisabled.Code, &msg)
	}
	seen := map[authz.Binding]bool{}
	var doomed []authz.Binding
	var matched []int // results that list bindings
	for i, fr := range r.Filters {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
		f := authz.Filter{
			ResourceType: fr.ResourceType, ResourceName: fr.ResourceName, PatternType: fr.ResourcePatternType,
			Principal: fr.Principal, Host: fr.Host, Operation: fr.Operation, Permission: fr.PermissionType,
		}
		if err := f.Validate(); err != nil {
			code, msg := aclError(err)
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, &msg
			continue
		}
		for _, bd := range a.Bindings(f) {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = bd.ResourceType, bd.ResourceName, bd.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = bd.Principal, bd.Host, bd.Operation, bd.Permission
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			if !seen[bd] {
				seen[bd] = true
				doomed = append(doomed, bd)
			}
		}
		matched = append(matched, i)
	}
	if len(doomed) == 0 {
		return network.Response{Msg: resp}, nil
	}
	if err := b.writeACLs(ctx, func(ctx context.Context) (int64, error) { return b.ctrl.DeleteACLs(ctx, doomed) }); err != nil {
		msg := err.Error()
		for _, i := range matched {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, &msg
			resp.Results[i].MatchingACLs = nil
		}
		return network.Response{Msg: resp}, nil
	}
	for _, bd := range doomed {
		b.log.Info("ACL deleted", zap.String("principal", cc.Principal()), zap.Stringer("acl", bd))
	}
	return network.Response{Msg: resp}, nil
}
