package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/broker/fetchsession"
	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/internal/steptime"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"go.uber.org/zap"
)

// Options are what a Broker is built from.
type Options struct {
	Config *config.Broker
	Logger *zap.Logger
	// FileOps replaces the operating system under the log dir's files
	// (storage.FileOps); tests inject I/O errors with it. Nil: the OS.
	FileOps storage.FileOps
}

// Broker is one Runnel broker: the connection Server, the partition logs of
// its log dir, its view of the cluster through the controller, and the
// handlers that join them.
type Broker struct {
	cfg  *config.Broker
	id   int32
	log  *zap.Logger
	ctrl *controller.Controller
	logs *storage.Manager
	srv  *network.Server
	// interTLS dials other brokers' inter-broker listener when it is SSL
	// or SASL_SSL (tls.go); nil for plaintext.
	interTLS *tls.Config
	// dirLock holds the log dir's lock (storage.LockLogDir) until Close;
	// dirID is the log dir's directory.id (logdir.go), which the broker
	// registers with: holding the lock, it may take over a registration
	// its dead predecessor on this log dir left behind.
	dirLock *os.File
	dirID   string

	// replicas are this broker's partitions, with their follower
	// fetchers and ISR checks (package replica).
	replicas *replica.Manager
	pids     *producerIDs
	admin    *adminServer
	metrics  *brokerMetrics // metrics.go
	// phase is what the starting broker is doing, "" once started
	// (admin_http.go).
	phase  atomic.Pointer[string]
	txns   *txnCoordinator   // transaction coordination glue (transactions.go)
	groups *groupCoordinator // group coordination glue (groups.go)
	shares *shareService     // share-partitions and share sessions (share.go)
	// fetchSessions is the KIP-227 fetch session cache.
	fetchSessions *fetchsession.Cache
	// followerReads counts consumer fetches this broker answered with
	// records as a follower (KIP-392): the runnel_fetch_follower_reads_total
	// metric.
	followerReads atomic.Int64

	unsubscribe func()
	// life is canceled by Close: background work the broker starts (the
	// controller election) runs under it.
	life      context.Context
	stopLife  context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	// failed is closed when the log dir fails (logdir_failure.go).
	failed chan struct{}
	// registered is set once the broker is in the cluster (controlled
	// shutdown has something to do only then).
	registered bool
	// interBrokerSASL, when the inter-broker listener is SASL, is how this
	// broker authenticates to the others (sasl.go).
	interBrokerSASL *interBrokerSASL
	// acls is the ACL authorizer, nil without authorizer.class.name
	// (authorize.go).
	acls *acls
	// quotas are the client quotas (quotas.go).
	quotas *clientQuotas
}

// etcdDirName is where the embedded etcd keeps its data inside the first log
// dir; storage ignores directories that are not <topic>-<partition>.
const etcdDirName = "etcd"

