package broker

import (
	"context"
	"fmt"
	"slices"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/quota"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeClientQuotas (key 48, v0–1) and AlterClientQuotas (49, v0–1),
// KIP-546. The quotas live in etcd, one key per entity
// (controller/quotas.go); describe reads this broker's metadata snapshot,
// as a Kafka 4 broker answers from its metadata image, and an alteration
// is answered once the snapshot shows it, so the client's next describe
// on this broker sees its change. Describing needs DESCRIBE_CONFIGS on
// the cluster, altering ALTER_CONFIGS, as in Kafka's KafkaApis.
const (
	describeClientQuotasMaxVersion int16 = 1
	alterClientQuotasMaxVersion    int16 = 1
)

// quotaFilter is a validated DescribeClientQuotas filter: entity types
// that must have a given name (nil = the default) and types that must be
// present with any name.
type quotaFilter struct {
	exact  map[string]*string
	anyOf  map[string]bool
	strict bool
}

// parseQuotaFilter checks the filter as Kafka's ClientQuotasImage does;
// the error carries the response's code.
func parseQuotaFilter(r *kmsg.DescribeClientQuotasRequest) (quotaFilter, error) {
	f := quotaFilter{exact: map[string]*string{}, anyOf: map[string]bool{}, strict: r.Strict}
	for _, c := range r.Components {
		t := c.EntityType
		_, seenExact := f.exact[t]
		switch {
		case t == "":
			return f, kafkaErr(kerr.InvalidRequest, "Invalid empty entity type.")
		case seenExact || f.anyOf[t]:
			return f, kafkaErr(kerr.InvalidRequest, "Entity type %s cannot appear more than once in the filter.", t)
		case t != controller.QuotaEntityUser && t != controller.QuotaEntityClientID && t != controller.QuotaEntityIP:
			return f, kafkaErr(kerr.UnsupportedVersion, "Unsupported entity type %s", t)
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return f, kafkaErr(kerr.InvalidRequest, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
			}
			f.exact[t] = c.Match
		case kmsg.QuotasMatchTypeDefault:
			if c.Match != nil {
				return f, kafkaErr(kerr.InvalidRequest, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
			}
			f.exact[t] = nil
		case kmsg.QuotasMatchTypeAny:
			if c.Match != nil {
				return f, kafkaErr(kerr.InvalidRequest, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
			}
			f.anyOf[t] = true
		default:
			return f, kafkaErr(kerr.InvalidRequest, "Unknown match type %d", c.MatchType)
		}
	}
	has := func(t string) bool { _, ok := f.exact[t]; return ok || f.anyOf[t] }
	if has(controller.QuotaEntityIP) && (has(controller.QuotaEntityUser) || has(controller.QuotaEntityClientID)) {
		return f, kafkaErr(kerr.InvalidRequest, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
	}
	return f, nil
}

// matches reports whether the filter selects entity e: every exact
// component names e's entry of that type, every any-component's type is
// in e, and under strict e has no other type. An empty filter selects
// everything unless strict.
func (f quotaFilter) matches(e controller.QuotaEntity) bool {
	dims := e.Dimensions()
	if len(f.exact) == 0 && len(f.anyOf) == 0 {
		return !f.strict
	}
	name := func(t string) (quota.Name, bool) {
		for _, d := range dims {
			if d.Type == t {
				return d.Name, true
			}
		}
		return quota.Name{}, false
	}
	for t, want := range f.exact {
		n, ok := name(t)
		if !ok || n.Default != (want == nil) || (want != nil && n.Name != *want) {
			return false
		}
	}
	for t := range f.anyOf {
		if _, ok := name(t); !ok {
			return false
		}
	}
	return !f.strict || len(dims) == len(f.exact)+len(f.anyOf)
}

// kafkaError is an error code with Kafka's exact message (errorMessage
// sends the message alone, without the code's name).
type kafkaError struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.code }

func kafkaErr(code *kerr.Error, format string, args ...any) error {
	return &kafkaError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (b *Broker) handleDescribeClientQuotas(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeClientQuotasRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !b.authorizeCluster(cc, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		msg := kerr.ClusterAuthorizationFailed.Description
		resp.ErrorMessage = &msg
		return network.Response{Msg: resp}, nil
	}
	f, err := parseQuotaFilter(r)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return network.Response{Msg: resp}, nil
	}
	// Entries is nullable: null only beside an error, as Kafka sends it
	// (the Java client reads a null list as a failure).
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	cq := b.ctrl.Snapshot().ClientQuotas
	if cq == nil {
		return network.Response{Msg: resp}, nil
	}
	for _, e := range cq.Sorted() {
		if !f.matches(e) {
			continue
		}
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, d := range e.Dimensions() {
			ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ent.Type = d.Type
			if !d.Name.Default {
				n := d.Name.Name
				ent.Name = &n
			}
			entry.Entity = append(entry.Entity, ent)
		}
		values := cq.Entities[e]
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, values[k]
			entry.Values = append(entry.Values, v)
		}
		resp.Entries = append(resp.Entries, entry)
	}
	return network.Response{Msg: resp}, nil
}
