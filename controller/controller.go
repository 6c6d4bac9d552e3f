package controller

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
)

// Options configures Open.
type Options struct {
	// Endpoints are the etcd client URLs (Runnel's etcd.endpoints). Empty
	// starts an embedded single-member etcd in DataDir/etcd listening on
	// unix sockets only.
	Endpoints []string
	// DataDir holds the embedded etcd's data (unused with Endpoints).
	DataDir string
	// Prefix is the root of every key Runnel writes; default "/runnel".
	// Several clusters can share one etcd under different prefixes.
	Prefix string
	// BrokerID is this broker's id: the value it campaigns with and the
	// only id RegisterBroker accepts.
	BrokerID int32
	Logger   *zap.Logger
	// SessionTTL is the broker lease TTL (Kafka's
	// broker.session.timeout.ms); default 9s, rounded up to whole seconds.
	// etcd raises TTLs below its minimum (about 2s with default timing).
	SessionTTL time.Duration
	// DefaultPartitions and DefaultReplicationFactor replace -1 in a
	// TopicSpec (Kafka's num.partitions and default.replication.factor);
	// default 1 each.
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	// MaxBrokerPartitions bounds the partition replicas one broker may
	// hold (KIP-578's max.broker.partitions): a creation or extension that
	// would put more on any broker is refused; 0 means no bound.
	MaxBrokerPartitions int
	// DialTimeout bounds Open's first contact with etcd; default 10s.
	DialTimeout time.Duration
	// What Open does when etcd holds no cluster id yet (ensureClusterID).
	// By default it creates a fresh one: a new cluster. NoNewCluster makes
	// Open fail with ErrNoCluster instead, writing nothing: the broker
	// asks for it when its log dir already belongs to a cluster, whose
	// metadata an empty store has lost. NewClusterID, if set, is the id
	// to create instead of a fresh one (restoring a lost store under the
	// id the log dirs record).
	NoNewCluster bool
	NewClusterID string
}

// ErrNoCluster is Open's error when etcd holds no cluster id and
// Options.NoNewCluster forbids creating one.
var ErrNoCluster = errors.New("controller: the metadata store holds no cluster id")

// Controller is one broker's connection to the cluster metadata in etcd.
// All methods are safe for concurrent use.
type Controller struct {
	o         Options
	log       *zap.Logger
	k         keys
	cli       *clientv3.Client
	emb       *embedded
	clusterID string
	// createdCluster: this Open created the cluster id (etcd held none).
	createdCluster bool
	// fault is the reason the metadata view is refused, or nil
	// (view_guard.go).
	fault atomic.Pointer[error]

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	snap atomic.Pointer[Snapshot]

	mu     sync.Mutex // guards the fields below
	notify chan struct{}
	subs   map[*subscriber]struct{}
	// watchCancel ends the current watch (the view guard forces a reload
	// with it).
	watchCancel context.CancelFunc

	smu           sync.Mutex // guards session-related fields
	sessStarted   bool
	sess          *concurrency.Session
	sessNotify    chan struct{} // closed when sess changes
	reg           *BrokerInfo   // registration to keep alive across sessions
	regLease      clientv3.LeaseID
	campaigning   bool
	campaignCtx   context.Context
	electionLease clientv3.LeaseID // the session an election runs for
	isController  atomic.Bool
	// lastMarker is when WaitRevision last wrote a progress marker
	// (UnixNano).
	lastMarker atomic.Int64

	metrics *Metrics // metrics.go
	// sessionLostAt is when the last session was lost (UnixNano), 0 once
	// a new one is granted (metrics.go).
	sessionLostAt atomic.Int64
}

