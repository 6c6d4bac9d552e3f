package authz

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

const (
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	cluster = kmsg.ACLResourceTypeCluster
	literal = kmsg.ACLResourcePatternTypeLiteral
	prefix  = kmsg.ACLResourcePatternTypePrefixed
	allow   = kmsg.ACLPermissionTypeAllow
	deny    = kmsg.ACLPermissionTypeDeny

	read      = kmsg.ACLOperationRead
	write     = kmsg.ACLOperationWrite
	describe  = kmsg.ACLOperationDescribe
	all       = kmsg.ACLOperationAll
	alterCfg  = kmsg.ACLOperationAlterConfigs
	descCfg   = kmsg.ACLOperationDescribeConfigs
	create    = kmsg.ACLOperationCreate
	idempotWr = kmsg.ACLOperationIdempotentWrite
)

func acl(rt kmsg.ACLResourceType, pt kmsg.ACLResourcePatternType, name, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

var (
	alice     = Requester{Principal: "User:alice", Host: "10.0.0.1"}
	bob       = Requester{Principal: "User:bob", Host: "10.0.0.2"}
	anonymous = Requester{Principal: "User:ANONYMOUS", Host: "127.0.0.1"}
)

// TestAuthorize walks Kafka's rules one at a time.
func TestAuthorize(t *testing.T) {
	cases := []struct {
		name  string
		acls  []Binding
		cfg   Config
		who   Requester
		op    kmsg.ACLOperation
		rt    kmsg.ACLResourceType
		res   string
		allow bool
	}{
		{"no ACLs denies by default", nil, Config{}, alice, read, topic, "t", false},
		{"no ACLs allows with allow.everyone.if.no.acl.found", nil, Config{AllowEveryoneIfNoACL: true}, alice, read, topic, "t", true},
		{"super user", []Binding{acl(topic, literal, "t", "User:alice", "*", read, deny)}, Config{SuperUsers: []string{"User:alice"}}, alice, read, topic, "t", true},
		{"literal allow", []Binding{acl(topic, literal, "t", "User:alice", "*", read, allow)}, Config{}, alice, read, topic, "t", true},
		{"literal allow is for its name only", []Binding{acl(topic, literal, "t", "User:alice", "*", read, allow)}, Config{}, alice, read, topic, "t2", false},
		{"another principal's ACL: resource has ACLs, so denied even with allow.everyone", []Binding{acl(topic, literal, "t", "User:bob", "*", read, allow)}, Config{AllowEveryoneIfNoACL: true}, alice, read, topic, "t", false},
		{"ACL on another resource: allow.everyone applies", []Binding{acl(topic, literal, "u", "User:bob", "*", read, allow)}, Config{AllowEveryoneIfNoACL: true}, alice, read, topic, "t", true},
		{"wildcard principal", []Binding{acl(topic, literal, "t", "User:*", "*", read, allow)}, Config{}, alice, read, topic, "t", true},
		{"wildcard resource", []Binding{acl(topic, literal, "*", "User:alice", "*", read, allow)}, Config{}, alice, read, topic, "anything", true},
		{"prefixed", []Binding{acl(topic, prefix, "team-a.", "User:alice", "*", write, allow)}, Config{}, alice, write, topic, "team-a.orders", true},
		{"prefixed does not match a shorter name", []Binding{acl(topic, prefix, "team-a.", "User:alice", "*", write, allow)}, Config{}, alice, write, topic, "team-a", false},
		{"prefixed equal to the name", []Binding{acl(topic, prefix, "team-a", "User:alice", "*", write, allow)}, Config{}, alice, write, topic, "team-a", true},
		{"deny wins over allow", []Binding{
			acl(topic, prefix, "team-a.", "User:alice", "*", all, allow),
			acl(topic, literal, "team-a.secret", "User:alice", "*", read, deny),
		}, Config{}, alice, read, topic, "team-a.secret", false},
		{"wildcard deny wins", []Binding{
			acl(topic, literal, "t", "User:alice", "*", read, allow),
			acl(topic, literal, "*", "User:*", "*", read, deny),
		}, Config{}, alice, read, topic, "t", false},
		{"host must match", []Binding{acl(topic, literal, "t", "User:alice", "10.0.0.9", read, allow)}, Config{}, alice, read, topic, "t", false},
		{"host matches", []Binding{acl(topic, literal, "t", "User:alice", "10.0.0.1", read, allow)}, Config{}, alice, read, topic, "t", true},
		{"IPv6 host in Java's form", []Binding{acl(topic, literal, "t", "User:alice", "0:0:0:0:0:0:0:1", read, allow)}, Config{}, Requester{"User:alice", "::1"}, read, topic, "t", true},
		{"READ implies DESCRIBE", []Binding{acl(topic, literal, "t", "User:alice", "*", read, allow)}, Config{}, alice, describe, topic, "t", true},
		{"WRITE implies DESCRIBE", []Binding{acl(topic, literal, "t", "User:alice", "*", write, allow)}, Config{}, alice, describe, topic, "t", true},
		{"CREATE does not imply DESCRIBE", []Binding{acl(topic, literal, "t", "User:alice", "*", create, allow)}, Config{}, alice, describe, topic, "t", false},
		{"DESCRIBE does not imply READ", []Binding{acl(topic, literal, "t", "User:alice", "*", describe, allow)}, Config{}, alice, read, topic, "t", false},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", []Binding{acl(topic, literal, "t", "User:alice", "*", alterCfg, allow)}, Config{}, alice, descCfg, topic, "t", true},
		{"DENY READ does not deny DESCRIBE", []Binding{
			acl(topic, literal, "t", "User:alice", "*", write, allow),
			acl(topic, literal, "t", "User:alice", "*", read, deny),
		}, Config{}, alice, describe, topic, "t", true},
		{"DENY ALL denies DESCRIBE", []Binding{
			acl(topic, literal, "t", "User:alice", "*", write, allow),
			acl(topic, literal, "t", "User:alice", "*", all, deny),
		}, Config{}, alice, describe, topic, "t", false},
		{"ALLOW ALL", []Binding{acl(group, literal, "g", "User:alice", "*", all, allow)}, Config{}, alice, read, group, "g", true},
		{"resource types are separate", []Binding{acl(group, literal, "t", "User:alice", "*", all, allow)}, Config{}, alice, read, topic, "t", false},
		{"cluster resource", []Binding{acl(cluster, literal, "kafka-cluster", "User:alice", "*", idempotWr, allow)}, Config{}, alice, idempotWr, cluster, "kafka-cluster", true},
		{"other principal denied", []Binding{acl(topic, literal, "t", "User:alice", "*", read, allow)}, Config{}, bob, read, topic, "t", false},
		{"ANONYMOUS through User:*", []Binding{acl(topic, literal, "t", "User:*", "*", read, allow)}, Config{}, anonymous, read, topic, "t", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, b := range c.acls {
				if err := b.Validate(); err != nil {
					t.Fatalf("case ACL %v invalid: %v", b, err)
				}
			}
			a := New(c.acls, c.cfg)
			if got := a.Authorize(c.who, c.op, c.rt, c.res); got != c.allow {
				t.Errorf("Authorize(%s, %s, %s %q) = %v, want %v", c.who.Principal, c.op, c.rt, c.res, got, c.allow)
			}
		})
	}
}