// New opens the broker's storage and metadata, starts serving its listeners
// and registers it with the cluster. Close undoes all of it.
func New(ctx context.Context, o Options) (_ *Broker, err error) {
	cfg := o.Config
	lg := o.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	if len(cfg.LogDirs) == 0 {
		return nil, errors.New("broker: log.dirs is empty")
	}
	if len(cfg.LogDirs) > 1 {
		lg.Warn("only the first of log.dirs is used", zap.Strings("log.dirs", cfg.LogDirs))
	}
	logDir := cfg.LogDirs[0]
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: log dir: %w", err)
	}
	// The lock comes first: meta.properties, the embedded etcd and the
	// partition logs all live in this directory.
	dirLock, err := storage.LockLogDir(logDir)
	if err != nil {
		return nil, err
	}
	meta, err := storage.ReadMetaProperties(logDir)
	if err != nil {
		dirLock.Close()
		return nil, err
	}
	id, err := brokerID(cfg, logDir, meta)
	if err != nil {
		dirLock.Close()
		return nil, err
	}
	dirID := logDirID(meta)
	// TLS settings fail the start before anything is opened (tls.go).
	listeners, err := serverListeners(cfg)
	if err != nil {
		dirLock.Close()
		return nil, err
	}
	interTLS, err := interBrokerTLS(cfg)
	if err != nil {
		dirLock.Close()
		return nil, err
	}
	b := &Broker{cfg: cfg, id: id, dirID: dirID, log: lg.With(zap.Int32("broker", id)), dirLock: dirLock, interTLS: interTLS, failed: make(chan struct{})}
	b.life, b.stopLife = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	// Metrics and the admin listener come first, so that /readyz can say
	// what a starting broker is doing (admin_http.go).
	b.setStartupPhase("opening the metadata store")
	b.metrics = newBrokerMetrics(b)
	if err := b.startAdminListener(); err != nil {
		return nil, err
	}

	// The log dir's cluster is checked against the store's before
	// anything is written to either (cluster_id.go).
	ident, err := inspectLogDir(cfg, logDir, meta)
	if err != nil {
		return nil, err
	}
	copts := controller.Options{
		Endpoints:  cfg.EtcdEndpoints,
		DataDir:    filepath.Join(logDir, etcdDirName),
		BrokerID:   id,
		Logger:     lg.Named("controller"),
		SessionTTL: time.Duration(cfg.BrokerSessionTimeoutMs) * time.Millisecond,
		// Bounded below MaxInt32 by config validation.
		MaxBrokerPartitions: int(cfg.MaxBrokerPartitions),
	}
	ident.controllerOptions(&copts, cfg.ClusterIDHint)
	b.ctrl, err = controller.Open(ctx, copts)
	if errors.Is(err, controller.ErrNoCluster) {
		return nil, ident.noClusterError()
	}
	if err != nil {
		return nil, fmt.Errorf("broker: metadata store: %w", err)
	}
	b.metrics.register(b.ctrl.Metrics())
	if err := b.checkClusterID(ctx, ident); err != nil {
		return nil, err
	}
	if err := b.writeMetaProperties(logDir, meta); err != nil {
		return nil, err
	}
	// SASL listeners and inter-broker authentication (sasl.go), settled
	// before any replica fetcher dials another broker.
	saslByListener, err := saslListeners(cfg, b.ctrl.Snapshot, b.log)
	if err != nil {
		return nil, err
	}
	if b.interBrokerSASL, err = newInterBrokerSASL(cfg, saslByListener); err != nil {
		return nil, err
	}
	if err := b.ensureInterBrokerScramUser(ctx); err != nil {
		return nil, err
	}
	b.setStartupPhase("loading the partition logs")
	b.logs, err = storage.OpenManager(storage.ManagerOptions{
		Dir:                     logDir,
		FileOps:                 o.FileOps,
		Logger:                  b.log.Named("storage"),
		RetentionCheckInterval:  time.Duration(cfg.LogRetentionCheckIntervalMs) * time.Millisecond,
		CleanerDisabled:         !cfg.LogCleanerEnable,
		CleanerBackoff:          time.Duration(cfg.LogCleanerBackoffMs) * time.Millisecond,
		CleanerDedupeBufferSize: cfg.LogCleanerDedupeBufferSize,
		RecoveryThreads:         int(cfg.NumRecoveryThreadsPerDir),
		DirDeleteDelay:          dirDeleteDelay(cfg),
		ObserveFlush:            b.metrics.observeFlush,

		ProducerIDExpiration:              producerIDExpiration(cfg, b.ctrl.Snapshot(), id),
		ProducerIDExpirationCheckInterval: time.Duration(cfg.ProducerIDExpirationCheckMs) * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: storage: %w", err)
	}
	b.watchLogDir() // logdir_failure.go
	ro := replica.Options{ID: id, Config: cfg, Logs: b.logs, Metadata: b.ctrl, Logger: b.log, TLS: interTLS}
	if ib := b.interBrokerSASL; ib != nil {
		ro.SASL, ro.SASLUser = ib.franz(), ib.user
	}
	b.replicas = replica.NewManager(ro)
	b.replicas.Start()
	b.acls = newACLs(cfg, b.ctrl.Snapshot())
	b.quotas = newClientQuotas(quotaWindow(cfg), controllerQuotaWindow(cfg))
	b.quotas.update(b.ctrl.Snapshot())
	b.unsubscribe = b.ctrl.Subscribe(func(s *controller.Snapshot) {
		b.logs.SetProducerIDExpiration(producerIDExpiration(cfg, s, id))
		if b.acls != nil {
			b.acls.update(s)
		}
		b.quotas.update(s)
	})
	b.groups = b.startGroups()
	b.pids = newProducerIDs(b.ctrl)
	b.txns = b.startTxns()
	b.shares = b.startShares()
	b.fetchSessions = fetchsession.New(cfg.FetchSessionCacheSlots)

	for i := range listeners {
		listeners[i].SASL = saslByListener[listeners[i].Name]
	}
	netCfg := network.Config{
		Listeners:                listeners,
		MaxRequestSize:           cfg.SocketRequestMaxBytes,
		IdleTimeout:              time.Duration(cfg.ConnectionsMaxIdleMs) * time.Millisecond,
		Logger:                   b.log.Named("server"),
		SocketSendBufferBytes:    int(cfg.SocketSendBufferBytes),
		SocketReceiveBufferBytes: int(cfg.SocketReceiveBufferBytes),
		Features:                 b.networkFeatures, // 57_update_features.go
		Identity:                 func() (string, int32) { return b.ctrl.ClusterID(), b.id },
	}
	if err := connectionLimits(ctx, cfg, &netCfg); err != nil { // netlimits.go
		return nil, err
	}
	handlers := b.handlers()
	b.metrics.instrument(handlers) // metrics.go
	b.srv, err = network.NewServer(netCfg, handlers)
	if err != nil {
		return nil, err
	}
	b.metrics.register(b.srv.Metrics())
	b.ctrl.Subscribe(b.watchConnectionLimits(cfg)) // dynamic limits (netlimits.go); ends with ctrl
	b.quotas.connectServer(b.srv.SetConnectionRateQuotas, b.ctrl.Snapshot())
	// The listeners are bound (so a port 0 listener knows its port) but
	// accept nothing until the broker is registered: a client must never be
	// told metadata that lacks the broker it is talking to.
	b.setStartupPhase("registering with the cluster")
	if err := b.register(ctx); err != nil {
		return nil, err
	}
	b.registered = true
	if err := b.srv.Start(); err != nil {
		return nil, err
	}
	b.ctrl.Campaign(b.life)
	b.setStartupPhase("")
	b.log.Info("broker started", zap.String("cluster", b.ctrl.ClusterID()), zap.Any("listeners", b.srv.Addrs()))
	return b, nil
}

