package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// The session is this broker's lease, ZooKeeper's session in Kafka: the
// broker registration and the controller election key live under it and
// vanish with it. One goroutine (sessionLoop) owns it: it grants the lease,
// keeps it alive, and when the lease is lost (etcd unreachable for longer
// than the TTL) grants a new one, registers the broker again (with a new
// epoch) and campaigns again.

// ErrBrokerIDInUse is returned by RegisterBroker when another live broker
// holds the id. After a crash the old registration lives on until its lease
// expires (SessionTTL), unless it carries the registering broker's
// DirectoryID (takeover.go); the broker may retry.
var ErrBrokerIDInUse = errors.New("controller: broker id already registered by a live broker")

func (c *Controller) ttlSeconds() int {
	s := int((c.o.SessionTTL + time.Second - 1) / time.Second)
	return max(s, 1)
}

// startSessionLoop starts the session loop once. Caller holds smu.
func (c *Controller) startSessionLoop() {
	if c.sessStarted || c.ctx.Err() != nil {
		return
	}
	c.sessStarted = true
	c.wg.Add(1)
	go c.sessionLoop()
}

func (c *Controller) setSession(s *concurrency.Session) {
	c.smu.Lock()
	c.sess = s
	close(c.sessNotify)
	c.sessNotify = make(chan struct{})
	c.smu.Unlock()
}

