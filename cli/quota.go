package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quotaEntityFlags name a client quota entity as kafka-configs does:
// --user, --client-id, --ip, or their defaults.
type quotaEntityFlags struct {
	user, clientID, ip                      string
	defaultUser, defaultClientID, defaultIP bool
}

func (q *quotaEntityFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&q.user, "user-principal", "", "the user entity (the SASL or TLS user name)")
	fs.StringVar(&q.clientID, "client-id", "", "the client-id entity")
	fs.StringVar(&q.ip, "ip", "", "the ip entity (connection-rate quotas)")
	fs.BoolVar(&q.defaultUser, "default-user", false, "the default user entity")
	fs.BoolVar(&q.defaultClientID, "default-client-id", false, "the default client-id entity")
	fs.BoolVar(&q.defaultIP, "default-ip", false, "the default ip entity")
}

// entity returns the named components in Kafka's order; nil Name is the
// entity type's default.
func (q *quotaEntityFlags) entity() (kadm.ClientQuotaEntity, error) {
	var ent kadm.ClientQuotaEntity
	for _, c := range []struct {
		typ, name string
		def       bool
	}{{"user", q.user, q.defaultUser}, {"client-id", q.clientID, q.defaultClientID}, {"ip", q.ip, q.defaultIP}} {
		switch {
		case c.name != "" && c.def:
			return nil, usagef("give --%s or its default, not both", c.typ)
		case c.name != "":
			ent = append(ent, kadm.ClientQuotaEntityComponent{Type: c.typ, Name: kadm.StringPtr(c.name)})
		case c.def:
			ent = append(ent, kadm.ClientQuotaEntityComponent{Type: c.typ})
		}
	}
	return ent, nil
}

// requireAPI fails with a clear message when no broker lists the API in
// ApiVersions; franz-go's own error ("broker is too old") would send an
// operator looking at versions rather than at a missing feature.
func requireAPI(ctx context.Context, adm *kadm.Client, key kmsg.Key) error {
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.Err != nil {
			continue
		}
		if _, ok := v.KeyMaxVersion(int16(key)); ok {
			return nil
		}
	}
	return fmt.Errorf("the cluster does not serve %s (API key %d): no broker lists it in ApiVersions", key.Name(), int16(key))
}

type quotaEntry struct {
	Entity map[string]*string `json:"entity"`
	Values map[string]float64 `json:"values"`
}

func entityText(ent kadm.ClientQuotaEntity) string {
	var parts []string
	for _, c := range ent {
		n := "<default>"
		if c.Name != nil {
			n = *c.Name
		}
		parts = append(parts, c.Type+"="+n)
	}
	return strings.Join(parts, ",")
}

func quotaDescribe(e *env, args []string) error {
	fs := e.flags()
	var q quotaEntityFlags
	q.register(fs)
	strict := fs.Bool("strict", false, "only entities with exactly the given components")
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	ent, err := q.entity()
	if err != nil {
		return err
	}
	var comps []kadm.DescribeClientQuotaComponent
	for _, c := range ent {
		if c.Name != nil {
			comps = append(comps, kadm.DescribeClientQuotaComponent{Type: c.Type, MatchName: c.Name, MatchType: kmsg.QuotasMatchTypeExact})
		} else {
			comps = append(comps, kadm.DescribeClientQuotaComponent{Type: c.Type, MatchType: kmsg.QuotasMatchTypeDefault})
		}
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	if err := requireAPI(ctx, adm, kmsg.DescribeClientQuotas); err != nil {
		return err
	}
	ds, err := adm.DescribeClientQuotas(ctx, *strict, comps)
	if err != nil {
		return err
	}
	items := []quotaEntry{}
	for _, d := range ds {
		it := quotaEntry{Entity: map[string]*string{}, Values: map[string]float64{}}
		for _, c := range d.Entity {
			it.Entity[c.Type] = c.Name
		}
		for _, v := range d.Values {
			it.Values[v.Key] = v.Value
		}
		items = append(items, it)
	}
	return e.emit(items, func(w io.Writer) {
		t := newTable(w, "ENTITY", "QUOTAS")
		for i, d := range ds {
			var vs []string
			for _, k := range sortedKeys(items[i].Values) {
				vs = append(vs, k+"="+strconv.FormatFloat(items[i].Values[k], 'g', -1, 64))
			}
			t.row(entityText(d.Entity), strings.Join(vs, ","))
		}
		t.flush()
	})
}

type quotaAlterResult struct {
	Entity string `json:"entity"`
	Error  string `json:"error,omitempty"`
}

func quotaAlter(e *env, args []string) error {
	fs := e.flags()
	var q quotaEntityFlags
	q.register(fs)
	var set, remove stringList
	fs.Var(&set, "set", "quota key=value, e.g. producer_byte_rate=1048576 (repeatable)")
	fs.Var(&remove, "remove", "quota key to remove (repeatable)")
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	ent, err := q.entity()
	if err != nil {
		return err
	}
	if len(ent) == 0 {
		return usagef("give an entity: --user-principal, --client-id, --ip or a --default-*")
	}
	kv, order, err := keyValues("--set", set)
	if err != nil {
		return err
	}
	var ops []kadm.AlterClientQuotaOp
	for _, k := range order {
		v, err := strconv.ParseFloat(kv[k], 64)
		if err != nil {
			return usagef("--set %s=%s: want a number", k, kv[k])
		}
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: v})
	}
	for _, k := range remove {
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
	}
	if len(ops) == 0 {
		return usagef("nothing to alter: give --set or --remove")
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	if err := requireAPI(ctx, adm, kmsg.AlterClientQuotas); err != nil {
		return err
	}
	rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: ent, Ops: ops}})
	if err != nil {
		return err
	}
	var out []quotaAlterResult
	nErr := 0
	for _, r := range rs {
		if r.Err != nil {
			nErr++
		}
		out = append(out, quotaAlterResult{Entity: entityText(r.Entity), Error: errText(r.Err, r.ErrMessage)})
	}
	if err := e.emit(nonNil(out), func(w io.Writer) {
		t := newTable(w, "ENTITY", "ERROR")
		for _, r := range out {
			t.row(r.Entity, r.Error)
		}
		t.flush()
	}); err != nil {
		return err
	}
	if nErr > 0 {
		return fmt.Errorf("altering quotas of %s failed", entityText(ent))
	}
	return nil
}
