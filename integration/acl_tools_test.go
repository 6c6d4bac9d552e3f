package integration

import (
	"strings"
	"testing"
)

// TestACLToolsWithAuthorizer: with Kafka's authorizer on, three admin
// tools manage ACLs as they would on Kafka — Kafka's kafka-acls (run as
// its script does), kafka-python's admin client and `runnel acl` — and each
// sees what the others wrote. The brokers' and the tools' principal,
// User:ANONYMOUS on PLAINTEXT, is a super user, as in a Kafka setup
// without authentication.
func TestACLToolsWithAuthorizer(t *testing.T) {
	b := startBroker(t,
		withEnv("KAFKA_AUTHORIZER_CLASS_NAME", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		withEnv("KAFKA_SUPER_USERS", "User:ANONYMOUS"))
	c := cliRunner{t: t, brokers: b.addr()}

	// runnel acl: create and list.
	c.ok("", "acl", "create", "--allow", "alice", "--operation", "read", "--operation", "describe", "--topic", "orders")
	var listed []struct {
		Principal    string `json:"principal"`
		ResourceName string `json:"resource_name"`
		Operation    string `json:"operation"`
	}
	c.json(&listed, "acl", "list", "--topic", "orders")
	if len(listed) != 2 || listed[0].Principal != "User:alice" {
		t.Fatalf("runnel acl list: %+v", listed)
	}

	// kafka-python writes bob's, deletes one of them.
	got := python(t, "kafkapython_acls_authorizer.py", b.addr())
	want := "created 2 failed 0\ndescribed 2 ['bob-', 'bob-group']\ndeleted 1\nleft ['bob-']\n"
	if got != want {
		t.Fatalf("kafka-python printed\n%s\nwant\n%s", got, want)
	}

	// kafka-acls sees both tools' ACLs, adds its own and removes alice's.
	javaClasspath(t)
	const toolACLs = "org.apache.kafka.tools.AclCommand" // kafka-acls.sh
	out := kafkaTool(t, "", toolACLs, "--bootstrap-server", b.addr(), "--list")
	mustContain(t, "kafka-acls --list", out,
		`resourceType=TOPIC, name=orders, patternType=LITERAL`, `User:alice`,
		`resourceType=TOPIC, name=bob-, patternType=PREFIXED`, `User:bob`)
	kafkaTool(t, "", toolACLs, "--bootstrap-server", b.addr(), "--add", "--allow-principal", "User:carol",
		"--operation", "Write", "--topic", "carol-", "--resource-pattern-type", "prefixed")
	kafkaTool(t, "", toolACLs, "--bootstrap-server", b.addr(), "--remove", "--force", "--topic", "orders")

	c.json(&listed, "acl", "list")
	var names []string
	for _, l := range listed {
		names = append(names, l.Principal+"@"+l.ResourceName)
	}
	if got := strings.Join(names, ","); got != "User:bob@bob-,User:carol@carol-" {
		t.Fatalf("runnel acl list after kafka-acls: %s", got)
	}
}
