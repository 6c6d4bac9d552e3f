package controller

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/runnel/runnel/quota"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Client quotas live one entity a key, as Kafka kept one ZooKeeper node
// per entity (/config/users/<u>/clients/<c>): /runnel/quotas/<entity>,
// holding the entity's quota key → value map in JSON. The entity part of
// the key lists its dimensions in a fixed order (user, client-id, ip) as
// type=name pairs joined by '&', each name query-escaped, and the default
// entity name (Kafka's null name, shown as <default>) written as a bare
// <default> — an escaped name never contains '<', so no real name can be
// taken for the default. For example:
//
//	/runnel/quotas/user=alice&client-id=<default>
//	/runnel/quotas/ip=10.0.0.1
//
// An alteration reads the entities it changes, computes their new maps,
// and writes them compare-and-swap (each key's mod revision as read),
// chunked so that a transaction stays within etcd's default limits; a
// chunk that lost a race is read and applied again. An entity whose map
// becomes empty is deleted.

// QuotaEntity names what a client quota is set on: any of a user, a
// client id and an IP address (each absent, the default, or a name).
type QuotaEntity struct {
	User, ClientID, IP quota.Name
}

// Kafka's entity type names (ClientQuotaEntity).
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
	QuotaEntityIP       = "ip"
)

// quotaDefaultName marks the default entity name inside a key.
const quotaDefaultName = "<default>"

// Dimensions lists the entity's (type, name) pairs in key order.
func (e QuotaEntity) Dimensions() []QuotaDimension {
	var out []QuotaDimension
	for _, d := range [...]struct {
		typ string
		n   quota.Name
	}{{QuotaEntityUser, e.User}, {QuotaEntityClientID, e.ClientID}, {QuotaEntityIP, e.IP}} {
		if d.n.Set {
			out = append(out, QuotaDimension{Type: d.typ, Name: d.n})
		}
	}
	return out
}

// QuotaDimension is one (entity type, name) pair of an entity.
type QuotaDimension struct {
	Type string
	Name quota.Name
}

func (e QuotaEntity) String() string {
	dims := e.Dimensions()
	parts := make([]string, len(dims))
	for i, d := range dims {
		n := quotaDefaultName
		if !d.Name.Default {
			n = url.QueryEscape(d.Name.Name)
		}
		parts[i] = d.Type + "=" + n
	}
	return strings.Join(parts, "&")
}

// parseQuotaEntity reads the entity part of a quota key.
func parseQuotaEntity(s string) (QuotaEntity, bool) {
	var e QuotaEntity
	if s == "" {
		return e, false
	}
	for _, part := range strings.Split(s, "&") {
		typ, raw, ok := strings.Cut(part, "=")
		if !ok {
			return e, false
		}
		n := quota.DefaultName
		if raw != quotaDefaultName {
			name, err := url.QueryUnescape(raw)
			if err != nil {
				return e, false
			}
			n = quota.Named(name)
		}
		var dst *quota.Name
		switch typ {
		case QuotaEntityUser:
			dst = &e.User
		case QuotaEntityClientID:
			dst = &e.ClientID
		case QuotaEntityIP:
			dst = &e.IP
		default:
			return e, false
		}
		if dst.Set {
			return e, false
		}
		*dst = n
	}
	return e, true
}

func (k keys) quotas() string             { return k.pfx + "/quotas/" }
func (k keys) quota(e QuotaEntity) string { return k.quotas() + e.String() }
func (k keys) parseQuota(rel string) (QuotaEntity, bool) {
	return parseQuotaEntity(strings.TrimPrefix(rel, "quotas/"))
}

// ClientQuotas are every entity's quotas (key → value) as of one
// snapshot. The snapshot keeps the same pointer while no quota changes,
// so a reader can tell a change by comparing pointers.
type ClientQuotas struct {
	Entities map[QuotaEntity]map[string]float64
}

// Sorted lists the entities in a stable order (by their key).
func (q *ClientQuotas) Sorted() []QuotaEntity {
	out := make([]QuotaEntity, 0, len(q.Entities))
	for e := range q.Entities {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b QuotaEntity) int { return cmp.Compare(a.String(), b.String()) })
	return out
}

// QuotaAlteration is one entity's change: Set puts keys, Remove deletes
// them (a key in both is Kafka's "last op wins", resolved by the caller).
type QuotaAlteration struct {
	Entity QuotaEntity
	Set    map[string]float64
	Remove []string
}

// maxQuotaRetries bounds how often a chunk is re-read and re-applied
// after a concurrent writer changed one of its entities.
const maxQuotaRetries = 10

// AlterClientQuotas applies the alterations (validated by the caller) and
// returns the revision of the last write, 0 when nothing changed.
// Alterations of one entity must be merged by the caller.
func (c *Controller) AlterClientQuotas(ctx context.Context, alts []QuotaAlteration) (int64, error) {
	var rev int64
	// Each entity costs one compare and one operation: chunkOps entities
	// a transaction stay under etcd's 128 of each.
	for start := 0; start < len(alts); start += chunkOps {
		r, err := c.alterQuotaChunk(ctx, alts[start:min(start+chunkOps, len(alts))])
		if err != nil {
			return 0, err
		}
		rev = max(rev, r)
	}
	return rev, nil
}

func (c *Controller) alterQuotaChunk(ctx context.Context, alts []QuotaAlteration) (int64, error) {
	for range maxQuotaRetries {
		gets := make([]clientv3.Op, len(alts))
		for i, a := range alts {
			gets[i] = clientv3.OpGet(c.k.quota(a.Entity))
		}
		read, err := c.cli.Txn(ctx).Then(gets...).Commit()
		if err != nil {
			return 0, fmt.Errorf("controller: read client quotas: %w", err)
		}
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for i, a := range alts {
			key := c.k.quota(a.Entity)
			cur := map[string]float64{}
			var modRev int64
			if kvs := read.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
				modRev = kvs[0].ModRevision
				if err := json.Unmarshal(kvs[0].Value, &cur); err != nil {
					c.log.Warn("replacing a malformed client quota value")
					cur = map[string]float64{}
				}
			}
			next := maps.Clone(cur)
			for _, k := range a.Remove {
				delete(next, k)
			}
			maps.Copy(next, a.Set)
			if maps.Equal(cur, next) {
				continue
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", modRev))
			if len(next) == 0 {
				ops = append(ops, clientv3.OpDelete(key))
			} else {
				ops = append(ops, clientv3.OpPut(key, string(marshal(next))))
			}
		}
		if len(ops) == 0 {
			return 0, nil
		}
		resp, err := c.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return 0, fmt.Errorf("controller: alter client quotas: %w", err)
		}
		if resp.Succeeded {
			return resp.Header.Revision, nil
		}
	}
	return 0, fmt.Errorf("controller: alter client quotas: still contended after %d attempts", maxQuotaRetries)
}
