package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestACLChangesReachEveryBroker: three brokers with Kafka's authorizer.
// An ACL created through broker 1 (a DENY of DESCRIBE on the cluster for
// the brokers' own User:ANONYMOUS, beside the ALLOWs that keep it an
// administrator) refuses DescribeAcls on brokers 2 and 3 as soon as their
// etcd watch delivers it; deleting it through broker 1 lets them answer
// again. Five rounds; the test logs how long each change took to reach the
// other brokers (the goal: within a second) and fails only past
// ten seconds.
func TestACLChangesReachEveryBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	c := startCluster(t, 3,
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"allow.everyone.if.no.acl.found=true")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	brokers := make([]*kgo.Broker, 3)
	for i, nd := range c.nodes {
		cl, err := kgo.NewClient(kgo.SeedBrokers(nd.front.addr()), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		brokers[i] = cl.SeedBrokers()[0]
	}
	clusterACL := func(op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
		a := kmsg.NewCreateACLsRequestCreation()
		a.ResourceType, a.ResourceName, a.ResourcePatternType = kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLResourcePatternTypeLiteral
		a.Principal, a.Host, a.Operation, a.PermissionType = "User:ANONYMOUS", "*", op, perm
		return a
	}
	create := kmsg.NewPtrCreateACLsRequest()
	create.Creations = []kmsg.CreateACLsRequestCreation{
		clusterACL(kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow),
		clusterACL(kmsg.ACLOperationClusterAction, kmsg.ACLPermissionTypeAllow),
	}
	mustCreate(t, ctx, brokers[0], create)

	deny := kmsg.NewPtrCreateACLsRequest()
	deny.Creations = []kmsg.CreateACLsRequestCreation{clusterACL(kmsg.ACLOperationDescribe, kmsg.ACLPermissionTypeDeny)}
	undeny := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeCluster, kmsg.ACLResourcePatternTypeLiteral
	f.Operation, f.PermissionType = kmsg.ACLOperationDescribe, kmsg.ACLPermissionTypeDeny
	undeny.Filters = []kmsg.DeleteACLsRequestFilter{f}

	describeCode := func(br *kgo.Broker) int16 {
		d := kmsg.NewPtrDescribeACLsRequest()
		d.ResourceType, d.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		d.Operation, d.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		resp, err := d.RequestWith(ctx, br)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	// reach waits until brokers 2 and 3 answer DescribeAcls with code and
	// returns how long the slower one took.
	reach := func(since time.Time, code int16) time.Duration {
		var slowest time.Duration
		for i, br := range brokers[1:] {
			for describeCode(br) != code {
				if time.Since(since) > 10*time.Second {
					t.Fatalf("an ACL change did not reach broker %d in 10s", i+2)
				}
				time.Sleep(5 * time.Millisecond)
			}
			slowest = max(slowest, time.Since(since))
		}
		return slowest
	}
	var took []time.Duration
	for range 5 {
		mustCreate(t, ctx, brokers[0], deny)
		took = append(took, reach(time.Now(), kerr.ClusterAuthorizationFailed.Code))
		resp, err := undeny.RequestWith(ctx, brokers[0])
		if err != nil || resp.Results[0].ErrorCode != 0 || len(resp.Results[0].MatchingACLs) != 1 {
			t.Fatalf("deleting the DENY: %v %+v", err, resp)
		}
		took = append(took, reach(time.Now(), 0))
	}
	slices.Sort(took)
	t.Logf("an ACL change reached the other two brokers in: median %v, max %v (%d changes)", took[len(took)/2], took[len(took)-1], len(took))
}

func mustCreate(t *testing.T, ctx context.Context, br *kgo.Broker, req *kmsg.CreateACLsRequest) {
	t.Helper()
	resp, err := req.RequestWith(ctx, br)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Results {
		if r.ErrorCode != 0 {
			t.Fatalf("creating ACLs: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
}
