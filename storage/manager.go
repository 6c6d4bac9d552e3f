package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/internal/steptime"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	Dir                    string // a log dir (log.dirs entry); partition dirs are <topic>-<partition>
	MaxOpenFiles           int    // budget for open segment files across all logs (default 4096); idle segments are closed and reopened lazily
	Clock                  func() time.Time
	Logger                 *zap.Logger
	RetentionCheckInterval time.Duration // log.retention.check.interval.ms (default 5 min)
	FlushCheckInterval     time.Duration // how often flush.ms is checked (default 1 s)
	// Log cleaner (cleaner.go) for cleanup.policy=compact logs.
	CleanerDisabled         bool          // log.cleaner.enable=false
	CleanerBackoff          time.Duration // log.cleaner.backoff.ms (default 15 s): wait after a pass that found nothing
	CleanerDedupeBufferSize int64         // log.cleaner.dedupe.buffer.size (default 128 MiB)
	// Idempotent producer state (KIP-854): a producer idle for
	// ProducerIDExpiration without an ongoing transaction is forgotten;
	// the loop looks every ProducerIDExpirationCheckInterval (at most once
	// a tick, so no more often than once a second).
	ProducerIDExpiration              time.Duration // producer.id.expiration.ms (default 1 day)
	ProducerIDExpirationCheckInterval time.Duration // producer.id.expiration.check.interval.ms (default 10 min)
	// DirDeleteDelay is how long a deleted partition's <dir>.<id>-delete
	// directory is kept before it is removed (retired_dirs.go): the broker's
	// log.segment.delete.delay.ms, Kafka's default for file.delete.delay.ms,
	// which Kafka's LogManager applies to deleted logs. 0 means Kafka's
	// default of 60 s; a negative value removes at once (the key set to 0).
	DirDeleteDelay time.Duration

	// FileOps is the seam for every change to the log dir's files
	// (fileops.go); nil is the OS. Tests inject failures through it.
	FileOps FileOps

	// RecoveryThreads is num.recovery.threads.per.data.dir (default 2):
	// how many logs open (and recover) at startup and flush and close at
	// shutdown at once. fsyncs of different files overlap on any disk
	// with a queue, so a few workers divide the time.
	RecoveryThreads int

	// ObserveFlush, if set, is told how long each log flush (the fsyncs
	// and the checkpoint) took: Kafka's LogFlushRateAndTimeMs.
	ObserveFlush func(time.Duration)

	noSync bool // tests and fuzzing only: skip every fsync
}

// Manager owns every partition log of one log dir: it opens (and recovers)
// them, creates and deletes them, holds the open-file budget, and runs the
// background flush/retention/file-deletion/cleaner loop (the cleaner is in
// cleaner.go).
type Manager struct {
	opts   ManagerOptions
	fs     FileOps    // opts.FileOps or the OS
	health *dirHealth // the log dir's failure state, shared by its logs (dirfailure.go)
	cache  *handleCache
	// producerExpirationMs is the current producer.id.expiration.ms,
	// given to logs as they open (SetProducerIDExpiration changes it).
	producerExpirationMs atomic.Int64
	// codecs are the decompressors every log of this Manager shares.
	codecs decompressors

	mu     sync.Mutex
	logs   map[tp]*Log
	closed bool

	// flushMu guards flushPending: the logs holding unflushed records
	// under a finite flush.ms, the only ones checkFlush looks at (with
	// Kafka's default, flush.ms = Long.MAX, none: an idle broker of
	// 100k partitions does not visit each one every second). A log
	// enters in markUnflushed (under its mu), and leaves in checkFlush
	// under its mu too, so it cannot leave while it is due.
	flushMu      sync.Mutex
	flushPending map[*Log]struct{}

	delMu   sync.Mutex
	pending []pendingDelete
	// strays counts the <dir>.<id>-stray directories in the log dir
	// (retired_dirs.go).
	strays atomic.Int64

	stop chan struct{}
	done chan struct{}
}