// ID is this broker's id.
func (b *Broker) ID() int32 { return b.id }

// Addrs are the bound listener addresses, in configuration order.
func (b *Broker) Addrs() []net.Addr { return b.srv.Addrs() }

// Close stops serving, leaves the cluster and closes the logs cleanly (so
// the next start skips recovery). It is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		var errs []error
		// How long each step took, logged when the whole took a while: a
		// broker with tens of thousands of partitions should say where
		// its shutdown went.
		steps := steptime.Start()
		step := steps.Step
		if b.srv != nil && b.registered {
			b.replicas.ControlledShutdown()
			step("controlled_shutdown")
		}
		b.stopLife()
		if b.admin != nil {
			errs = append(errs, b.admin.close())
		}
		if b.srv != nil {
			errs = append(errs, b.srv.Close())
		}
		step("listeners")
		if b.unsubscribe != nil {
			b.unsubscribe()
		}
		b.shares.close()
		if b.replicas != nil {
			b.replicas.Close()
		}
		b.groups.close()
		b.txns.close()
		step("replicas_and_coordinators")
		if b.ctrl != nil {
			errs = append(errs, b.ctrl.Close())
		}
		step("metadata_store")
		if b.logs != nil {
			errs = append(errs, b.logs.Close())
		}
		step("logs")
		if b.log != nil && steps.Took() > time.Second {
			b.log.Info("shutdown steps", steps.Fields()...)
		}
		if b.dirLock != nil {
			errs = append(errs, b.dirLock.Close())
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// register records this broker in etcd. A registration the previous
// process on this log dir left behind (killed, its lease not yet expired)
// is taken over at once: the log dir lock proves that process dead. One
// made from another log dir (or by a Runnel that recorded none) lives
// until its lease expires, as a ZooKeeper ephemeral node outlived a dead
// Kafka broker by its session timeout, so a duplicate id is retried until
// then.
func (b *Broker) register(ctx context.Context) error {
	info := b.registration(b.advertised())
	for {
		err := b.ctrl.RegisterBroker(ctx, info)
		if err == nil {
			return nil
		}
		if !errors.Is(err, controller.ErrBrokerIDInUse) {
			return fmt.Errorf("broker: registering: %w", err)
		}
		b.log.Info("broker id still registered by another process; waiting for its session to expire", zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker: registering: %w", err)
		case <-time.After(time.Second):
		}
	}
}

// advertised are the endpoints clients are told about. A listener bound to
// port 0 advertises the port it got.
func (b *Broker) advertised() []controller.Endpoint {
	bound := map[string]int32{}
	for i, a := range b.srv.Addrs() {
		if ta, ok := a.(*net.TCPAddr); ok {
			bound[b.cfg.Listeners[i].Name] = int32(ta.Port)
		}
	}
	var out []controller.Endpoint
	for _, l := range b.cfg.AdvertisedListeners {
		port := int32(l.Port)
		if port == 0 {
			port = bound[l.Name]
		}
		out = append(out, controller.Endpoint{
			Listener:         l.Name,
			Host:             l.Host,
			Port:             port,
			SecurityProtocol: l.SecurityProtocol,
		})
	}
	return out
}

// producerIDExpiration is producer.id.expiration.ms as this broker sees
// it in snap: set dynamically for this broker, else for the cluster, else
// the static value (Kafka lets AlterConfigs change it at run time).
func producerIDExpiration(cfg *config.Broker, snap *controller.Snapshot, id int32) time.Duration {
	ms := int64(cfg.ProducerIDExpirationMs)
	dyn := dynamicConfigs(snap, id)
	for _, m := range []map[string]string{dyn.PerBroker, dyn.ClusterDefault} {
		if v, ok := m["producer.id.expiration.ms"]; ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err == nil && n > 0 {
				ms = n
				break
			}
		}
	}
	return time.Duration(ms) * time.Millisecond
}

// dynamicConfigs are the broker configs stored in etcd that apply to this
// broker: the cluster-wide defaults and its own.
func dynamicConfigs(snap *controller.Snapshot, brokerID int32) config.Dynamic {
	return config.Dynamic{
		ClusterDefault: snap.BrokerConfigs[""],
		PerBroker:      snap.BrokerConfigs[itoa(brokerID)],
	}
}

func itoa(v int32) string { return strconv.Itoa(int(v)) }
