package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// embedded is a single-member etcd running inside this process.
//
// It listens on one unix socket, DataDir/etcd/client.sock (a filesystem
// socket inside the 0700 etcd dir, absolute path), so two runnel processes
// with different data directories run side by side without fighting over
// TCP ports 2379/2380, and only the broker's user can reach it. It has no
// peer listener: a single member never talks to peers, and etcd cannot
// put a peer socket in the file system (it listens on a URL's host, which
// cannot hold a '/'; an abstract socket would be open to every local
// process, and etcd serves "unixs" peer URLs without TLS). The advertised
// peer URL (unix://runnel-etcd-peer-<hash of data dir>) is a name only,
// which etcd needs for its member list and nothing ever dials.
type embedded struct {
	etcd     *embed.Etcd
	endpoint string
	closing  *atomic.Bool
}

// maxUnixPath is the longest socket path the kernel accepts (sun_path is 108
// bytes including the terminating NUL).
const maxUnixPath = 107

// embeddedSnapshotEntries is how many raft entries the embedded etcd
// applies between two snapshots (see startEmbedded).
const embeddedSnapshotEntries = 100

func startEmbedded(ctx context.Context, dataDir string, lg *zap.Logger) (*embedded, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(abs, "etcd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("controller: embedded etcd dir: %w", err)
	}
	sock := filepath.Join(dir, "client.sock")
	if len(sock) > maxUnixPath {
		return nil, fmt.Errorf("controller: embedded etcd socket path %q is longer than %d bytes; use a shorter data dir", sock, maxUnixPath)
	}
	sum := sha256.Sum256([]byte(abs))
	clientURL := url.URL{Scheme: "unix", Path: sock}
	peerName := "runnel-etcd-peer-" + hex.EncodeToString(sum[:8])
	peerURL := url.URL{Scheme: "unix", Host: peerName}

	closing := new(atomic.Bool)
	etcdLog := zap.New(&quietCore{Core: lg.Core(), closing: closing}).Named("etcd")

	cfg := embed.NewConfig()
	cfg.Name = "runnel"
	cfg.Dir = dir
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdLog)
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = nil
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.InitialClusterToken = "runnel"
	// Metadata history is only needed by watches that fell behind; keep an
	// hour of it.
	// Room for topic writes of embeddedTxnPuts puts plus their
	// compares and commit puts (chunks.go); the default is 128.
	cfg.MaxTxnOps = embeddedTxnPuts + 128
	// etcd replays its WAL from the last snapshot at every start, and by
	// default snapshots every 10,000 entries: at 100,000 partitions the
	// creation and a few restarts' re-elections (each rewrites every
	// partition key) are fewer entries than that but hundreds of MB of
	// WAL, all read back at every start (seconds before the broker can
	// even load its metadata) and held in memory. A single member needs no
	// log for followers to catch up from, so a snapshot every
	// embeddedSnapshotEntries entries bounds the replay to a few dozen MB
	// (what a snapshot costs here: a small file and a backend commit).
	cfg.SnapshotCount = embeddedSnapshotEntries
	cfg.SnapshotCatchUpEntries = embeddedSnapshotEntries
	// etcd warns about every request slower than 100 ms (300 ms end to
	// end), quoting the whole request: a restart's re-election of 100,000
	// partitions is dozens of transactions of 1,500 states that take a few
	// hundred ms each on a busy machine, and wrote some 10–40 MB of
	// warnings. A second still flags a sick disk.
	cfg.WarningApplyDuration = time.Second
	cfg.WarningUnaryRequestDuration = time.Second
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("controller: start embedded etcd: %w", err)
	}
	em := &embedded{etcd: e, endpoint: clientURL.String(), closing: closing}
	select {
	case <-e.Server.ReadyNotify():
		return em, nil
	case err := <-e.Err():
		em.close()
		return nil, fmt.Errorf("controller: embedded etcd: %w", err)
	case <-ctx.Done():
		em.close()
		return nil, fmt.Errorf("controller: embedded etcd not ready: %w", ctx.Err())
	case <-time.After(60 * time.Second):
		em.close()
		return nil, fmt.Errorf("controller: embedded etcd not ready after 60s")
	}
}

func (em *embedded) close() {
	em.closing.Store(true)
	em.etcd.Close()
	for range em.etcd.Err() { // closed once etcd is over; errors here are shutdown noise
	}
}

// quietCore passes etcd's log through at warn level and above, minus the
// chatter a clean shutdown produces ("server closed", closed listeners)
// once Close has begun, and minus two warnings that do not apply to a
// private unix-socket etcd (single port for http and grpc; simple auth
// tokens, unused since auth is off).
type quietCore struct {
	zapcore.Core
	closing *atomic.Bool
}

func (q *quietCore) Enabled(l zapcore.Level) bool {
	return l >= zapcore.WarnLevel && q.Core.Enabled(l)
}

func (q *quietCore) With(f []zapcore.Field) zapcore.Core {
	return &quietCore{Core: q.Core.With(f), closing: q.closing}
}

func (q *quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !q.Enabled(e.Level) {
		return ce
	}
	if strings.Contains(e.Message, "Running http and grpc server on single port") ||
		strings.Contains(e.Message, "simple token is not cryptographically signed") {
		return ce
	}
	if q.closing.Load() {
		return ce // everything after Close began is shutdown noise
	}
	return q.Core.Check(e, ce)
}
