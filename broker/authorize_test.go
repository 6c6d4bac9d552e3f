package broker

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// startAuthorizingBroker is a broker with Kafka's authorizer on, a
// PLAINTEXT listener whose User:ANONYMOUS is a super user (the brokers'
// and the test's administrative access, as in Kafka setups without
// inter-broker authentication) and a SASL_PLAINTEXT listener where admin
// and alice log in with PLAIN.
func startAuthorizingBroker(t *testing.T, overrides ...string) (tb *testBroker, saslAddr string) {
	t.Helper()
	tb = startTestBroker(t, append([]string{
		"listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms=PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config=" + plainJAAS,
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users=User:ANONYMOUS;User:admin",
	}, overrides...)...)
	return tb, tb.Addrs()[1].String()
}

// asUser is a franz-go client logged in as user on the SASL listener.
func asUser(t *testing.T, saslAddr, user, pass string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(saslAddr), kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()),
		kgo.RequestRetries(0),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// The ACL APIs with an authorizer: alice may not list ACLs until she is
// allowed DESCRIBE on the cluster; the super user creates (an invalid
// binding is refused alone, a binding created twice is kept once),
// describes with every filter pattern and deletes, through kadm and
// sarama; every change shows at once.
func TestACLAPIsWithAuthorizer(t *testing.T) {
	tb, saslAddr := startAuthorizingBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)
	alice := kadm.NewClient(asUser(t, saslAddr, "alice", "alice-secret"))

	all := kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).
		Allow().Deny().AllowHosts().DenyHosts()
	if res, err := alice.DescribeACLs(ctx, all); err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describes ACLs without DESCRIBE on the cluster: %v %+v", err, res)
	}
	if res, err := alice.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Clusters().Operations(kadm.OpAll)); err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice grants herself the cluster: %v %+v", err, res)
	}

	prefixed := kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("alice-").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead, kadm.OpWrite)
	describeCluster := kadm.NewACLs().Allow("User:alice").AllowHosts("*").Clusters().Operations(kadm.OpDescribe)
	for range 2 {
		res, err := adm.CreateACLs(ctx, prefixed)
		if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("create prefixed: %v %+v", err, res)
		}
	}
	if res, err := adm.CreateACLs(ctx, describeCluster); err != nil || res[0].Err != nil {
		t.Fatalf("create cluster describe: %v %+v", err, res)
	}

	// An invalid binding beside a valid one, raw so no client validates.
	c := kmsg.NewPtrCreateACLsRequest()
	bad := kmsg.NewCreateACLsRequestCreation()
	bad.ResourceType, bad.ResourceName, bad.ResourcePatternType = kmsg.ACLResourceTypeCluster, "not-the-cluster", kmsg.ACLResourcePatternTypeLiteral
	bad.Principal, bad.Host, bad.Operation, bad.PermissionType = "User:alice", "*", kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow
	good := bad
	good.ResourceType, good.ResourceName, good.Operation = kmsg.ACLResourceTypeGroup, "alice-group", kmsg.ACLOperationRead
	c.Creations = []kmsg.CreateACLsRequestCreation{bad, good}
	cr, err := c.RequestWith(ctx, tb.client(t))
	if err != nil || cr.Results[0].ErrorCode != kerr.InvalidRequest.Code || cr.Results[1].ErrorCode != 0 {
		t.Fatalf("create bad and good: %v %+v", err, cr)
	}

	// alice may describe now: 4 bindings, the prefixed pair kept once.
	res, err := alice.DescribeACLs(ctx, all)
	if err != nil || res[0].Err != nil || len(res[0].Described) != 4 {
		t.Fatalf("alice describes all: %v %+v", err, res)
	}
	match := kadm.NewACLs().Topics("alice-orders").ResourcePatternType(kadm.ACLPatternMatch).Operations(kadm.OpAny).
		Allow().Deny().AllowHosts().DenyHosts()
	if res, err := adm.DescribeACLs(ctx, match); err != nil || len(res[0].Described) != 2 || res[0].Described[0].Pattern != kadm.ACLPatternPrefixed {
		t.Fatalf("MATCH alice-orders: %v %+v", err, res)
	}

	// sarama lists and deletes the group binding.
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	sadm, err := sarama.NewClusterAdmin([]string{tb.Addrs()[0].String()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sadm.Close()
	groupFilter := sarama.AclFilter{
		ResourceType: sarama.AclResourceGroup, ResourcePatternTypeFilter: sarama.AclPatternAny,
		Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny,
	}
	listed, err := sadm.ListAcls(groupFilter)
	if err != nil || len(listed) != 1 || listed[0].ResourceName != "alice-group" {
		t.Fatalf("sarama lists group ACLs: %v %+v", err, listed)
	}
	deleted, err := sadm.DeleteACL(groupFilter, false)
	if err != nil || len(deleted) != 1 {
		t.Fatalf("sarama deletes group ACLs: %v %+v", err, deleted)
	}
	if listed, err := sadm.ListAcls(groupFilter); err != nil || len(listed) != 0 {
		t.Fatalf("after delete: %v %+v", err, listed)
	}

	// Revoking alice's DESCRIBE takes effect on her next request.
	if res, err := adm.DeleteACLs(ctx, describeCluster); err != nil || res[0].Err != nil || len(res[0].Deleted) != 1 {
		t.Fatalf("delete cluster describe: %v %+v", err, res)
	}
	if res, err := alice.DescribeACLs(ctx, all); err != nil || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describes after revocation: %v %+v", err, res)
	}
}