// waitSession returns the live session, waiting for the loop to grant one.
func (c *Controller) waitSession(ctx context.Context) (*concurrency.Session, error) {
	for {
		c.smu.Lock()
		s, ch := c.sess, c.sessNotify
		c.smu.Unlock()
		if s != nil {
			select {
			case <-s.Done():
			default:
				return s, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("controller: waiting for etcd session: %w", ctx.Err())
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

func (c *Controller) sessionLoop() {
	defer c.wg.Done()
	backoff := 100 * time.Millisecond
	for c.ctx.Err() == nil {
		gctx, gcancel := context.WithTimeout(c.ctx, 5*time.Second)
		lease, err := c.cli.Grant(gctx, int64(c.ttlSeconds()))
		gcancel()
		if err != nil {
			c.log.Warn("etcd lease grant failed", zap.Error(err))
			if !sleepCtx(c.ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		// The keepalive context is not c.ctx: on Close the lease is revoked
		// explicitly below, after keepalives stop.
		kactx, kacancel := context.WithCancel(context.Background())
		sess, err := concurrency.NewSession(c.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(kactx))
		if err != nil {
			kacancel()
			c.log.Warn("etcd session failed", zap.Error(err))
			if !sleepCtx(c.ctx, backoff) {
				return
			}
			continue
		}
		backoff = 100 * time.Millisecond
		c.setSession(sess)
		c.sessionState(false)
		c.log.Debug("etcd session started", zap.Int64("lease", int64(lease.ID)))

		c.smu.Lock()
		reg := c.reg
		campaigning := c.campaigning
		c.smu.Unlock()
		if reg != nil {
			c.wg.Add(1)
			go c.reregister(sess, *reg)
		}
		if campaigning {
			c.smu.Lock()
			c.startElectionLocked(sess)
			c.smu.Unlock()
		}

		select {
		case <-c.ctx.Done():
			sess.Orphan()
			kacancel()
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
			if _, err := c.cli.Revoke(rctx, lease.ID); err != nil {
				c.log.Warn("etcd lease revoke failed; it expires by itself", zap.Error(err))
			}
			rcancel()
			return
		case <-sess.Done():
			kacancel()
			c.sessionState(true)
			c.log.Warn("etcd session lost; registering again with a new lease", zap.Int64("lease", int64(lease.ID)))
			c.setSession(nil)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reregister puts the registration back after a session change, retrying
// while the session lives (the old key may still await its lease expiry).
func (c *Controller) reregister(sess *concurrency.Session, b BrokerInfo) {
	defer c.wg.Done()
	for {
		c.smu.Lock()
		done := c.regLease == sess.Lease()
		c.smu.Unlock()
		if done {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		err := c.probeStore(ctx) // view_guard.go
		if err != nil {
			c.viewFailed(err)
		} else {
			_, err = c.putBroker(ctx, sess, b)
		}
		cancel()
		if err == nil {
			c.smu.Lock()
			c.regLease = sess.Lease()
			c.smu.Unlock()
			return
		}
		c.log.Warn("broker re-registration failed; retrying", zap.Error(err))
		select {
		case <-sess.Done():
			return
		case <-c.ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// RegisterBroker registers this broker under the session lease: the key is
// ephemeral like a ZooKeeper node and disappears when the broker stops
// renewing the lease. The registration epoch (BrokerInfo.Epoch in
// snapshots) is the etcd revision that created the key. Registering again
// with the same id from the same Controller replaces the endpoints; a
// registration left by a dead previous owner of b.DirectoryID is taken over
// at once (takeover.go); any other registration of the id by someone else
// is ErrBrokerIDInUse. If the lease is ever lost the Controller registers
// again by itself.
func (c *Controller) RegisterBroker(ctx context.Context, b BrokerInfo) error {
	if b.ID != c.o.BrokerID {
		return fmt.Errorf("controller: registering broker %d from a controller opened for broker %d", b.ID, c.o.BrokerID)
	}
	c.smu.Lock()
	c.startSessionLoop()
	c.smu.Unlock()
	for {
		sess, err := c.waitSession(ctx)
		if err != nil {
			return err
		}
		rev, err := c.putBroker(ctx, sess, b)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			continue // the session just expired; the loop grants another
		}
		if err != nil {
			return err
		}
		c.smu.Lock()
		bb := b
		c.reg, c.regLease = &bb, sess.Lease()
		c.smu.Unlock()
		c.log.Info("broker registered", zap.Int32("broker", b.ID), zap.Int64("epoch", rev))
		// Our own registration is in the snapshot before we return, so
		// assignments made right after see this broker.
		return c.WaitRevision(ctx, rev)
	}
}

// putBroker returns the revision the registration is visible at. A
// registration of the id under another lease that carries b's DirectoryID
// is taken over (takeover.go); any other is ErrBrokerIDInUse.
func (c *Controller) putBroker(ctx context.Context, sess *concurrency.Session, b BrokerInfo) (int64, error) {
	val, err := json.Marshal(b)
	if err != nil {
		return 0, err
	}
	key := c.k.broker(b.ID)
	tookOver := false
	for {
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(val), clientv3.WithLease(sess.Lease()))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("controller: register broker %d: %w", b.ID, err)
		}
		if resp.Succeeded {
			return resp.Header.Revision, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) != 1 {
			return 0, fmt.Errorf("%w: broker %d", ErrBrokerIDInUse, b.ID)
		}
		if clientv3.LeaseID(kvs[0].Lease) == sess.Lease() {
			// Ours already: update in place, keeping the epoch.
			r, err := c.cli.Txn(ctx).
				If(clientv3.Compare(clientv3.LeaseValue(key), "=", sess.Lease())).
				Then(clientv3.OpPut(key, string(val), clientv3.WithLease(sess.Lease()))).
				Commit()
			if err != nil {
				return 0, fmt.Errorf("controller: register broker %d: %w", b.ID, err)
			}
			if r.Succeeded {
				return r.Header.Revision, nil
			}
			return 0, fmt.Errorf("%w: broker %d", ErrBrokerIDInUse, b.ID)
		}
		// One takeover at most: if the id is registered again right after
		// it, someone else (with another log dir) holds it.
		if !tookOver {
			done, err := c.takeOver(ctx, b, kvs[0])
			if err != nil {
				return 0, err
			}
			if done {
				tookOver = true
				continue
			}
		}
		return 0, fmt.Errorf("%w: broker %d (registration epoch %d%s)", ErrBrokerIDInUse, b.ID, kvs[0].CreateRevision, dirOf(kvs[0].Value))
	}
}

// dirOf describes the directory.id a registration value carries, for
// error messages.
func dirOf(val []byte) string {
	var o BrokerInfo
	if json.Unmarshal(val, &o) != nil || o.DirectoryID == "" {
		return ", no log dir id"
	}
	return ", log dir " + o.DirectoryID
}

// Campaign makes this broker a candidate in the controller election
// (concurrency.Election under <prefix>/controller, value = broker id) and
// returns at once. While elected, IsController is true and this Controller
// runs the controller loop (leader election for partitions whose leader
// died, ISR shrink on broker loss, preferred leader election). If the
// session is lost it campaigns again with the next one. Candidacy ends when
// ctx is done or at Close; a sitting controller resigns.
func (c *Controller) Campaign(ctx context.Context) {
	c.smu.Lock()
	defer c.smu.Unlock()
	if (c.campaigning && c.campaignCtx.Err() == nil) || c.ctx.Err() != nil {
		return
	}
	c.campaigning, c.campaignCtx = true, ctx
	c.startSessionLoop()
	if c.sess != nil {
		c.startElectionLocked(c.sess)
	}
}

// IsController reports whether this broker currently holds the controller
// election.
func (c *Controller) IsController() bool { return c.isController.Load() }

// startElectionLocked starts one election attempt bound to sess, unless
// one runs for it already or candidacy ended. Caller holds smu.
func (c *Controller) startElectionLocked(sess *concurrency.Session) {
	if !c.campaigning || c.campaignCtx == nil || c.electionLease == sess.Lease() || c.ctx.Err() != nil {
		return
	}
	c.electionLease = sess.Lease()
	c.wg.Add(1)
	go c.runElection(sess, c.campaignCtx)
}

func (c *Controller) runElection(sess *concurrency.Session, cctx context.Context) {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	stop := context.AfterFunc(cctx, cancel)
	defer stop()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		select {
		case <-sess.Done():
			cancel()
		case <-ctx.Done():
		}
	}()

	e := concurrency.NewElection(sess, c.k.election())
	if err := e.Campaign(ctx, strconv.Itoa(int(c.o.BrokerID))); err != nil {
		c.endCampaignIf(sess, cctx)
		return
	}
	c.isController.Store(true)
	c.log.Info("elected controller", zap.Int32("broker", c.o.BrokerID), zap.Int64("election_revision", e.Rev()))
	c.controllerLoop(ctx, e)
	c.isController.Store(false)
	select {
	case <-sess.Done():
	default:
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := e.Resign(rctx); err != nil {
			c.log.Warn("controller resign failed", zap.Error(err))
		}
		rcancel()
	}
	c.log.Info("no longer controller", zap.Int32("broker", c.o.BrokerID))
	c.endCampaignIf(sess, cctx)
}

// endCampaignIf runs when an election attempt for sess ends. If its
// campaign context is done, candidacy ends — unless Campaign was called
// again meanwhile, in which case a new attempt starts on the same session.
func (c *Controller) endCampaignIf(sess *concurrency.Session, cctx context.Context) {
	if cctx.Err() == nil {
		return
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.electionLease == sess.Lease() {
		c.electionLease = 0
	}
	if c.campaignCtx == cctx {
		c.campaigning, c.campaignCtx = false, nil
		return
	}
	if c.sess == sess {
		c.startElectionLocked(sess)
	}
}

// OwnEpoch is this broker's epoch as snapshot s shows it: the epoch of the
// registration s holds for this broker id, if that registration lives
// under this Controller's current session; otherwise 0 (not registered
// yet, the session was lost, or s still shows a previous process's
// registration, which lingers until its lease expires). Brokers lead only
// partitions whose LeaderBrokerEpoch equals it.
func (c *Controller) OwnEpoch(s *Snapshot) int64 {
	b, ok := s.Brokers[c.o.BrokerID]
	if !ok {
		return 0
	}
	c.smu.Lock()
	sess := c.sess
	c.smu.Unlock()
	if sess == nil || int64(sess.Lease()) != b.Lease {
		return 0
	}
	return b.Epoch
}
