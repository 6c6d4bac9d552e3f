package broker

import (
	"sync"
	"sync/atomic"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/security/authz"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization, as Kafka's KafkaApis does it through AuthHelper: with
// authorizer.class.name set, every handler asks authorize (or
// authorizedOperations) before it acts, and answers Kafka's
// *_AUTHORIZATION_FAILED where Kafka does. Without it everything is
// allowed, the authorized-operations fields list every operation the
// resource type supports, and the ACL APIs answer SECURITY_DISABLED.
//
// The decision is package authz's over the ACLs of the current metadata
// snapshot: a change of ACLs in etcd reaches every broker through its
// watch, and the next request is decided by the new set.

// acls holds the broker's current authorizer.
type acls struct {
	enabled bool
	cfg     authz.Config
	cur     atomic.Pointer[authz.Authorizer]

	mu   sync.Mutex      // serializes rebuilds
	from []authz.Binding // the snapshot ACL list cur was built from
}

// newACLs builds the broker's authorizer from the first snapshot; it is
// disabled (nil) when no authorizer is configured.
func newACLs(cfg *config.Broker, snap *controller.Snapshot) *acls {
	if !cfg.AuthorizerEnabled {
		return nil
	}
	a := &acls{enabled: true, cfg: authz.Config{
		SuperUsers:           authz.ParseSuperUsers(cfg.SuperUsers),
		AllowEveryoneIfNoACL: cfg.AllowEveryoneIfNoACL,
	}}
	a.update(snap)
	return a
}

// update rebuilds the authorizer when the snapshot's ACL list is not the
// one it was built from (the controller keeps the same slice while no ACL
// changes, so most snapshots cost a comparison).
func (a *acls) update(snap *controller.Snapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur.Load() != nil && sameSlice(a.from, snap.ACLs) {
		return
	}
	a.cur.Store(authz.New(snap.ACLs, a.cfg))
	a.from = snap.ACLs
}

func sameSlice(x, y []authz.Binding) bool {
	return len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
}

// authorizer is the current authorizer, nil when none is configured.
func (b *Broker) authorizer() *authz.Authorizer {
	if b.acls == nil {
		return nil
	}
	return b.acls.cur.Load()
}

// requester is who a connection is, for the authorizer.
func requester(cc *network.ConnContext) authz.Requester {
	return authz.Requester{Principal: cc.Principal(), Host: authz.HostOf(cc.RemoteAddr)}
}

// authorize reports whether the connection may perform op on the resource
// of type rt named name; always true without an authorizer.
func (b *Broker) authorize(cc *network.ConnContext, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	a := b.authorizer()
	return a == nil || a.Authorize(requester(cc), op, rt, name)
}

// authorizeCluster is authorize on the cluster resource.
func (b *Broker) authorizeCluster(cc *network.ConnContext, op kmsg.ACLOperation) bool {
	return b.authorize(cc, op, kmsg.ACLResourceTypeCluster, authz.ClusterResourceName)
}

// authorizeAny reports whether the connection may perform op on some
// resource of type rt (Kafka's authorizeByResourceType).
func (b *Broker) authorizeAny(cc *network.ConnContext, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	a := b.authorizer()
	return a == nil || a.AuthorizeAny(requester(cc), op, rt)
}

// supportedOperations are the operations Kafka lists for a resource type
// in authorized-operations fields (AclEntry.supportedOperations).
var supportedOperations = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {
		kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
	},
	kmsg.ACLResourceTypeGroup: {
		kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
	},
	kmsg.ACLResourceTypeCluster: {
		kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
	},
	kmsg.ACLResourceTypeTransactionalId: {kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite, authz.OperationTwoPhaseCommit},
	kmsg.ACLResourceTypeDelegationToken: {kmsg.ACLOperationDescribe},
	kmsg.ACLResourceTypeUser: {
		kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens,
	},
}

// authorizedOperations is the bit field (bit n set: operation code n
// allowed) of the operations on the resource the connection may perform,
// for the authorized-operations fields of Metadata, DescribeCluster,
// DescribeGroups, ConsumerGroupDescribe and DescribeTopicPartitions.
// Without an authorizer every supported operation is listed, as Kafka does.
func (b *Broker) authorizedOperations(cc *network.ConnContext, rt kmsg.ACLResourceType, name string) int32 {
	a := b.authorizer()
	var who authz.Requester
	if a != nil {
		who = requester(cc)
	}
	var bits int32
	for _, op := range supportedOperations[rt] {
		if a == nil || a.Authorize(who, op, rt, name) {
			bits |= 1 << uint(op)
		}
	}
	return bits
}

// authorizeConfigResource checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on
// a config resource as Kafka's config APIs do: brokers, broker loggers and
// client-metrics subscriptions are the cluster's; topics and groups their
// own. It returns the error the resource is answered with, or nil.
func (b *Broker) authorizeConfigResource(cc *network.ConnContext, op kmsg.ACLOperation, rt kmsg.ConfigResourceType, name string) error {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		if !b.authorize(cc, op, kmsg.ACLResourceTypeTopic, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		if !b.authorize(cc, op, kmsg.ACLResourceTypeGroup, name) {
			return kerr.GroupAuthorizationFailed
		}
	default:
		if !b.authorizeCluster(cc, op) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}
