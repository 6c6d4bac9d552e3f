package broker

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestACLAPIsWithoutAuthorizer: with no authorizer, every ACL API answers
// SECURITY_DISABLED with Kafka's messages, through kadm, sarama and raw
// requests at the lowest and highest versions served.
func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)

	acls := kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("t").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	described, err := adm.DescribeACLs(ctx, acls)
	if err != nil || len(described) != 1 || !errors.Is(described[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("kadm describe: %v %+v", err, described)
	}
	created, err := adm.CreateACLs(ctx, acls)
	if err != nil || len(created) != 1 || !errors.Is(created[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("kadm create: %v %+v", err, created)
	}
	deleted, err := adm.DeleteACLs(ctx, acls)
	if err != nil || len(deleted) != 1 || !errors.Is(deleted[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("kadm delete: %v %+v", err, deleted)
	}

	for _, v := range []int16{1, aclAPIsMaxVersion} {
		d := kmsg.NewPtrDescribeACLsRequest()
		d.Version = v
		d.ResourceType, d.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		d.Operation, d.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		dr, err := d.RequestWith(ctx, tb.client(t))
		if err != nil || dr.ErrorCode != kerr.SecurityDisabled.Code || dr.ErrorMessage == nil || *dr.ErrorMessage != noAuthorizerDescribeMessage {
			t.Fatalf("describe v%d: %v %+v", v, err, dr)
		}
		c := kmsg.NewPtrCreateACLsRequest()
		c.Version = v
		c.Creations = make([]kmsg.CreateACLsRequestCreation, 2)
		cr, err := c.RequestWith(ctx, tb.client(t))
		if err != nil || len(cr.Results) != 2 || cr.Results[1].ErrorCode != kerr.SecurityDisabled.Code {
			t.Fatalf("create v%d: %v %+v", v, err, cr)
		}
		del := kmsg.NewPtrDeleteACLsRequest()
		del.Version = v
		del.Filters = make([]kmsg.DeleteACLsRequestFilter, 3)
		delr, err := del.RequestWith(ctx, tb.client(t))
		if err != nil || len(delr.Results) != 3 || delr.Results[2].ErrorCode != kerr.SecurityDisabled.Code ||
			delr.Results[2].ErrorMessage == nil || *delr.Results[2].ErrorMessage != noAuthorizerAlterMessage {
			t.Fatalf("delete v%d: %v %+v", v, err, delr)
		}
	}

	sa := tb.saramaAdmin(t)
	filter := sarama.AclFilter{ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
		Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny}
	if _, err := sa.ListAcls(filter); !errors.Is(err, sarama.ErrSecurityDisabled) {
		t.Fatalf("sarama list: %v", err)
	}
	err = sa.CreateACL(sarama.Resource{ResourceType: sarama.AclResourceTopic, ResourceName: "t", ResourcePatternType: sarama.AclPatternLiteral},
		sarama.Acl{Principal: "User:alice", Host: "*", Operation: sarama.AclOperationRead, PermissionType: sarama.AclPermissionAllow})
	if !errors.Is(err, sarama.ErrSecurityDisabled) {
		t.Fatalf("sarama create: %v", err)
	}
}