type tp struct {
	topic     string
	partition int32
}

type pendingDelete struct {
	path string
	due  time.Time
	// dir marks a retired partition directory (retired_dirs.go): removed
	// whole, and left for the next start's delay when the Manager closes
	// before it is due.
	dir bool
}

// OpenManager loads and recovers every log found in opts.Dir (with the
// default Config; GetOrCreate and SetConfig apply the real one) and starts
// the background loop.
func OpenManager(opts ManagerOptions) (*Manager, error) {
	if opts.Dir == "" {
		return nil, errors.New("storage: ManagerOptions.Dir is empty")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = 5 * time.Minute
	}
	if opts.FlushCheckInterval <= 0 {
		opts.FlushCheckInterval = time.Second
	}
	if opts.CleanerBackoff <= 0 {
		opts.CleanerBackoff = DefaultCleanerBackoff
	}
	if opts.ProducerIDExpiration <= 0 {
		opts.ProducerIDExpiration = DefaultProducerIDExpiration
	}
	if opts.ProducerIDExpirationCheckInterval <= 0 {
		opts.ProducerIDExpirationCheckInterval = DefaultProducerIDExpirationCheckInterval
	}
	if opts.RecoveryThreads <= 0 {
		opts.RecoveryThreads = 2
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, cache: newHandleCache(opts.MaxOpenFiles), logs: make(map[tp]*Log), flushPending: make(map[*Log]struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
		fs: fileOpsOrOS(opts.FileOps), health: newDirHealth(opts.Dir, opts.Logger)}
	m.producerExpirationMs.Store(opts.ProducerIDExpiration.Milliseconds())
	marker := filepath.Join(opts.Dir, cleanShutdownFile)
	_, err := os.Stat(marker)
	clean := err == nil
	ents, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	var found []tp
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if m.foundRetired(name) {
			continue
		}
		topic, part, ok := parsePartitionDir(name)
		if !ok {
			continue
		}
		found = append(found, tp{topic, part})
	}
	opened := make([]*Log, len(found))
	err = inParallel(len(found), opts.RecoveryThreads, func(i int) error {
		l, err := m.openLog(found[i].topic, found[i].partition, DefaultConfig(), clean, true)
		opened[i] = l
		return err
	})
	for i, l := range opened {
		if l != nil {
			m.logs[found[i]] = l
		}
	}
	if err == nil {
		m.applyPendingEpochs() // pendingepochs.go
	}
	if err == nil && !opts.noSync {
		// What recovery rewrote (logs cut at a torn tail, rebuilt
		// indexes, checkpoints) becomes durable here, at once, before
		// anything is served.
		err = syncFS(opts.Dir)
	}
	if err != nil {
		m.closeAll()
		return nil, err
	}
	if clean {
		if err := m.fs.Remove(marker); err != nil {
			m.closeAll()
			return nil, err
		}
		if err := syncDirUnlessFS(m.fs, opts.Dir, opts.noSync); err != nil {
			m.closeAll()
			return nil, err
		}
	}
	go m.loop()
	return m, nil
}

func parsePartitionDir(name string) (string, int32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return "", 0, false
	}
	return name[:i], int32(p), true
}

func (m *Manager) openLog(topic string, part int32, cfg Config, clean, syncedByCaller bool) (*Log, error) {
	return openLog(m.logOptions(topic, part, cfg, clean, syncedByCaller))
}