// Open connects to etcd (or starts the embedded one), ensures the cluster
// id, loads the metadata snapshot and starts the watch that keeps it
// current.
func Open(ctx context.Context, o Options) (*Controller, error) {
	if o.Prefix == "" {
		o.Prefix = "/runnel"
	}
	for len(o.Prefix) > 1 && o.Prefix[len(o.Prefix)-1] == '/' {
		o.Prefix = o.Prefix[:len(o.Prefix)-1]
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 9 * time.Second
	}
	if o.DefaultPartitions <= 0 {
		o.DefaultPartitions = 1
	}
	if o.DefaultReplicationFactor <= 0 {
		o.DefaultReplicationFactor = 1
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	c := &Controller{
		o:          o,
		log:        o.Logger,
		k:          keys{pfx: o.Prefix},
		notify:     make(chan struct{}),
		subs:       map[*subscriber]struct{}{},
		sessNotify: make(chan struct{}),
	}
	c.metrics = newMetrics(c)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	endpoints := o.Endpoints
	if len(endpoints) == 0 {
		if o.DataDir == "" {
			c.cancel()
			return nil, errors.New("controller: neither etcd endpoints nor a data dir for the embedded etcd")
		}
		emb, err := startEmbedded(ctx, o.DataDir, o.Logger)
		if err != nil {
			c.cancel()
			return nil, err
		}
		c.emb = emb
		endpoints = []string{emb.endpoint}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: o.DialTimeout,
		Logger:      o.Logger.Named("etcd-client").WithOptions(zap.IncreaseLevel(zapcore.ErrorLevel)),
		// Keepalive pings detect a dead endpoint while the watch is idle.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		DialOptions:          []grpc.DialOption{grpc.WithChainUnaryInterceptor(c.metrics.unary)},
	})
	if err != nil {
		c.shutdown()
		return nil, fmt.Errorf("controller: etcd client: %w", err)
	}
	c.cli = cli
	octx, ocancel := context.WithTimeout(ctx, o.DialTimeout)
	defer ocancel()
	if err := c.ensureClusterID(octx); err != nil {
		c.shutdown()
		return nil, err
	}
	st, rev, err := c.load(octx)
	if err != nil {
		c.shutdown()
		return nil, fmt.Errorf("controller: load metadata: %w", err)
	}
	first, _ := st.snapshot(nil, rev)
	c.snap.Store(first)
	c.wg.Add(2)
	go c.watchLoop(st, rev)
	go c.guardView()
	return c, nil
}

// ensureClusterID creates the cluster id if absent (one transaction, so
// concurrent first starts agree) and reads it. With NoNewCluster it only
// reads it, and fails with ErrNoCluster if there is none.
func (c *Controller) ensureClusterID(ctx context.Context) error {
	key := c.k.clusterID()
	if c.o.NoNewCluster {
		resp, err := c.cli.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("controller: cluster id: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return ErrNoCluster
		}
		c.clusterID = string(resp.Kvs[0].Value)
		return nil
	}
	fresh := c.o.NewClusterID
	if fresh == "" {
		id := newUUID()
		fresh = base64.RawURLEncoding.EncodeToString(id[:])
	}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, fresh), c.featuresPut()).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("controller: cluster id: %w", err)
	}
	if resp.Succeeded {
		c.clusterID, c.createdCluster = fresh, true
		c.log.Info("created cluster id", zap.String("cluster_id", fresh))
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return errors.New("controller: cluster id vanished")
	}
	c.clusterID = string(kvs[0].Value)
	return nil
}

// CreatedCluster reports whether Open created the cluster id: etcd held
// none, so this is a new cluster (or a lost one being restored).
func (c *Controller) CreatedCluster() bool { return c.createdCluster }

// ClusterID is the cluster's id: 22 characters of unpadded base64url of a
// random UUID, created by the first Open against an empty etcd prefix.
func (c *Controller) ClusterID() string { return c.clusterID }

// Client is the underlying etcd client, for packages that keep further
// state in etcd under the same prefix.
func (c *Controller) Client() *clientv3.Client { return c.cli }

// Close revokes the broker lease (its registration and any controller
// leadership vanish at once), stops every background goroutine, closes the
// etcd client and stops the embedded etcd. It waits for all of it.
func (c *Controller) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.shutdown()
	return nil
}

func (c *Controller) shutdown() {
	c.cancel()
	c.mu.Lock()
	for s := range c.subs {
		s.stop()
	}
	c.mu.Unlock()
	c.wg.Wait() // the session loop revokes its lease on the way out
	if c.cli != nil {
		c.cli.Close()
	}
	if c.emb != nil {
		c.emb.close()
	}
}

