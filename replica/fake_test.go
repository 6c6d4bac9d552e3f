package replica

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"go.uber.org/zap/zaptest"
)

// fakeMetadata is an in-memory Metadata: a snapshot that the test edits
// (setPartition) and that UpdatePartition changes by compare-and-swap on a
// partition's ModRevision, as the controller does against etcd. Every
// change publishes a new snapshot to the subscribers, in order, before the
// call returns; WaitRevision is then always satisfied at once.
type fakeMetadata struct {
	own int64 // this broker's epoch (OwnEpoch)

	mu      sync.Mutex
	snap    *controller.Snapshot
	subs    map[int]func(*controller.Snapshot)
	nextSub int
	updates int // successful UpdatePartition calls
	// deliverMu orders the deliveries of successive snapshots.
	deliverMu sync.Mutex
}

func newFakeMetadata(brokers ...int32) *fakeMetadata {
	f := &fakeMetadata{own: 7, subs: map[int]func(*controller.Snapshot){}}
	s := &controller.Snapshot{
		Revision:      1,
		ControllerID:  -1,
		Brokers:       map[int32]controller.BrokerInfo{},
		Topics:        map[string]*controller.Topic{},
		TopicsByID:    map[controller.TopicID]*controller.Topic{},
		BrokerConfigs: map[string]map[string]string{},
	}
	for _, id := range brokers {
		s.Brokers[id] = controller.BrokerInfo{ID: id, Epoch: 7, Endpoints: []controller.Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 1}}}
	}
	f.snap = s
	return f
}

func (f *fakeMetadata) Snapshot() *controller.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeMetadata) WaitRevision(ctx context.Context, rev int64) error {
	if f.Snapshot().Revision >= rev {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeMetadata) Subscribe(fn func(*controller.Snapshot)) (cancel func()) {
	f.mu.Lock()
	id := f.nextSub
	f.nextSub++
	f.subs[id] = fn
	s := f.snap
	f.mu.Unlock()
	fn(s)
	return func() {
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
	}
}

func (f *fakeMetadata) OwnEpoch(*controller.Snapshot) int64 { return f.own }

func (f *fakeMetadata) UpdatePartition(_ context.Context, topic string, p controller.Partition) (int64, error) {
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.Lock()
	t := f.snap.Topics[topic]
	if t == nil || t.Partition(p.Index) == nil || t.Partition(p.Index).ModRevision != p.ModRevision {
		f.mu.Unlock()
		return 0, controller.ErrStalePartition
	}
	p.PartitionEpoch++
	f.updates++
	s := f.replaceLocked(topic, p)
	f.mu.Unlock()
	f.deliver(s)
	return s.Revision, nil
}

func (f *fakeMetadata) UpdatePartitions(ctx context.Context, updates []controller.PartitionUpdate) (written []controller.PartitionUpdate, failed int, rev int64) {
	for _, u := range updates {
		r, err := f.UpdatePartition(ctx, u.Topic, u.State)
		if err != nil {
			failed++
			continue
		}
		u.State.PartitionEpoch++
		written = append(written, u)
		rev = max(rev, r)
	}
	return written, failed, rev
}

// setPartition writes a partition state (creating the topic) as the
// controller would, and publishes it.
func (f *fakeMetadata) setPartition(topic string, p controller.Partition, configs map[string]string) {
	f.deliverMu.Lock()
	defer f.deliverMu.Unlock()
	f.mu.Lock()
	if t := f.snap.Topics[topic]; t == nil || configs != nil {
		n := *f.snap
		n.Topics, n.TopicsByID = maps.Clone(f.snap.Topics), maps.Clone(f.snap.TopicsByID)
		nt := &controller.Topic{Name: topic, ID: controller.TopicID{1, byte(len(n.Topics))}, Configs: map[string]string{}}
		if t != nil {
			c := *t
			nt = &c
		}
		if configs != nil {
			nt.Configs = configs
		}
		n.Topics[topic], n.TopicsByID[nt.ID] = nt, nt
		f.snap = &n
	}
	s := f.replaceLocked(topic, p)
	f.mu.Unlock()
	f.deliver(s)
}

// replaceLocked publishes a snapshot at the next revision with p replacing
// (or appended as) its partition of topic.
func (f *fakeMetadata) replaceLocked(topic string, p controller.Partition) *controller.Snapshot {
	n := *f.snap
	n.Revision++
	n.Topics, n.TopicsByID = maps.Clone(f.snap.Topics), maps.Clone(f.snap.TopicsByID)
	nt := *f.snap.Topics[topic]
	nt.Partitions = slices.Clone(nt.Partitions)
	p.ModRevision = n.Revision
	if old := nt.Partition(p.Index); old != nil {
		*old = p
	} else {
		nt.Partitions = append(nt.Partitions, p)
	}
	n.Topics[topic], n.TopicsByID[nt.ID] = &nt, &nt
	f.snap = &n
	return &n
}

func (f *fakeMetadata) deliver(s *controller.Snapshot) {
	f.mu.Lock()
	fns := make([]func(*controller.Snapshot), 0, len(f.subs))
	for _, fn := range f.subs {
		fns = append(fns, fn)
	}
	f.mu.Unlock()
	for _, fn := range fns {
		fn(s)
	}
}

// partition is the current state of topic/idx.
func (f *fakeMetadata) partition(topic string, idx int32) controller.Partition {
	return *f.Snapshot().Topics[topic].Partition(idx)
}

// testManager is a started Manager of broker id on a fresh log dir with
// the broker config overrides, over md.
func testManager(t *testing.T, id int32, md *fakeMetadata, overrides ...string) *Manager {
	t.Helper()
	cfg, _, err := config.Load("", nil, append([]string{"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + t.TempDir()}, overrides...))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := storage.OpenManager(storage.ManagerOptions{Dir: cfg.LogDirs[0]})
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(Options{ID: id, Config: cfg, Logs: logs, Metadata: md, Logger: zaptest.NewLogger(t)})
	m.Start()
	t.Cleanup(func() {
		m.Close()
		logs.Close()
	})
	return m
}