// logOptions are a partition log's options. Its logger encodes the
// topic and partition fields only if the log ever logs (WithLazy): most of
// 100k logs never do, and encoding them eagerly cost ~800 bytes a log.
func (m *Manager) logOptions(topic string, part int32, cfg Config, clean, syncedByCaller bool) logOptions {
	return logOptions{
		syncedByCaller: syncedByCaller,
		listed:         syncedByCaller,
		dir:            filepath.Join(m.opts.Dir, fmt.Sprintf("%s-%d", topic, part)),
		topic:          topic,
		partition:      part,
		cfg:            cfg,
		cache:          m.cache,
		clock:          m.opts.Clock,
		logger:         m.opts.Logger.WithLazy(zap.String("topic", topic), zap.Int32("partition", part)),
		clean:          clean,
		noSync:         m.opts.noSync,
		fs:             m.fs,
		health:         m.health,
		deleter:        m.scheduleDelete,
		codecs:         &m.codecs,
		observe:        m.opts.ObserveFlush,
		markUnflushed:  m.markUnflushed,

		producerExpirationMs: m.producerExpirationMs.Load(),
	}
}

// GetOrCreate returns the partition's log, creating it if needed, and
// applies cfg to it.
func (m *Manager) GetOrCreate(topic string, partition int32, cfg Config) (*Log, error) {
	if topic == "" || strings.ContainsAny(topic, "/\\") || topic == "." || topic == ".." || partition < 0 {
		return nil, fmt.Errorf("storage: invalid partition %q/%d", topic, partition)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("storage: manager closed")
	}
	if err := m.health.failed(); err != nil {
		return nil, fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
	}
	if l := m.logs[tp{topic, partition}]; l != nil {
		l.SetConfig(cfg)
		return l, nil
	}
	l, err := m.createLog(topic, partition, cfg) // lazily (create.go)
	if err != nil {
		return nil, err
	}
	m.logs[tp{topic, partition}] = l
	return l, nil
}

// Get returns the partition's log, or nil.
func (m *Manager) Get(topic string, partition int32) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[tp{topic, partition}]
}

// All returns every log, sorted by topic and partition.
func (m *Manager) All() []*Log {
	m.mu.Lock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// scheduleDelete removes files after a delay (file.delete.delay.ms).
func (m *Manager) scheduleDelete(paths []string, delay time.Duration) {
	if delay <= 0 {
		for _, p := range paths {
			_ = m.fs.Remove(p)
		}
		return
	}
	due := m.opts.Clock().Add(delay)
	m.delMu.Lock()
	for _, p := range paths {
		m.pending = append(m.pending, pendingDelete{path: p, due: due})
	}
	m.delMu.Unlock()
}

// runDeletes removes the files and directories that are due; all (at
// Close) removes every pending segment file too, but never a retired
// directory before its time: the next start finds it and waits again.
func (m *Manager) runDeletes(all bool) {
	now := m.opts.Clock()
	m.delMu.Lock()
	var keep, do []pendingDelete
	for _, p := range m.pending {
		if !now.Before(p.due) || (all && !p.dir) {
			do = append(do, p)
		} else {
			keep = append(keep, p)
		}
	}
	m.pending = keep
	m.delMu.Unlock()
	for _, p := range do {
		if p.dir {
			m.removeRetired(p.path)
		} else {
			_ = m.fs.Remove(p.path)
		}
	}
}

func (m *Manager) loop() {
	defer close(m.done)
	tick := min(m.opts.FlushCheckInterval, m.opts.RetentionCheckInterval, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastRetention := time.Now()
	lastIdleClean := time.Now()
	lastProducerExpiry := time.Now()
	var flushBuf []*Log
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		m.runDeletes(false)
		if m.health.failed() != nil {
			// A failed dir is not written to again (dirfailure.go);
			// removing files already marked .deleted only frees space.
			continue
		}
		flushBuf = m.checkFlush(flushBuf)
		if time.Since(lastRetention) >= m.opts.RetentionCheckInterval {
			lastRetention = time.Now()
			m.RunRetention()
		}
		if time.Since(lastProducerExpiry) >= m.opts.ProducerIDExpirationCheckInterval {
			lastProducerExpiry = time.Now()
			m.ExpireProducers()
		}
		// Log cleaner: after a pass that cleaned something, go on at the
		// next tick; after one that found nothing, back off.
		if !m.opts.CleanerDisabled && time.Since(lastIdleClean) >= m.opts.CleanerBackoff {
			if m.runCleaner(m.stop) == 0 {
				lastIdleClean = time.Now()
			}
		}
	}
}

// unsorted is All without the sort, for the background checks that run
// every second or so: sorting 100k logs each time was most of an idle
// broker's CPU.
func (m *Manager) unsorted() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	logs := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		logs = append(logs, l)
	}
	return logs
}