// TestAuthorizeAny follows Kafka's authorizeByResourceType.
func TestAuthorizeAny(t *testing.T) {
	cases := []struct {
		name  string
		acls  []Binding
		cfg   Config
		allow bool
	}{
		{"no ACLs", nil, Config{}, false},
		{"no ACLs, allow.everyone", nil, Config{AllowEveryoneIfNoACL: true}, true},
		{"super user", nil, Config{SuperUsers: []string{"User:alice"}}, true},
		{"one literal allow", []Binding{acl(topic, literal, "t", "User:alice", "*", write, allow)}, Config{}, true},
		{"literal allow denied literally", []Binding{
			acl(topic, literal, "t", "User:alice", "*", write, allow),
			acl(topic, literal, "t", "User:alice", "*", write, deny),
		}, Config{}, false},
		{"literal allow dominated by prefix deny", []Binding{
			acl(topic, literal, "team.t", "User:alice", "*", write, allow),
			acl(topic, prefix, "team.", "User:*", "*", write, deny),
		}, Config{}, false},
		{"prefix allow not dominated by a longer deny", []Binding{
			acl(topic, prefix, "team.", "User:alice", "*", write, allow),
			acl(topic, prefix, "team.secret", "User:alice", "*", write, deny),
		}, Config{}, true},
		{"wildcard deny", []Binding{
			acl(topic, literal, "t", "User:alice", "*", write, allow),
			acl(topic, literal, "*", "User:alice", "*", write, deny),
		}, Config{}, false},
		{"wildcard allow", []Binding{acl(topic, literal, "*", "User:*", "*", all, allow)}, Config{}, true},
		{"implications do not count", []Binding{acl(topic, literal, "t", "User:alice", "*", all, allow)}, Config{}, true},
		{"another operation", []Binding{acl(topic, literal, "t", "User:alice", "*", read, allow)}, Config{}, false},
		{"another host", []Binding{acl(topic, literal, "t", "User:alice", "10.9.9.9", write, allow)}, Config{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := New(c.acls, c.cfg).AuthorizeAny(alice, write, topic); got != c.allow {
				t.Errorf("AuthorizeAny = %v, want %v", got, c.allow)
			}
		})
	}
}

