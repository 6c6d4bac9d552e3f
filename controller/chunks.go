package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Writes that touch many keys — a big topic's partition states, a big
// SCRAM batch — are cut into transactions that an etcd with its default
// limits accepts: --max-txn-ops 128 operations (compares, then-ops and
// else-ops are counted apiece) and --max-request-bytes 1.5 MiB. Each
// chunk stays well below both, whatever the request's size. How a chunked
// topic write still appears at once to every watcher is described beside
// createTopicChunked and in docs/etcd-keys.md.
const (
	// chunkOps is the most puts one transaction carries, leaving room
	// below 128 for the guard compares and the commit's own puts.
	chunkOps = 100
	// chunkBytes bounds the keys and values of one transaction, a third
	// of etcd's default request limit so that protocol overhead and a
	// configured lower limit (1 MiB is common) still fit.
	chunkBytes = 512 << 10
	// embeddedTxnPuts replaces chunkOps for topic creation and growth
	// against the embedded etcd, which Runnel starts with --max-txn-ops
	// raised to match (embed.go): a topic of up to ~3,700 partitions
	// (chunkBytes decides beyond) is then one transaction, one round
	// trip and one WAL fsync instead of a claim, a chunk per 100
	// partitions and a commit.
	embeddedTxnPuts = 4096
	// creationLeaseTTL is the TTL, in seconds, of the lease that holds a
	// topic's creation claim; it is kept alive while chunks are written,
	// and it expires (removing the claim) if the creating broker dies.
	creationLeaseTTL = 30
)

// kv is one put of a chunked write.
type kv struct{ key, value string }

// txnPuts is the most puts a topic write puts in one transaction: chunkOps
// for an external etcd (its default limit), embeddedTxnPuts for the
// embedded one.
func (c *Controller) txnPuts() int {
	if c.emb != nil {
		return embeddedTxnPuts
	}
	return chunkOps
}

// chunked splits puts into groups of at most maxOps puts and chunkBytes
// bytes (a single larger put goes alone).
func chunked(puts []kv, maxOps int) [][]kv {
	var out [][]kv
	start, size := 0, 0
	for i, p := range puts {
		n := len(p.key) + len(p.value)
		if i > start && (i-start == maxOps || size+n > chunkBytes) {
			out = append(out, puts[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(puts) {
		out = append(out, puts[start:])
	}
	return out
}

func putOps(puts []kv) []clientv3.Op {
	ops := make([]clientv3.Op, len(puts))
	for i, p := range puts {
		ops[i] = clientv3.OpPut(p.key, p.value)
	}
	return ops
}

// fitsOneTxn reports whether puts and extra further ops fit one
// transaction of at most maxOps puts.
func fitsOneTxn(puts []kv, extraOps, extraBytes, maxOps int) bool {
	if len(puts)+extraOps > maxOps {
		return false
	}
	size := extraBytes
	for _, p := range puts {
		size += len(p.key) + len(p.value)
	}
	return size <= chunkBytes
}

// errCreationInterrupted is returned when a chunked creation lost its
// claim: the claim's lease expired (the creating broker stalled for
// longer than creationLeaseTTL) or the pending topic was deleted.
var errCreationInterrupted = errors.New("controller: topic creation interrupted: its claim was lost")

// createTopicChunked writes a topic whose keys do not fit one transaction.
// Atomic visibility comes from the topic key, written last:
//
//  1. claim: if the topic key does not exist, put it as a pending record
//     ({"creating": true}) under a fresh lease, and delete whatever
//     partition keys an earlier, interrupted creation of the same name
//     left. Watchers ignore pending records, so the topic stays absent.
//     A second creator of the name now fails (TOPIC_ALREADY_EXISTS); if
//     this broker dies the lease expires and the name is free again.
//  2. chunks of partition keys, each guarded by the topic key still having
//     the claim's mod revision (a lost claim stops the writes at once).
//  3. commit: same guard; put the final topic record (with its partition
//     count, and without a lease, which detaches it from the claim's
//     lease) and the config key. Every partition key below the count
//     exists in an earlier revision, so the first snapshot that shows the
//     topic shows all of it.
//
// It returns the revision of each partition's write and the commit's.
func (c *Controller) createTopicChunked(ctx context.Context, name string, final, pending []byte, configs []byte, parts []kv) (partRevs []int64, rev int64, err error) {
	tkey := c.k.topic(name)
	lease, err := c.cli.Grant(ctx, creationLeaseTTL)
	if err != nil {
		return nil, 0, fmt.Errorf("controller: create topic %q: lease: %w", name, err)
	}
	defer func() {
		// Revoking after the commit removes nothing: the committed key
		// no longer belongs to the lease. After a failure it drops the
		// claim at once instead of after the TTL.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = c.cli.Revoke(rctx, lease.ID)
	}()
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(tkey), "=", 0)).
		Then(
			clientv3.OpPut(tkey, string(pending), clientv3.WithLease(lease.ID)),
			clientv3.OpDelete(c.k.partitions(name), clientv3.WithPrefix()),
		).
		Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("controller: create topic %q: claim: %w", name, err)
	}
	if !resp.Succeeded {
		return nil, 0, kerrf(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	claim := clientv3.Compare(clientv3.ModRevision(tkey), "=", resp.Header.Revision)
	lastAlive := time.Now()
	partRevs = make([]int64, 0, len(parts))
	for _, ch := range chunked(parts, c.txnPuts()) {
		if time.Since(lastAlive) > creationLeaseTTL*time.Second/3 {
			if _, err := c.cli.KeepAliveOnce(ctx, lease.ID); err != nil {
				return nil, 0, fmt.Errorf("controller: create topic %q: keep claim: %w", name, err)
			}
			lastAlive = time.Now()
		}
		r, err := c.cli.Txn(ctx).If(claim).Then(putOps(ch)...).Commit()
		if err != nil {
			return nil, 0, fmt.Errorf("controller: create topic %q: %w", name, err)
		}
		if !r.Succeeded {
			return nil, 0, fmt.Errorf("%w (topic %q)", errCreationInterrupted, name)
		}
		for range ch {
			partRevs = append(partRevs, r.Header.Revision)
		}
	}
	r, err := c.cli.Txn(ctx).If(claim).Then(
		clientv3.OpPut(tkey, string(final)),
		clientv3.OpPut(c.k.topicConfig(name), string(configs)),
	).Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("controller: create topic %q: commit: %w", name, err)
	}
	if !r.Succeeded {
		return nil, 0, fmt.Errorf("%w (topic %q)", errCreationInterrupted, name)
	}
	return partRevs, r.Header.Revision, nil
}

// marshal is json.Marshal for values that always encode.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs, maps and slices are encoded here
	}
	return b
}