// markUnflushed puts l among the logs checkFlush looks at. The caller
// holds l.mu.
func (m *Manager) markUnflushed(l *Log) {
	m.flushMu.Lock()
	m.flushPending[l] = struct{}{}
	m.flushMu.Unlock()
}

// checkFlush flushes the logs whose flush.ms has passed. It runs every
// second over every log, so it neither sorts nor allocates (buf is the
// loop's, reused): 100k idle partitions must cost next to no CPU.
func (m *Manager) checkFlush(buf []*Log) []*Log {
	now := m.opts.Clock()
	m.flushMu.Lock()
	buf = buf[:0]
	for l := range m.flushPending {
		buf = append(buf, l)
	}
	m.flushMu.Unlock()
	for i, l := range buf {
		buf[i] = nil
		l.mu.RLock()
		due := l.unflushed > 0 && now.Sub(l.lastFlush).Milliseconds() >= l.cfg.FlushMs
		if l.closed || l.unflushed == 0 || l.cfg.FlushMs == math.MaxInt64 {
			m.flushMu.Lock()
			delete(m.flushPending, l)
			m.flushMu.Unlock()
		}
		l.mu.RUnlock()
		if due {
			if err := l.Flush(); err != nil {
				m.opts.Logger.Error("flush failed", zap.String("dir", l.dir), zap.Error(err))
			}
		}
	}
	return buf
}

// RunRetention applies retention to every log now (the background loop
// calls it every RetentionCheckInterval). It returns the number of segments
// deleted.
func (m *Manager) RunRetention() int {
	n := 0
	now := m.opts.Clock()
	for _, l := range m.All() {
		n += l.enforceRetention(now)
	}
	return n
}

// Kafka's defaults for the producer-state expiration (KIP-854).
const (
	DefaultProducerIDExpiration              = 24 * time.Hour   // producer.id.expiration.ms
	DefaultProducerIDExpirationCheckInterval = 10 * time.Minute // producer.id.expiration.check.interval.ms
)

// ExpireProducers drops, in every log, the producers idle for
// producer.id.expiration.ms without an ongoing transaction (the background
// loop calls it every ProducerIDExpirationCheckInterval). It returns how
// many were dropped.
func (m *Manager) ExpireProducers() int {
	n := 0
	for _, l := range m.All() {
		n += l.ExpireProducers()
	}
	return n
}

// SetProducerIDExpiration changes producer.id.expiration.ms for every log,
// open or opened later (Kafka lets it change at run time).
func (m *Manager) SetProducerIDExpiration(d time.Duration) {
	if d <= 0 {
		d = DefaultProducerIDExpiration
	}
	ms := d.Milliseconds()
	if m.producerExpirationMs.Swap(ms) == ms {
		return
	}
	for _, l := range m.All() {
		l.setProducerExpiration(ms)
	}
}

// OpenSegments is how many segments currently hold an open file handle.
func (m *Manager) OpenSegments() int { return int(m.cache.open.Load()) }

// syncFS makes everything written to the log dir's file system durable
// (syncfs(2)), through the FileOps seam when it has a SyncFS (tests see
// where Close syncs).
func (m *Manager) syncFS() error {
	if m.opts.noSync {
		return nil
	}
	if s, ok := m.fs.(interface{ SyncFS(dir string) error }); ok {
		return s.SyncFS(m.opts.Dir)
	}
	return syncFS(m.opts.Dir)
}

func (m *Manager) closeAll() error {
	logs := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		logs = append(logs, l)
	}
	return inParallel(len(logs), m.opts.RecoveryThreads, func(i int) error { return logs[i].close() })
}