// TestAuthorizeMatchesReference: the index answers as a direct reading of
// the rules over the whole list does, for random ACL sets and requests.
func TestAuthorizeMatchesReference(t *testing.T) {
	names := []string{"a", "ab", "abc", "b", "ba", "*", "team-a.x", "team-a."}
	principals := []string{"User:alice", "User:bob", "User:*"}
	hosts := []string{"*", "10.0.0.1", "10.0.0.2"}
	ops := []kmsg.ACLOperation{all, read, write, describe, alterCfg, descCfg, create}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 12).Draw(rt, "n")
		var acls []Binding
		for i := range n {
			b := acl(
				rapid.SampledFrom([]kmsg.ACLResourceType{topic, group}).Draw(rt, fmt.Sprint("rt", i)),
				rapid.SampledFrom([]kmsg.ACLResourcePatternType{literal, prefix}).Draw(rt, fmt.Sprint("pt", i)),
				rapid.SampledFrom(names).Draw(rt, fmt.Sprint("name", i)),
				rapid.SampledFrom(principals).Draw(rt, fmt.Sprint("p", i)),
				rapid.SampledFrom(hosts).Draw(rt, fmt.Sprint("h", i)),
				rapid.SampledFrom(ops).Draw(rt, fmt.Sprint("op", i)),
				rapid.SampledFrom([]kmsg.ACLPermissionType{allow, deny}).Draw(rt, fmt.Sprint("perm", i)),
			)
			acls = append(acls, b)
		}
		cfg := Config{AllowEveryoneIfNoACL: rapid.Bool().Draw(rt, "allowEveryone")}
		who := Requester{
			Principal: rapid.SampledFrom([]string{"User:alice", "User:bob"}).Draw(rt, "who"),
			Host:      rapid.SampledFrom([]string{"10.0.0.1", "10.0.0.2"}).Draw(rt, "host"),
		}
		op := rapid.SampledFrom(ops[1:]).Draw(rt, "op")
		res := rapid.SampledFrom([]string{"a", "ab", "abc", "b", "team-a.x", "zzz"}).Draw(rt, "res")
		a := New(acls, cfg)
		if got, want := a.Authorize(who, op, topic, res), reference(acls, cfg, who, op, topic, res); got != want {
			rt.Fatalf("Authorize(%v, %s, %q) = %v, reference says %v; ACLs %v", who, op, res, got, want, acls)
		}
	})
}

