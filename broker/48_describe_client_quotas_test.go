package broker

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func entity(pairs ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for i := 0; i < len(pairs); i += 2 {
		c := kadm.ClientQuotaEntityComponent{Type: pairs[i]}
		if pairs[i+1] != "<default>" {
			n := pairs[i+1]
			c.Name = &n
		}
		e = append(e, c)
	}
	return e
}

// describedSet renders described quotas as sorted "entity: k=v" lines.
func describedSet(d kadm.DescribedClientQuotas) string {
	var lines []string
	for _, q := range d {
		var vs []string
		for _, v := range q.Values {
			vs = append(vs, fmt.Sprintf("%s=%g", v.Key, v.Value))
		}
		sort.Strings(vs)
		lines = append(lines, q.Entity.String()+": "+strings.Join(vs, ","))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestClientQuotaAPIs: quotas set with kadm and sarama on user, client-id,
// user+client-id, their defaults and IPs are described by both, with
// Kafka's EXACT/DEFAULT/ANY filters and strict; removal merges; validate
// only writes nothing.
func TestClientQuotaAPIs(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)

	set := func(e kadm.ClientQuotaEntity, ops ...kadm.AlterClientQuotaOp) {
		t.Helper()
		res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: e, Ops: ops}})
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("alter %v: %v %+v", e, err, res)
		}
	}
	op := func(k string, v float64) kadm.AlterClientQuotaOp { return kadm.AlterClientQuotaOp{Key: k, Value: v} }
	set(entity("user", "alice"), op("producer_byte_rate", 1024), op("consumer_byte_rate", 2048))
	set(entity("user", "alice", "client-id", "app"), op("request_percentage", 50))
	set(entity("user", "<default>"), op("producer_byte_rate", 512))
	set(entity("client-id", "app"), op("controller_mutation_rate", 10))
	set(entity("client-id", "<default>", "user", "<default>"), op("consumer_byte_rate", 100))
	set(entity("ip", "127.0.0.1"), op("connection_creation_rate", 100))
	set(entity("ip", "<default>"), op("connection_creation_rate", 1000))

	// sarama sets one too.
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_0_0_0
	sadm, err := sarama.NewClusterAdmin([]string{tb.addr}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sadm.Close()
	if err := sadm.AlterClientQuotas([]sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: "sarama-app"}},
		sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: 4096}, false); err != nil {
		t.Fatal(err)
	}

	describe := func(strict bool, cs ...kadm.DescribeClientQuotaComponent) string {
		t.Helper()
		d, err := adm.DescribeClientQuotas(ctx, strict, cs)
		if err != nil {
			t.Fatalf("describe %+v: %v", cs, err)
		}
		return describedSet(d)
	}
	exact := func(typ, name string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchName: &name, MatchType: kmsg.QuotasMatchTypeExact}
	}
	def := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: kmsg.QuotasMatchTypeDefault}
	}
	anyOf := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: kmsg.QuotasMatchTypeAny}
	}

	for _, c := range []struct {
		strict bool
		cs     []kadm.DescribeClientQuotaComponent
		want   string
	}{
		{false, []kadm.DescribeClientQuotaComponent{exact("user", "alice")},
			"{user=alice, client-id=app}: request_percentage=50\n{user=alice}: consumer_byte_rate=2048,producer_byte_rate=1024"},
		{true, []kadm.DescribeClientQuotaComponent{exact("user", "alice")},
			"{user=alice}: consumer_byte_rate=2048,producer_byte_rate=1024"},
		{true, []kadm.DescribeClientQuotaComponent{def("user")}, "{user=<default>}: producer_byte_rate=512"},
		{false, []kadm.DescribeClientQuotaComponent{def("user"), def("client-id")},
			"{user=<default>, client-id=<default>}: consumer_byte_rate=100"},
		{true, []kadm.DescribeClientQuotaComponent{anyOf("client-id")},
			"{client-id=app}: controller_mutation_rate=10\n{client-id=sarama-app}: producer_byte_rate=4096"},
		{false, []kadm.DescribeClientQuotaComponent{anyOf("ip")},
			"{ip=127.0.0.1}: connection_creation_rate=100\n{ip=<default>}: connection_creation_rate=1000"},
		{true, nil, ""},
	} {
		if got := describe(c.strict, c.cs...); got != c.want {
			t.Errorf("describe strict=%v %+v:\n%s\nwant\n%s", c.strict, c.cs, got, c.want)
		}
	}
	if all := describe(false); strings.Count(all, "\n")+1 != 8 {
		t.Errorf("describe all: %s", all)
	}

	// sarama describes kadm's quota.
	entries, err := sadm.DescribeClientQuotas([]sarama.QuotaFilterComponent{{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Match: "alice"}}, true)
	if err != nil || len(entries) != 1 || entries[0].Values["producer_byte_rate"] != 1024 {
		t.Fatalf("sarama describe: %v %+v", err, entries)
	}

	// Removal merges; removing the last key drops the entity.
	set(entity("user", "alice"), kadm.AlterClientQuotaOp{Key: "consumer_byte_rate", Remove: true})
	if got := describe(true, exact("user", "alice")); got != "{user=alice}: producer_byte_rate=1024" {
		t.Errorf("after removing one key: %s", got)
	}
	set(entity("user", "alice"), kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Remove: true})
	if got := describe(true, exact("user", "alice")); got != "" {
		t.Errorf("after removing the last key: %s", got)
	}

	// Validate only: accepted, nothing written.
	res, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity("user", "bob"), Ops: []kadm.AlterClientQuotaOp{op("producer_byte_rate", 1)}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("validate: %v %+v", err, res)
	}
	if got := describe(false, exact("user", "bob")); got != "" {
		t.Errorf("validate only wrote %s", got)
	}
}