// inParallel runs fn(0..n-1) on up to workers goroutines, every index
// even after an error, and returns the first error by index. It returns
// when every call has.
func inParallel(n, workers int, fn func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Close stops the background loop, flushes and closes every log, removes
// files awaiting deletion and writes the clean-shutdown marker (only if
// every log closed cleanly).
//
// Invariant: the marker vouches for every log of the dir (the next open
// trusts their indexes and checkpoints and recovers nothing), so it is
// written last, and only after
//  1. every log closed without error: its batches are in its .log, its
//     active indexes written and trimmed, its producer snapshot,
//     leader-epoch file and partition checkpoint written — none of them
//     fsynced one by one (closing logs costs no fsync; idle ones write
//     nothing and open no file);
//  2. the pending-epochs file is written (pendingepochs.go);
//  3. one syncfs(2) of the log dir's file system has returned without
//     error, making all of the above durable at once;
//  4. then the partition checkpoints that move each recovery point to its
//     log end (and record the last segment as synced whole) are written,
//     and a second syncfs (only if any was) has made them durable.
//
// A crash at any instant before the marker is renamed into place leaves
// no marker: the next open recovers each log from the recovery point of
// its durable checkpoint (whose own write is atomic), cutting back to the
// last complete batch. Because step 4 follows step 3, a checkpoint never
// reaches the disk ahead of the bytes below its recovery point, even on a
// power loss (TestCrashAtAnyPointOfClose kills at every file operation).
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	// How long each step took, logged when the whole took a while (a
	// log dir of 100k partitions should say where its close went).
	steps := steptime.Start()
	step := steps.Step
	logs, materialised, checkpointed := 0, 0, 0
	defer func() {
		if took := steps.Took(); took > time.Second {
			m.opts.Logger.Info("log dir closed", append([]zap.Field{zap.String("dir", m.opts.Dir), zap.Int("logs", logs),
				zap.Int("materialised", materialised), zap.Int("checkpointed", checkpointed), zap.Duration("took", took)}, steps.Fields()...)...)
		}
	}()
	close(m.stop)
	<-m.done
	step("background")
	m.mu.Lock()
	err := m.closeAll()
	logs = len(m.logs)
	for _, l := range m.logs {
		if l.Materialised() {
			materialised++
		}
	}
	m.mu.Unlock()
	step("close_logs")
	m.codecs.close()
	m.runDeletes(true)
	step("deletes")
	if err != nil {
		return err
	}
	if ferr := m.health.failed(); ferr != nil {
		// No clean-shutdown marker: the next open recovers every log.
		return ferr
	}
	if err := m.writePendingEpochs(); err != nil {
		return err
	}
	step("pending_epochs")
	// What the logs wrote lazily (batches, indexes, snapshots, epochs)
	// becomes durable in one syncfs instead of fsyncs per partition.
	if err := m.syncFS(); err != nil {
		return err
	}
	step("syncfs")
	// Only now the checkpoints that move recovery points to the log ends
	// (Log.closeCheckpoint), then one more syncfs for them.
	// (Under mu: a topic deletion racing the shutdown removes from
	// m.logs.)
	var moved []*Log
	m.mu.Lock()
	for _, l := range m.logs {
		if l.checkpointAfterSync {
			moved = append(moved, l)
		}
	}
	m.mu.Unlock()
	checkpointed = len(moved)
	if err := inParallel(len(moved), m.opts.RecoveryThreads, func(i int) error { return moved[i].closeCheckpoint() }); err != nil {
		return err
	}
	if len(moved) > 0 {
		if err := m.syncFS(); err != nil {
			return err
		}
	}
	step("checkpoints")
	if err := writeFileAtomicFS(m.fs, filepath.Join(m.opts.Dir, cleanShutdownFile), nil, m.opts.noSync); err != nil {
		return err
	}
	step("marker")
	return nil
}