// reference is the package doc's rules read literally over the ACL list.
func reference(acls []Binding, cfg Config, who Requester, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	for _, s := range cfg.SuperUsers {
		if s == who.Principal {
			return true
		}
	}
	applies, allowed, denied := false, false, false
	for _, b := range acls {
		if b.ResourceType != rt {
			continue
		}
		switch {
		case b.PatternType == literal && (b.ResourceName == name || b.ResourceName == "*"):
		case b.PatternType == prefix && strings.HasPrefix(name, b.ResourceName):
		default:
			continue
		}
		applies = true
		if b.Principal != who.Principal && b.Principal != "User:*" {
			continue
		}
		if b.Host != "*" && b.Host != who.Host {
			continue
		}
		opOK := b.Operation == all || b.Operation == op
		if b.Permission == allow && !opOK {
			opOK = (op == describe && (b.Operation == read || b.Operation == write || b.Operation == kmsg.ACLOperationDelete || b.Operation == kmsg.ACLOperationAlter)) ||
				(op == descCfg && b.Operation == alterCfg)
		}
		if !opOK {
			continue
		}
		if b.Permission == deny {
			denied = true
		} else {
			allowed = true
		}
	}
	switch {
	case denied:
		return false
	case allowed:
		return true
	case !applies:
		return cfg.AllowEveryoneIfNoACL
	}
	return false
}

// TestValidate: CreateAcls' checks, each INVALID_REQUEST with Kafka's message.
func TestValidate(t *testing.T) {
	ok := acl(topic, literal, "t", "User:alice", "*", read, allow)
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid binding refused: %v", err)
	}
	cases := []struct {
		mod  func(*Binding)
		want string
	}{
		{func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeAny }, "Invalid resourceType ANY"},
		{func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeUnknown }, "Invalid resourceType UNKNOWN"},
		{func(b *Binding) { b.ResourceType, b.ResourceName = cluster, "other" }, "The only valid name for the CLUSTER resource is kafka-cluster"},
		{func(b *Binding) { b.ResourceName = "" }, "Invalid empty resource name"},
		{func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeMatch }, "Invalid patternType MATCH"},
		{func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeAny }, "Invalid patternType ANY"},
		{func(b *Binding) { b.Operation = kmsg.ACLOperationAny }, "Invalid operation ANY"},
		{func(b *Binding) { b.Operation = kmsg.ACLOperationUnknown }, "Invalid operation UNKNOWN"},
		{func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeAny }, "Invalid permissionType ANY"},
		{func(b *Binding) { b.Principal = "alice" }, "Could not parse principal from `alice`"},
	}
	for _, c := range cases {
		b := ok
		c.mod(&b)
		err := b.Validate()
		var ae *Error
		if !errors.As(err, &ae) || ae.Err != kerr.InvalidRequest || !strings.HasPrefix(ae.Message, c.want) {
			t.Errorf("%v: got %v, want INVALID_REQUEST %q", b, err, c.want)
		}
	}
	if err := acl(topic, literal, "t", "User:a", "*", OperationTwoPhaseCommit, allow).Validate(); err != nil {
		t.Errorf("TWO_PHASE_COMMIT refused: %v", err)
	}
}

