package controller

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// The metadata view is trusted only while it is the cluster Open checked
// and it never goes back in time. Open verified the cluster id (the
// broker compared it with its log dir's); afterwards the store can still
// be swapped under a running broker: the cluster id key deleted or
// changed, or the client reconnected to another etcd (a fresh one, or one
// restored from a backup) whose revision is below what was applied. A
// view like that is not published: the broker goes on with its last good
// snapshot, MetadataFault reports why (the broker's /readyz turns not
// ready), and the watch loop reloads until the store holds this cluster
// again at a revision not below the one applied. Applying such a view
// would have made every partition a stray, or resurrected deleted state.
//
// The watch sees a deleted or changed key, and a progress notification
// below the applied revision; a store swapped without any event (a
// reconnect to a fresh etcd) is caught by guardView's probe, which reads
// the cluster id key every viewCheckInterval. A lost lease is registered
// again (session.go) only after the same probe: a broker never registers
// itself into another cluster's store.
const viewCheckInterval = 5 * time.Second

// checkView is nil when a view of cluster id at revision rev may replace
// one applied at revision applied.
func (c *Controller) checkView(id string, rev, applied int64) error {
	switch {
	case id == "":
		return fmt.Errorf("controller: the cluster id key %s vanished from the metadata store (cluster %s): a lost or swapped store", c.k.clusterID(), c.clusterID)
	case id != c.clusterID:
		return fmt.Errorf("controller: the metadata store now holds cluster %s, not %s: a swapped store", id, c.clusterID)
	case rev < applied:
		return fmt.Errorf("controller: the metadata store went back from revision %d to %d: restored from an older copy, or another store", applied, rev)
	}
	return nil
}

// MetadataFault is why the metadata view is currently refused, or nil.
func (c *Controller) MetadataFault() error {
	if p := c.fault.Load(); p != nil {
		return *p
	}
	return nil
}

// viewFailed records err as the fault, logging it when it is new.
func (c *Controller) viewFailed(err error) {
	old := c.fault.Swap(&err)
	if old == nil || (*old).Error() != err.Error() {
		c.log.Error("metadata view refused; serving the last good one until the store holds this cluster again", zap.Error(err))
	}
}

// viewRecovered clears the fault once a good view is loaded.
func (c *Controller) viewRecovered() {
	if old := c.fault.Swap(nil); old != nil {
		c.log.Warn("metadata view accepted again", zap.String("cluster_id", c.clusterID), zap.NamedError("was", *old))
	}
}

// reloadPause is the wait before a reload: short after a broken watch,
// longer while the store is refused (each reload reads every key).
func (c *Controller) reloadPause() time.Duration {
	if c.fault.Load() != nil {
		return 2 * time.Second
	}
	return 200 * time.Millisecond
}

// guardView probes the cluster id key every viewCheckInterval. A missing
// or changed key, or a store revision below the published snapshot's,
// refuses the view and ends the current watch, so the watch loop reloads
// and accepts only a good view.
func (c *Controller) guardView() {
	defer c.wg.Done()
	t := time.NewTicker(viewCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, viewCheckInterval)
		err := c.probeStore(ctx)
		cancel()
		if err != nil {
			c.viewFailed(err)
			c.mu.Lock()
			if c.watchCancel != nil {
				c.watchCancel()
			}
			c.mu.Unlock()
		}
	}
}

// probeStore reads the cluster id key and checks it, and the store's
// revision, against what was applied. An unreachable store is not a
// swapped one: nil.
func (c *Controller) probeStore(ctx context.Context) error {
	applied := c.snap.Load().Revision
	resp, err := c.cli.Get(ctx, c.k.clusterID())
	if err != nil {
		return nil
	}
	id := ""
	if len(resp.Kvs) > 0 {
		id = string(resp.Kvs[0].Value)
	}
	return c.checkView(id, resp.Header.Revision, applied)
}
