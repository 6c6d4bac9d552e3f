package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclFlags are the flags shared by acl create, list and delete.
type aclFlags struct {
	allow, deny, allowHosts, denyHosts stringList
	operations                         stringList
	topics, groups, txnIDs             stringList
	cluster                            bool
	pattern                            string
}

func (a *aclFlags) register(fs *flag.FlagSet, filter bool) {
	fs.Var(&a.allow, "allow", "principal to allow, e.g. User:alice (\"User:\" is added when no type is given; repeatable)")
	fs.Var(&a.deny, "deny", "principal to deny (repeatable)")
	fs.Var(&a.allowHosts, "allow-host", "host the allow applies to (default: any; repeatable)")
	fs.Var(&a.denyHosts, "deny-host", "host the deny applies to (default: any; repeatable)")
	fs.Var(&a.operations, "operation", "read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write, all (repeatable)")
	fs.Var(&a.topics, "topic", "topic name (repeatable)")
	fs.Var(&a.groups, "group", "group id (repeatable)")
	fs.Var(&a.txnIDs, "transactional-id", "transactional id (repeatable)")
	fs.BoolVar(&a.cluster, "cluster", false, "the cluster resource")
	def := "literal"
	if filter {
		def = "any"
	}
	fs.StringVar(&a.pattern, "pattern", def, "resource name pattern: literal or prefixed (filters also: any, match)")
}

func withUserPrefix(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if !strings.Contains(p, ":") {
			p = "User:" + p
		}
		out[i] = p
	}
	return out
}

// builder turns the flags into kadm's ACL builder. A filter without
// principals matches both allows and denies of anyone; without a resource
// it matches every resource.
func (a *aclFlags) builder(filter bool) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs()
	var ops []kadm.ACLOperation
	for _, o := range a.operations {
		op, err := kmsg.ParseACLOperation(strings.ReplaceAll(strings.ToLower(o), "-", "_"))
		if err != nil {
			return nil, usagef("--operation %q: %v", o, err)
		}
		ops = append(ops, op)
	}
	pattern, err := kmsg.ParseACLResourcePatternType(strings.ToLower(a.pattern))
	if err != nil {
		return nil, usagef("--pattern %q: %v", a.pattern, err)
	}
	b.ResourcePatternType(pattern)
	allow, deny := withUserPrefix(a.allow), withUserPrefix(a.deny)
	if filter && len(allow) == 0 && len(deny) == 0 {
		b.Allow().AllowHosts(a.allowHosts...).Deny().DenyHosts(a.denyHosts...)
	} else {
		if len(allow) > 0 {
			b.Allow(allow...).AllowHosts(a.allowHosts...)
		}
		if len(deny) > 0 {
			b.Deny(deny...).DenyHosts(a.denyHosts...)
		}
	}
	b.Operations(ops...)
	hasResource := len(a.topics)+len(a.groups)+len(a.txnIDs) > 0 || a.cluster
	if filter && !hasResource {
		b.AnyResource()
	}
	b.MaybeTopics(a.topics...).MaybeGroups(a.groups...).MaybeTransactionalIDs(a.txnIDs...).MaybeClusters(a.cluster)
	if filter {
		err = b.ValidateFilter()
	} else {
		if len(ops) == 0 {
			return nil, usagef("give at least one --operation")
		}
		if !hasResource {
			return nil, usagef("give a resource: --topic, --group, --transactional-id or --cluster")
		}
		err = b.ValidateCreate()
	}
	if err != nil {
		return nil, usagef("%v", err)
	}
	return b, nil
}

// aclError explains SECURITY_DISABLED: it is the answer of a cluster
// without an authorizer, not a failure of the request.
func aclError(err error) error {
	if errors.Is(err, kerr.SecurityDisabled) {
		return fmt.Errorf("%w (the cluster has no authorizer configured, authorizer.class.name, so it keeps no ACLs)", err)
	}
	return err
}

type aclEntry struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	Pattern      string `json:"pattern"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
	Error        string `json:"error,omitempty"`
}

// printACLs prints the ACLs; firstErr is the first per-ACL error of the
// answer, reported once rather than once per ACL.
func (e *env) printACLs(items []aclEntry, firstErr error) error {
	if err := e.emit(nonNil(items), func(w io.Writer) {
		t := newTable(w, "PRINCIPAL", "HOST", "RESOURCE-TYPE", "RESOURCE-NAME", "PATTERN", "OPERATION", "PERMISSION", "ERROR")
		for _, it := range items {
			t.row(it.Principal, it.Host, it.ResourceType, it.ResourceName, it.Pattern, it.Operation, it.Permission, it.Error)
		}
		t.flush()
	}); err != nil {
		return err
	}
	if firstErr == nil {
		return nil
	}
	nErr := 0
	for _, it := range items {
		if it.Error != "" {
			nErr++
		}
	}
	return aclError(fmt.Errorf("%d of %d ACLs failed: %w", nErr, len(items), firstErr))
}

func aclCreate(e *env, args []string) error {
	fs := e.flags()
	var a aclFlags
	a.register(fs, false)
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	b, err := a.builder(false)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	rs, err := adm.CreateACLs(ctx, b)
	if err != nil {
		return aclError(err)
	}
	var items []aclEntry
	firstErr := error(nil)
	for _, r := range rs {
		if r.Err != nil && firstErr == nil {
			firstErr = r.Err
		}
		items = append(items, aclEntry{Principal: r.Principal, Host: r.Host, ResourceType: r.Type.String(), ResourceName: r.Name,
			Pattern: r.Pattern.String(), Operation: r.Operation.String(), Permission: r.Permission.String(), Error: errText(r.Err, r.ErrMessage)})
	}
	return e.printACLs(items, firstErr)
}

func aclList(e *env, args []string) error {
	fs := e.flags()
	var a aclFlags
	a.register(fs, true)
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	b, err := a.builder(true)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	rs, err := adm.DescribeACLs(ctx, b)
	if err != nil {
		return aclError(err)
	}
	items := []aclEntry{}
	for _, r := range rs {
		if r.Err != nil {
			return aclError(r.Err)
		}
		for _, d := range r.Described {
			items = append(items, aclEntry{Principal: d.Principal, Host: d.Host, ResourceType: d.Type.String(), ResourceName: d.Name,
				Pattern: d.Pattern.String(), Operation: d.Operation.String(), Permission: d.Permission.String()})
		}
	}
	return e.printACLs(items, nil)
}

func aclDelete(e *env, args []string) error {
	fs := e.flags()
	var a aclFlags
	a.register(fs, true)
	if _, err := e.parse(fs, args, 0, 0); err != nil {
		return err
	}
	b, err := a.builder(true)
	if err != nil {
		return err
	}
	adm, err := e.adm()
	if err != nil {
		return err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	rs, err := adm.DeleteACLs(ctx, b)
	if err != nil {
		return aclError(err)
	}
	items := []aclEntry{}
	var firstErr error
	for _, r := range rs {
		if r.Err != nil {
			return aclError(r.Err)
		}
		for _, d := range r.Deleted {
			if d.Err != nil && firstErr == nil {
				firstErr = d.Err
			}
			items = append(items, aclEntry{Principal: d.Principal, Host: d.Host, ResourceType: d.Type.String(), ResourceName: d.Name,
				Pattern: d.Pattern.String(), Operation: d.Operation.String(), Permission: d.Permission.String(), Error: errText(d.Err, d.ErrMessage)})
		}
	}
	return e.printACLs(items, firstErr)
}
