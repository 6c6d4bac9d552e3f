package broker

import (
	"context"
	"fmt"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/authz"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// handleCreateACLs stores every valid creation; each result stands alone,
// as in Kafka: an invalid binding is refused without failing the others.
func (b *Broker) handleCreateACLs(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.CreateACLsRequest)
	resp := r.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(r.Creations))
	failAll := func(code int16, msg *string) (network.Response, error) {
		for i := range resp.Results {
			resp.Results[i] = kmsg.NewCreateACLsResponseResult()
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return network.Response{Msg: resp}, nil
	}
	if !b.authorizeCluster(cc, kmsg.ACLOperationAlter) {
		return failAll(kerr.ClusterAuthorizationFailed.Code, nil)
	}
	if b.authorizer() == nil {
		msg := noAuthorizerAlterMessage
		return failAll(kerr.SecurityDisabled.Code, &msg)
	}
	var valid []authz.Binding
	var at []int
	for i, c := range r.Creations {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
		bd := authz.Binding{
			ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType,
		}
		if err := bd.Validate(); err != nil {
			code, msg := aclError(err)
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, &msg
			continue
		}
		valid = append(valid, bd)
		at = append(at, i)
	}
	if len(valid) == 0 {
		return network.Response{Msg: resp}, nil
	}
	err := b.writeACLs(ctx, func(ctx context.Context) (int64, error) { return b.ctrl.CreateACLs(ctx, valid) })
	if err != nil {
		msg := err.Error()
		for _, i := range at {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, &msg
		}
	} else {
		for _, bd := range valid {
			b.log.Info("ACL created", zap.String("principal", cc.Principal()), zap.Stringer("acl", bd))
		}
	}
	return network.Response{Msg: resp}, nil
}

// writeACLs runs an ACL write and waits until this broker's snapshot
// shows it, so that the client's next request is decided by the new ACLs.
func (b *Broker) writeACLs(ctx context.Context, write func(context.Context) (int64, error)) error {
	ctx, cancel := context.WithTimeout(ctx, metadataWaitTimeout)
	defer cancel()
	rev, err := write(ctx)
	if err != nil {
		return fmt.Errorf("writing the ACLs to etcd: %w", err)
	}
	if err := b.ctrl.WaitRevision(ctx, rev); err != nil {
		return fmt.Errorf("ACLs written, not yet visible: %w", err)
	}
	if snap := b.ctrl.Snapshot(); b.acls != nil {
		b.acls.update(snap)
	}
	return nil
}
