package coordinator

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"
)

// fakeClock is a Clock whose time moves only by Advance, which runs the
// due timers in order on the caller's goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	seq     int
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	for i, o := range t.c.timers {
		if o == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return was
		}
	}
	return false
}

// Advance moves time forward by d, firing every timer that falls due
// (including timers the callbacks set, if they are due too).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.Slice(c.timers, func(i, j int) bool {
			if !c.timers[i].at.Equal(c.timers[j].at) {
				return c.timers[i].at.Before(c.timers[j].at)
			}
			return c.timers[i].seq < c.timers[j].seq
		})
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		t.stopped = true
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}

// memLog is an in-memory Log.
type memLog struct {
	mu   sync.Mutex
	recs []Record
	fail error
}

func (l *memLog) Append(_ context.Context, recs []Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	for _, r := range recs {
		l.recs = append(l.recs, Record{Key: clone(r.Key), Value: clone(r.Value)})
	}
	return nil
}

func (l *memLog) Replay(_ context.Context, fn func(key, value []byte) error) error {
	l.mu.Lock()
	recs := append([]Record(nil), l.recs...)
	l.mu.Unlock()
	for _, r := range recs {
		if err := fn(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

// env is a coordinator with a fake clock owning every partition of a
// small __consumer_offsets.
type env struct {
	t     *testing.T
	clock *fakeClock
	logs  map[int32]*memLog
	c     *Coordinator
	cfg   Config
}

func newEnv(t *testing.T, mod ...func(*Config)) *env {
	cfg := DefaultConfig()
	cfg.NumPartitions = 4
	cfg.InitialRebalanceDelay = 0
	for _, m := range mod {
		m(&cfg)
	}
	e := &env{t: t, clock: newFakeClock(), logs: map[int32]*memLog{}, cfg: cfg}
	for i := int32(0); i < cfg.NumPartitions; i++ {
		e.logs[i] = &memLog{}
	}
	e.start()
	return e
}

// start (re)creates the coordinator and loads every partition.
func (e *env) start() {
	if e.c != nil {
		e.c.Close()
	}
	e.c = New(e.cfg, Options{Clock: e.clock, Logger: zaptest.NewLogger(e.t)})
	e.t.Cleanup(e.c.Close)
	for i, l := range e.logs {
		if err := e.c.Load(context.Background(), i, l); err != nil {
			e.t.Fatal(err)
		}
	}
}

var consumerProtocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1}}}

func joinReq(group, member, instance string, version int16) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.SetVersion(version)
	r.Group = group
	r.MemberID = member
	if instance != "" {
		r.InstanceID = &instance
	}
	r.SessionTimeoutMillis = 10000
	r.RebalanceTimeoutMillis = 30000
	r.ProtocolType = "consumer"
	r.Protocols = consumerProtocols
	return r
}

// joinAsync sends a JoinGroup and returns where its answer arrives.
func (e *env) joinAsync(req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- e.c.JoinGroup(context.Background(), Client{ID: "cl", Host: "/127.0.0.1"}, req) }()
	return ch
}

func (e *env) join(req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	select {
	case r := <-e.joinAsync(req):
		return r
	case <-time.After(10 * time.Second):
		e.t.Fatal("JoinGroup did not answer")
		return nil
	}
}

// newMember joins a dynamic member through KIP-394 (two JoinGroups) and
// returns the second JoinGroup's channel.
func (e *env) newMember(group string) (string, <-chan *kmsg.JoinGroupResponse) {
	r := e.join(joinReq(group, "", "", 9))
	if r.ErrorCode != 15+64 { // MEMBER_ID_REQUIRED is 79
		e.t.Fatalf("first join: error %d", r.ErrorCode)
	}
	return r.MemberID, e.joinAsync(joinReq(group, r.MemberID, "", 9))
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
		var zero T
		return zero
	}
}

// pending reports whether ch has no answer yet (after giving a goroutine
// that would answer at once time to run).
func pending[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

func (e *env) sync(group, member string, gen int32, assign map[string][]byte) <-chan *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupRequest()
	r.SetVersion(5)
	r.Group, r.MemberID, r.Generation = group, member, gen
	for m, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: a})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- e.c.SyncGroup(context.Background(), r) }()
	return ch
}

func (e *env) heartbeat(group, member, instance string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.SetVersion(4)
	r.Group, r.MemberID, r.Generation = group, member, gen
	if instance != "" {
		r.InstanceID = &instance
	}
	return e.c.Heartbeat(context.Background(), r).ErrorCode
}

func (e *env) state(group string) State {
	g, err := e.c.lookup(group, false)
	if err != nil || g == nil {
		return Dead
	}
	defer g.mu.Unlock()
	return g.state
}

func (e *env) commit(group, member string, gen int32, version int16, topic string, part int32, off int64, md string) int16 {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.SetVersion(version)
	r.Group, r.MemberID, r.Generation = group, member, gen
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.Metadata, p.LeaderEpoch = part, off, &md, 3
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	resp := e.c.OffsetCommit(context.Background(), r, nil)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (e *env) fetch(group, topic string, parts ...int32) kmsg.OffsetFetchResponseGroup {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.SetVersion(8)
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	if topic != "" {
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: parts}}
	}
	r.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	return e.c.OffsetFetch(context.Background(), r, nil, nil).Groups[0]
}
