package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// A broker killed without a chance to revoke its lease leaves its
// registration (and, if it was the controller, its election key) behind
// until the lease expires: SessionTTL, plus the time an embedded etcd
// restarted with it needs, since etcd renews every lease it restores.
// Waiting that out is what ZooKeeper-era Kafka did, and what KRaft does
// too (its controller refuses a new incarnation while the old one's
// session lives). For a single node under `restart: always` that is ten
// seconds of outage after every crash.
//
// A broker can do better when it can prove the registration's owner is
// dead: Runnel's log dir lock (an flock, released by the kernel when the
// process dies) is held by at most one process, and the log dir's
// directory.id is recorded in the registration. A registration carrying
// the directory.id of the log dir we hold the lock of was made by a
// process that held that lock before us, and is therefore gone. Its lease
// is revoked — which deletes the registration and the election key in one
// etcd revision, exactly as its expiry would have — and the broker
// registers at once under its own lease, with a new broker epoch. Watchers
// see the deletion and then the new registration: the controller handles
// it as any bounce (failure, then startup), and a controller election the
// dead process held is open at once. A registration with another
// directory.id (or none) may belong to a live broker with the same id
// elsewhere: it is never taken over.
//
// The lock proves a writer dead only within one kernel: a log dir copied
// (or restored from a backup, or a cloned VM disk) to another machine
// carries the same directory.id while the original may still run. So the
// registration also records the host name and the kernel's boot id, and
// is taken over only when both match ours: the same machine, not rebooted
// since (a reboot ends every process anyway, and its lease expires). A
// registration without them (an older Runnel) is waited out.

// NewDirectoryID returns a fresh log dir id in Kafka's form (a random Uuid,
// 22 characters of unpadded base64url), for meta.properties' directory.id.
func NewDirectoryID() string { return newUUID().String() }

// takeOver removes kv, a registration of b's broker id under another
// lease, if it carries b's DirectoryID, and reports whether it did.
func (c *Controller) takeOver(ctx context.Context, b BrokerInfo, kv *mvccpb.KeyValue) (bool, error) {
	if b.DirectoryID == "" || b.Host == "" || b.BootID == "" {
		return false, nil
	}
	var old BrokerInfo
	if err := json.Unmarshal(kv.Value, &old); err != nil || old.DirectoryID != b.DirectoryID {
		return false, nil
	}
	if old.Host != b.Host || old.BootID != b.BootID {
		c.log.Info("the registration of this broker id carries this log dir's id but another host or boot (a copied log dir?): waiting for its lease to expire",
			zap.Int32("broker", b.ID), zap.String("host", old.Host), zap.String("boot_id", old.BootID))
		return false, nil
	}
	lease := clientv3.LeaseID(kv.Lease)
	if lease == clientv3.NoLease {
		// Not written by a Controller; remove just this key, unless it
		// changed since it was read.
		key := string(kv.Key)
		_, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(key)).
			Commit()
		if err != nil {
			return false, fmt.Errorf("controller: removing the registration of broker %d: %w", b.ID, err)
		}
		return true, nil
	}
	// Revoking the lease, rather than deleting the key, also removes the
	// dead process's election key. It cannot touch our new registration:
	// that is written afterwards, under our own lease. A lease that is
	// already gone expired meanwhile, which comes to the same.
	if _, err := c.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return false, fmt.Errorf("controller: revoking the lease of broker %d's previous process: %w", b.ID, err)
	}
	c.log.Info("took over the registration of this log dir's previous process, which is gone (its lease revoked)",
		zap.Int32("broker", b.ID), zap.String("directory_id", b.DirectoryID), zap.String("host", b.Host),
		zap.Int64("previous_epoch", kv.CreateRevision), zap.Int64("previous_lease", kv.Lease))
	return true, nil
}