// Snapshot returns the current metadata. The value and everything it
// points to must not be modified.
func (c *Controller) Snapshot() *Snapshot { return c.snap.Load() }

// ErrClosed is returned by calls that wait when the Controller closes.
var ErrClosed = errors.New("controller: closed")

// WaitRevision returns once the local snapshot reflects etcd revision rev
// (every write this package returns a revision for), so that metadata read
// right after a write shows it.
//
// A write under our prefix reaches the watch as an event of its revision.
// One that does not (a transaction whose compare failed, a write elsewhere)
// would leave the watch silent, so a wait that lasts writes a progress
// marker under our prefix: its event comes after every earlier one on the
// same watch, and moves the snapshot past rev. etcd's RequestProgress is
// not a substitute: before 3.4.25 and 3.5.8 (Debian ships 3.4.23) a
// requested progress notification can overtake events still queued on the
// stream (etcd-io/etcd#15220), and a snapshot published at its revision
// would miss them.
func (c *Controller) WaitRevision(ctx context.Context, rev int64) error {
	marker := time.NewTimer(progressMarkerDelay)
	defer marker.Stop()
	for {
		c.mu.Lock()
		ch := c.notify
		c.mu.Unlock()
		if c.snap.Load().Revision >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("controller: waiting for revision %d: %w", rev, ctx.Err())
		case <-c.ctx.Done():
			return ErrClosed
		case <-marker.C:
			c.writeProgressMarker(ctx)
			marker.Reset(time.Second)
		}
	}
}

// progressMarkerDelay is how long WaitRevision waits for events before it
// writes a progress marker: our own writes' events normally arrive well
// within it.
const progressMarkerDelay = 100 * time.Millisecond

// writeProgressMarker puts progress/<broker id>. Concurrent waiters share
// one marker: a put is skipped while another, written less than
// progressMarkerDelay ago, is on its way.
func (c *Controller) writeProgressMarker(ctx context.Context) {
	now := time.Now().UnixNano()
	last := c.lastMarker.Load()
	if now-last < int64(progressMarkerDelay) || !c.lastMarker.CompareAndSwap(last, now) {
		return
	}
	if _, err := c.cli.Put(ctx, c.k.progressMarker(c.o.BrokerID), ""); err != nil && ctx.Err() == nil {
		c.log.Debug("progress marker not written", zap.Error(err))
	}
}

func (c *Controller) publish(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap.Store(s)
	close(c.notify)
	c.notify = make(chan struct{})
	for sub := range c.subs {
		sub.push(s)
	}
}

// publishProgress moves the revision on without a content change.
// Subscribers are not called.
func (c *Controller) publishProgress(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	if old.Revision >= rev {
		return
	}
	n := *old
	n.Revision = rev
	c.snap.Store(&n)
	close(c.notify)
	c.notify = make(chan struct{})
}

// Subscribe calls fn with the current snapshot and then with every new one,
// in order, one call at a time, from a goroutine of its own. cancel stops
// further calls; it does not wait for a call in progress. Close stops all
// subscriptions and waits for calls in progress.
func (c *Controller) Subscribe(fn func(*Snapshot)) (cancel func()) {
	s := &subscriber{wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return func() {}
	}
	s.push(c.snap.Load())
	c.subs[s] = struct{}{}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		s.run(fn)
	}()
	return func() {
		c.mu.Lock()
		delete(c.subs, s)
		s.stop()
		c.mu.Unlock()
	}
}

type subscriber struct {
	mu    sync.Mutex
	queue []*Snapshot
	wake  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (s *subscriber) push(snap *Snapshot) {
	s.mu.Lock()
	s.queue = append(s.queue, snap)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) stop() { s.once.Do(func() { close(s.done) }) }

func (s *subscriber) run(fn func(*Snapshot)) {
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, snap := range q {
			select {
			case <-s.done:
				return
			default:
			}
			fn(snap)
		}
	}
}
