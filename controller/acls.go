package controller

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/runnel/runnel/security/authz"
	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ACLs live one binding a key, as KRaft keeps one record per ACL:
// /runnel/acls/<id>, where id is the hex SHA-256 of the binding's
// canonical JSON, so creating a binding that exists writes the same key
// again (Kafka answers such a create with success and keeps one copy), and
// deleting one is deleting its key. Puts and deletes are chunked like
// every large write (chunks.go): a request's bindings are not applied
// atomically as a whole, as Kafka reports each binding's result apart.

// aclRecord is the value of acls/<id>.
type aclRecord struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

func aclRecordOf(b authz.Binding) aclRecord {
	return aclRecord{
		ResourceType: int8(b.ResourceType), ResourceName: b.ResourceName, PatternType: int8(b.PatternType),
		Principal: b.Principal, Host: b.Host, Operation: int8(b.Operation), Permission: int8(b.Permission),
	}
}

func (r aclRecord) binding() authz.Binding {
	return authz.Binding{
		ResourceType: kmsg.ACLResourceType(r.ResourceType), ResourceName: r.ResourceName,
		PatternType: kmsg.ACLResourcePatternType(r.PatternType), Principal: r.Principal, Host: r.Host,
		Operation: kmsg.ACLOperation(r.Operation), Permission: kmsg.ACLPermissionType(r.Permission),
	}
}

// aclKeyValue is the key and value of a binding.
func (k keys) aclKeyValue(b authz.Binding) (string, string, error) {
	v, err := json.Marshal(aclRecordOf(b))
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(v)
	return k.pfx + "/acls/" + hex.EncodeToString(sum[:]), string(v), nil
}

// CreateACLs stores bindings (validated by the caller, authz.Binding.Validate)
// and returns the revision of the last write. A binding that exists stays
// one binding.
func (c *Controller) CreateACLs(ctx context.Context, bs []authz.Binding) (int64, error) {
	ops := make([]clientv3.Op, 0, len(bs))
	for _, b := range bs {
		key, value, err := c.k.aclKeyValue(b)
		if err != nil {
			return 0, err
		}
		ops = append(ops, clientv3.OpPut(key, value))
	}
	return c.applyChunked(ctx, ops, "create ACLs")
}

// DeleteACLs removes bindings and returns the revision of the last write.
// Bindings that do not exist are no-ops.
func (c *Controller) DeleteACLs(ctx context.Context, bs []authz.Binding) (int64, error) {
	ops := make([]clientv3.Op, 0, len(bs))
	for _, b := range bs {
		key, _, err := c.k.aclKeyValue(b)
		if err != nil {
			return 0, err
		}
		ops = append(ops, clientv3.OpDelete(key))
	}
	return c.applyChunked(ctx, ops, "delete ACLs")
}

// applyChunked commits independent ops in transactions of at most
// chunkOps each and returns the last revision (0 when ops is empty).
func (c *Controller) applyChunked(ctx context.Context, ops []clientv3.Op, what string) (int64, error) {
	var rev int64
	for start := 0; start < len(ops); start += chunkOps {
		resp, err := c.cli.Txn(ctx).Then(ops[start:min(start+chunkOps, len(ops))]...).Commit()
		if err != nil {
			return 0, fmt.Errorf("controller: %s: %w", what, err)
		}
		rev = resp.Header.Revision
	}
	return rev, nil
}

// sortedACLs is the snapshot's ACL list: every binding, in a stable order.
func sortedACLs(m map[string]authz.Binding) []authz.Binding {
	out := make([]authz.Binding, 0, len(m))
	for _, b := range m {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b authz.Binding) int {
		return cmp.Or(
			cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.ResourceName, b.ResourceName),
			cmp.Compare(a.PatternType, b.PatternType), cmp.Compare(a.Principal, b.Principal),
			cmp.Compare(a.Host, b.Host), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission),
		)
	})
	return out
}
