package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cost of authorization on the data path: produce and fetch as in
// produce_fetch_bench_test.go, with no authorizer ("off") and with one
// holding 10,000 ACLs of other tenants, half literal and half prefixed,
// beside the few that let the client (User:ANONYMOUS, not a super user)
// write, read and produce idempotently ("on").
//
//	make bench-authz
func BenchmarkAuthorizerProduce(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(onOff(on), func(b *testing.B) {
			addr := authzBenchBroker(b, on)
			b.SetBytes(benchRecordSize)
			b.ResetTimer()
			benchProduce(b, addr, "bench", b.N)
		})
	}
}

func BenchmarkAuthorizerFetch(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(onOff(on), func(b *testing.B) {
			addr := authzBenchBroker(b, on)
			benchProduce(b, addr, "bench", b.N)
			benchConsume(b, addr, "bench")
		})
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// authzBenchACLs is how many other tenants' ACLs the "on" broker holds.
const authzBenchACLs = 10_000

func authzBenchBroker(b *testing.B, on bool) string {
	b.Helper()
	if !on {
		return benchBroker(b, "bench")
	}
	// The client is not a super user: its requests go through the whole
	// decision. allow.everyone.if.no.acl.found lets it create the ACLs
	// while the cluster has none; the last one created takes that away.
	addrs := benchBrokerWith(b, "bench",
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users=User:admin", "allow.everyone.if.no.acl.found=true")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs[0]))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	create := func(cs []kmsg.CreateACLsRequestCreation) {
		req := kmsg.NewPtrCreateACLsRequest()
		req.Creations = cs
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range resp.Results {
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
				b.Fatalf("creating ACLs: %v", err)
			}
		}
	}
	acl := func(user string, rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, op kmsg.ACLOperation) kmsg.CreateACLsRequestCreation {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, pt
		c.Principal, c.Host, c.Operation, c.PermissionType = user, "*", op, kmsg.ACLPermissionTypeAllow
		return c
	}
	var batch []kmsg.CreateACLsRequestCreation
	for i := range authzBenchACLs / 2 {
		user := fmt.Sprintf("User:tenant-%d", i)
		batch = append(batch,
			acl(user, kmsg.ACLResourceTypeTopic, fmt.Sprintf("tenant-%d-orders", i), kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationWrite),
			acl(user, kmsg.ACLResourceTypeTopic, fmt.Sprintf("tenant-%d-", i), kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationRead))
		if len(batch) == 1000 {
			create(batch)
			batch = nil
		}
	}
	create(append(batch,
		acl("User:ANONYMOUS", kmsg.ACLResourceTypeTopic, "bench", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationWrite),
		acl("User:ANONYMOUS", kmsg.ACLResourceTypeTopic, "bench", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationRead)))
	create([]kmsg.CreateACLsRequestCreation{
		acl("User:ANONYMOUS", kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationIdempotentWrite),
	})
	return addrs[0]
}