// The authorized-operations fields without an authorizer: every operation
// Kafka supports on the resource type, one bit per AclOperation code
// (READ=3 WRITE=4 CREATE=5 DELETE=6 ALTER=7 DESCRIBE=8 CLUSTER_ACTION=9
// DESCRIBE_CONFIGS=10 ALTER_CONFIGS=11 IDEMPOTENT_WRITE=12).
const (
	allTopicOperations   int32 = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	allClusterOperations int32 = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
	allGroupOperations   int32 = 1<<3 | 1<<6 | 1<<8 | 1<<10 | 1<<11
)

// TestAuthorizationRegexSubscription: a KIP-848 regex resolves only to
// topics the member may describe, and ConsumerGroupDescribe hides a group
// whose assignments name a topic the caller may not describe (Kafka's
// TOPIC_AUTHORIZATION_FAILED row without members).
func TestAuthorizationRegexSubscription(t *testing.T) {
	tb, saslAddr := startAuthorizingBroker(t, overrides848...)
	ctx := testCtx(t)
	adm := tb.admin(t)
	for _, topic := range []string{"alice-a", "bob-b"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	grant(t, adm, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Groups("rx-g").Operations(kadm.OpRead, kadm.OpDescribe))
	grant(t, adm, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("alice-").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))
	alice := asUser(t, saslAddr, "alice", "alice-secret")
	admin := tb.client(t)

	regex := "(alice|bob)-.*"
	join := func(cl *kgo.Client, member string) map[[16]byte]int {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Group, r.MemberID, r.MemberEpoch = "rx-g", member, 0
		r.RebalanceTimeoutMillis, r.SubscribedTopicRegex = 10000, &regex
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		var resp *kmsg.ConsumerGroupHeartbeatResponse
		testenv.Eventually(t, "the coordinator answers "+member, func() bool {
			var err error
			if resp, err = r.RequestWith(ctx, cl); err != nil {
				t.Fatal(err)
			}
			return resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code && resp.ErrorCode != kerr.NotCoordinator.Code
		})
		if resp.ErrorCode != 0 || resp.Assignment == nil {
			t.Fatalf("%s joins: %v %+v", member, kerr.ErrorForCode(resp.ErrorCode), resp)
		}
		got := map[[16]byte]int{}
		for _, at := range resp.Assignment.Topics {
			got[at.TopicID] = len(at.Partitions)
		}
		return got
	}
	snap := tb.ctrl.Snapshot()
	aliceA, bobB := snap.Topics["alice-a"].ID, snap.Topics["bob-b"].ID
	if got := join(alice, "alice-member"); got[aliceA] != 2 || got[bobB] != 0 {
		t.Fatalf("alice's regex resolved to %v; want alice-a's 2 partitions and nothing of bob-b", got)
	}
	if g := describe848(t, tb, alice, "rx-g"); g.ErrorCode != 0 || len(g.Members) != 1 {
		t.Fatalf("alice describes her group: %v %+v", kerr.ErrorForCode(g.ErrorCode), g)
	}

	// The super user's member resolves the same regex to both topics;
	// bob-b now appears in the group's assignments.
	if got := join(admin, "admin-member"); got[bobB] == 0 {
		t.Fatalf("the super user's regex resolved to %v; want bob-b too", got)
	}
	g := describe848(t, tb, alice, "rx-g")
	if g.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(g.Members) != 0 || g.ErrorMessage == nil {
		t.Fatalf("alice describes a group assigned bob-b: %v %+v", kerr.ErrorForCode(g.ErrorCode), g)
	}
	if g := describe848(t, tb, admin, "rx-g"); g.ErrorCode != 0 || len(g.Members) != 2 {
		t.Fatalf("the super user describes the group: %v %+v", kerr.ErrorForCode(g.ErrorCode), g)
	}
}