// TestAlterClientQuotasValidation: Kafka's per-entry errors and messages;
// an invalid entry fails alone.
func TestAlterClientQuotasValidation(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	cl := tb.client(t)

	type ent struct {
		typ  string
		name *string
	}
	n := kmsg.StringPtr
	cases := []struct {
		entity []ent
		key    string
		value  float64
		remove bool
		code   int16
		msg    string
	}{
		{[]ent{{"user", n("ok")}}, "producer_byte_rate", 1000, false, 0, ""},
		{nil, "producer_byte_rate", 1, false, kerr.InvalidRequest.Code, "Invalid empty client quota entity"},
		{[]ent{{"group", n("g")}}, "producer_byte_rate", 1, false, kerr.InvalidRequest.Code, "Unhandled client quota entity type: group"},
		{[]ent{{"user", n("a")}, {"user", n("b")}}, "producer_byte_rate", 1, false, kerr.InvalidRequest.Code, "Invalid client quota entity, duplicate entity entry user"},
		{[]ent{{"user", n("")}}, "producer_byte_rate", 1, false, kerr.InvalidRequest.Code, "Empty user not supported"},
		{[]ent{{"ip", n("10.0.0.1")}, {"user", n("a")}}, "connection_creation_rate", 1, false, kerr.InvalidRequest.Code, "Invalid quota entity combination, IP entity should not be combined with User or ClientId"},
		{[]ent{{"ip", n("not-an-ip")}}, "connection_creation_rate", 1, false, kerr.InvalidRequest.Code, "not-an-ip is not a valid IP or resolvable host."},
		{[]ent{{"ip", n("10.0.0.1")}}, "producer_byte_rate", 1, false, kerr.InvalidRequest.Code, "Invalid configuration key producer_byte_rate"},
		{[]ent{{"user", n("a")}}, "connection_creation_rate", 1, false, kerr.InvalidRequest.Code, "Invalid configuration key connection_creation_rate"},
		{[]ent{{"user", n("a2")}}, "bogus_rate", 1, false, kerr.InvalidRequest.Code, "Invalid configuration key bogus_rate"},
		{[]ent{{"user", n("a3")}}, "producer_byte_rate", 0, false, kerr.InvalidRequest.Code, "Quota producer_byte_rate must be greater than 0"},
		{[]ent{{"client-id", n("a")}}, "request_percentage", -5, false, kerr.InvalidRequest.Code, "Quota request_percentage must be greater than 0"},
		{[]ent{{"user", n("a4")}}, "consumer_byte_rate", 1.5, false, kerr.InvalidRequest.Code, "consumer_byte_rate cannot be a fractional value."},
		{[]ent{{"ip", nil}}, "connection_creation_rate", 3e9, false, kerr.InvalidRequest.Code, "Proposed value for connection_creation_rate is too large for an INT."},
		{[]ent{{"client-id", nil}}, "request_percentage", 12.5, false, 0, ""},
		{[]ent{{"user", n("a5")}}, "bogus_rate", 0, true, 0, ""}, // removing an unknown key is a no-op
	}
	for _, v := range []int16{0, alterClientQuotasMaxVersion} {
		req := kmsg.NewPtrAlterClientQuotasRequest()
		req.Version = v
		for _, c := range cases {
			e := kmsg.NewAlterClientQuotasRequestEntry()
			for _, d := range c.entity {
				x := kmsg.NewAlterClientQuotasRequestEntryEntity()
				x.Type, x.Name = d.typ, d.name
				e.Entity = append(e.Entity, x)
			}
			o := kmsg.NewAlterClientQuotasRequestEntryOp()
			o.Key, o.Value, o.Remove = c.key, c.value, c.remove
			e.Ops = append(e.Ops, o)
			req.Entries = append(req.Entries, e)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Entries) != len(cases) {
			t.Fatalf("v%d: %v %+v", v, err, resp)
		}
		for i, c := range cases {
			got := resp.Entries[i]
			msg := ""
			if got.ErrorMessage != nil {
				msg = *got.ErrorMessage
			}
			if got.ErrorCode != c.code || msg != c.msg {
				t.Errorf("v%d case %d: got %d %q, want %d %q", v, i, got.ErrorCode, msg, c.code, c.msg)
			}
			if len(got.Entity) != len(c.entity) {
				t.Errorf("v%d case %d: entity not echoed: %+v", v, i, got.Entity)
			}
		}
	}

	// Duplicate keys and duplicate entities.
	req := kmsg.NewPtrAlterClientQuotasRequest()
	for range 2 {
		e := kmsg.NewAlterClientQuotasRequestEntry()
		x := kmsg.NewAlterClientQuotasRequestEntryEntity()
		x.Type, x.Name = "user", n("dup")
		e.Entity = append(e.Entity, x)
		for range 2 {
			o := kmsg.NewAlterClientQuotasRequestEntryOp()
			o.Key, o.Value = "producer_byte_rate", 10
			e.Ops = append(e.Ops, o)
		}
		req.Entries = append(req.Entries, e)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Entries[0].ErrorCode != kerr.InvalidRequest.Code || !strings.HasPrefix(*resp.Entries[0].ErrorMessage, "Duplicate quota key producer_byte_rate") ||
		resp.Entries[1].ErrorCode != kerr.InvalidRequest.Code || !strings.HasPrefix(*resp.Entries[1].ErrorMessage, "Ignoring duplicate entity") {
		t.Fatalf("duplicates: %v %+v", err, resp)
	}
}

// TestDescribeClientQuotasFilterErrors: Kafka's filter checks, at both
// versions.
func TestDescribeClientQuotasFilterErrors(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	cl := tb.client(t)
	n := kmsg.StringPtr
	type comp struct {
		typ   string
		mt    kmsg.QuotasMatchType
		match *string
	}
	for _, c := range []struct {
		comps []comp
		code  int16
		msg   string
	}{
		{[]comp{{"", kmsg.QuotasMatchTypeAny, nil}}, kerr.InvalidRequest.Code, "Invalid empty entity type."},
		{[]comp{{"user", kmsg.QuotasMatchTypeAny, nil}, {"user", kmsg.QuotasMatchTypeDefault, nil}}, kerr.InvalidRequest.Code, "Entity type user cannot appear more than once in the filter."},
		{[]comp{{"group", kmsg.QuotasMatchTypeAny, nil}}, kerr.UnsupportedVersion.Code, "Unsupported entity type group"},
		{[]comp{{"user", kmsg.QuotasMatchTypeExact, nil}}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_EXACT, but set match string to null."},
		{[]comp{{"user", kmsg.QuotasMatchTypeDefault, n("x")}}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."},
		{[]comp{{"user", kmsg.QuotasMatchTypeAny, n("x")}}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."},
		{[]comp{{"user", 7, nil}}, kerr.InvalidRequest.Code, "Unknown match type 7"},
		{[]comp{{"ip", kmsg.QuotasMatchTypeAny, nil}, {"user", kmsg.QuotasMatchTypeAny, nil}}, kerr.InvalidRequest.Code,
			"Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."},
	} {
		for _, v := range []int16{0, describeClientQuotasMaxVersion} {
			req := kmsg.NewPtrDescribeClientQuotasRequest()
			req.Version = v
			for _, x := range c.comps {
				rc := kmsg.NewDescribeClientQuotasRequestComponent()
				rc.EntityType, rc.MatchType, rc.Match = x.typ, x.mt, x.match
				req.Components = append(req.Components, rc)
			}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil || resp.ErrorCode != c.code || resp.ErrorMessage == nil || *resp.ErrorMessage != c.msg {
				t.Errorf("v%d %+v: %v %+v", v, c.comps, err, resp)
			}
		}
	}
	// kadm reports the error.
	if _, err := tb.admin(t).DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "group", MatchType: kmsg.QuotasMatchTypeAny}}); !errors.Is(err, kerr.UnsupportedVersion) {
		t.Errorf("kadm: %v", err)
	}
}