// TestFilter: DescribeAcls/DeleteAcls filter matching, MATCH included.
func TestFilter(t *testing.T) {
	str := func(s string) *string { return &s }
	acls := []Binding{
		acl(topic, literal, "orders", "User:alice", "*", read, allow),
		acl(topic, literal, "*", "User:bob", "*", read, allow),
		acl(topic, prefix, "ord", "User:alice", "10.0.0.1", write, deny),
		acl(topic, prefix, "x", "User:alice", "*", write, allow),
		acl(group, literal, "orders", "User:alice", "*", read, allow),
	}
	a := New(acls, Config{})
	any := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	cases := []struct {
		name string
		mod  func(*Filter)
		want int
	}{
		{"everything", func(*Filter) {}, 5},
		{"topics", func(f *Filter) { f.ResourceType = topic }, 4},
		{"literal orders, any type", func(f *Filter) { f.ResourceName, f.PatternType = str("orders"), literal }, 2},
		{"ANY pattern, name orders", func(f *Filter) { f.ResourceName = str("orders") }, 2},
		{"MATCH orders on topics", func(f *Filter) {
			f.ResourceType, f.ResourceName, f.PatternType = topic, str("orders"), kmsg.ACLResourcePatternTypeMatch
		}, 3},
		{"prefixed, no name", func(f *Filter) { f.PatternType = prefix }, 2},
		{"principal", func(f *Filter) { f.Principal = str("User:bob") }, 1},
		{"host", func(f *Filter) { f.Host = str("10.0.0.1") }, 1},
		{"operation", func(f *Filter) { f.Operation = write }, 2},
		{"permission", func(f *Filter) { f.Permission = deny }, 1},
	}
	for _, c := range cases {
		f := any
		c.mod(&f)
		if err := f.Validate(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := len(a.Bindings(f)); got != c.want {
			t.Errorf("%s: %d bindings, want %d", c.name, got, c.want)
		}
	}
	bad := any
	bad.PatternType = kmsg.ACLResourcePatternTypeUnknown
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "Unknown patternFilter.") {
		t.Errorf("UNKNOWN pattern type: %v", err)
	}
	bad = any
	bad.Operation = kmsg.ACLOperationUnknown
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "Unknown entryFilter.") {
		t.Errorf("UNKNOWN operation: %v", err)
	}
}

func TestParseSuperUsers(t *testing.T) {
	got := ParseSuperUsers(" User:admin; User:broker ;;")
	if len(got) != 2 || got[0] != "User:admin" || got[1] != "User:broker" {
		t.Errorf("ParseSuperUsers = %q", got)
	}
	if h := HostOf(&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}); h != "::1" {
		t.Errorf("HostOf = %q", h)
	}
}

// benchACLs is 10,000 ACLs shaped like a multi-tenant cluster: 1,000
// tenants, each with prefixed topic and group ACLs and literal ones for a
// few topics, plus deny rules — the size of Kafka's own
// AuthorizerBenchmark.
func benchACLs() []Binding {
	rng := rand.New(rand.NewPCG(1, 2))
	var acls []Binding
	for tenant := range 1000 {
		p := fmt.Sprintf("User:tenant-%d", tenant)
		pre := fmt.Sprintf("tenant-%d.", tenant)
		acls = append(acls,
			acl(topic, prefix, pre, p, "*", read, allow),
			acl(topic, prefix, pre, p, "*", write, allow),
			acl(group, prefix, pre, p, "*", read, allow),
			acl(kmsg.ACLResourceTypeTransactionalId, prefix, pre, p, "*", write, allow),
			acl(topic, literal, pre+"secret", p, "*", read, deny),
		)
		for range 5 {
			acls = append(acls, acl(topic, literal, fmt.Sprintf("shared-%d", rng.IntN(500)), p, "*", read, allow))
		}
	}
	return acls
}

func BenchmarkAuthorize(b *testing.B) {
	a := New(benchACLs(), Config{SuperUsers: []string{"User:admin"}})
	who := Requester{Principal: "User:tenant-500", Host: "10.1.2.3"}
	b.Run("prefixed-allowed", func(b *testing.B) {
		for b.Loop() {
			if !a.Authorize(who, write, topic, "tenant-500.orders") {
				b.Fatal("denied")
			}
		}
	})
	b.Run("literal-denied", func(b *testing.B) {
		for b.Loop() {
			if a.Authorize(who, read, topic, "tenant-500.secret") {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("other-tenant-denied", func(b *testing.B) {
		for b.Loop() {
			if a.Authorize(who, read, topic, "tenant-7.orders") {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("super-user", func(b *testing.B) {
		admin := Requester{Principal: "User:admin", Host: "10.1.2.3"}
		for b.Loop() {
			a.Authorize(admin, write, topic, "tenant-7.orders")
		}
	})
}

func BenchmarkNew(b *testing.B) {
	acls := benchACLs()
	for b.Loop() {
		New(acls, Config{})
	}
}
