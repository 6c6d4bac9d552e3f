package broker

import (
	"context"
	"errors"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/authz"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ACL APIs (DescribeAcls 29, CreateAcls 30, DeleteAcls 31), from
// Kafka 4's floor (v1) to v3, as Kafka's AclApis: describing needs
// DESCRIBE on the cluster, creating and deleting ALTER; the ACLs live in
// etcd (controller/acls.go) and the answer is sent once the broker's own
// snapshot shows the change. Without an authorizer every request is
// answered SECURITY_DISABLED with Kafka's messages, so admin tools that
// list ACLs get Kafka's answer instead of a closed connection.
const aclAPIsMaxVersion int16 = 3

const (
	noAuthorizerDescribeMessage = "No Authorizer is configured on the broker"
	noAuthorizerAlterMessage    = "No Authorizer is configured."
)

// handleDescribeACLs lists the bindings the filter selects, grouped by
// resource pattern.
func (b *Broker) handleDescribeACLs(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeACLsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeACLsResponse)
	fail := func(code int16, msg string) (network.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return network.Response{Msg: resp}, nil
	}
	if !b.authorizeCluster(cc, kmsg.ACLOperationDescribe) {
		return fail(kerr.ClusterAuthorizationFailed.Code, "")
	}
	a := b.authorizer()
	if a == nil {
		return fail(kerr.SecurityDisabled.Code, noAuthorizerDescribeMessage)
	}
	f := authz.Filter{
		ResourceType: r.ResourceType, ResourceName: r.ResourceName, PatternType: r.ResourcePatternType,
		Principal: r.Principal, Host: r.Host, Operation: r.Operation, Permission: r.PermissionType,
	}
	if err := f.Validate(); err != nil {
		code, msg := aclError(err)
		return fail(code, msg)
	}
	type pattern struct {
		rt   kmsg.ACLResourceType
		name string
		pt   kmsg.ACLResourcePatternType
	}
	index := map[pattern]int{}
	for _, bd := range a.Bindings(f) {
		p := pattern{bd.ResourceType, bd.ResourceName, bd.PatternType}
		i, ok := index[p]
		if !ok {
			i = len(resp.Resources)
			index[p] = i
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = p.rt, p.name, p.pt
			resp.Resources = append(resp.Resources, res)
		}
		acl := kmsg.NewDescribeACLsResponseResourceACL()
		acl.Principal, acl.Host, acl.Operation, acl.PermissionType = bd.Principal, bd.Host, bd.Operation, bd.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, acl)
	}
	return network.Response{Msg: resp}, nil
}

// aclError is the code and message of a validation failure.
func aclError(err error) (int16, string) {
	var ae *authz.Error
	if errors.As(err, &ae) {
		return ae.Err.Code, ae.Message
	}
	return kerr.UnknownServerError.Code, err.Error()
}
