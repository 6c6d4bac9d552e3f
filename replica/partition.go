package replica

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Partition is this broker's copy of one topic partition: its log and the
// role the metadata gives it. The log is safe for concurrent use; the role
// fields are guarded by mu. Appends and truncations go through the methods
// of this file, which hold appendMu (doc.go, "Who may append").
type Partition struct {
	self    int32 // this broker's id
	topic   string
	index   int32
	topicID controller.TopicID
	log     *storage.Log
	lg      *zap.Logger

	mu          sync.Mutex
	leader      int32
	leaderEpoch int32
	replicas    []int32
	isr         []int32
	// appendMu orders appends with the high-watermark updates that follow
	// them, so that HW never passes a batch that another appender is still
	// writing; role changes take it too.
	appendMu sync.Mutex
	// visible is closed, and replaced, whenever new records become visible
	// to consumers (the high watermark moves) or the role changes: fetches
	// that long-poll wait on it.
	visible chan struct{}
	// followerLEO is, on the leader, the log end offset each follower last
	// fetched from (hw.go); reset when the role changes.
	followerLEO map[int32]int64
	// minInsync is the topic's effective min.insync.replicas.
	minInsync int32
	// isrTrack holds the leader's ISR bookkeeping (isr.go).
	isrTrack isrTracking
	// kick asks the manager's ISR checks to look at this partition soon
	// (a follower caught up); nil in tests without one.
	kick func()
	// followerLag is, on a follower, the leader's HW less this log's
	// end after the last fetch applied (metrics.go).
	followerLag atomic.Int64
}

// Topic is the partition's topic name.
func (p *Partition) Topic() string { return p.topic }

// Index is the partition's index in its topic.
func (p *Partition) Index() int32 { return p.index }

// TopicID is the id of the topic the partition belongs to.
func (p *Partition) TopicID() controller.TopicID { return p.topicID }

// Log is the partition's log, for reads and lookups. Writes to it go
// through the Partition's methods only.
func (p *Partition) Log() *storage.Log { return p.log }

// State returns the leader and leader epoch under the lock. A leader of -1
// is no leader (or a state fenced after a restart: setRole).
func (p *Partition) State() (leader, epoch int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leader, p.leaderEpoch
}

// Leads reports whether this broker leads the partition now.
func (p *Partition) Leads() bool {
	leader, _ := p.State()
	return leader == p.self
}

// Changed returns a channel closed at the next visible change: the HW
// moved, records arrived for followers to fetch, or the role changed.
func (p *Partition) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.visible
}

// wake closes the current change channel and installs a new one.
func (p *Partition) wake() {
	p.mu.Lock()
	close(p.visible)
	p.visible = make(chan struct{})
	p.mu.Unlock()
}

// LeaderAppend says how AppendAsLeader treats one append.
type LeaderAppend struct {
	// CheckMinISR refuses the append with NOT_ENOUGH_REPLICAS while the
	// ISR is smaller than min.insync.replicas (acks=all).
	CheckMinISR bool
	// AllowControl admits control batches: transaction markers, which
	// only the coordinator writes.
	AllowControl bool
}

// AppendAsLeader is the one leader append path. Under appendMu it checks
// that this broker still leads the partition (else NOT_LEADER_OR_FOLLOWER),
// appends records with offsets assigned and the current leader epoch
// stamped, and advances the HW. The HWWait is what an acks=all caller
// waits on (AwaitHW); it names the offset the HW must reach. Errors are the
// log's (*kerr.Error values, storage.RecordErrors).
func (p *Partition) AppendAsLeader(records []byte, o LeaderAppend) (storage.AppendResult, HWWait, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	leader, epoch := p.State()
	if leader != p.self {
		return storage.AppendResult{}, HWWait{}, kerr.NotLeaderForPartition
	}
	if o.CheckMinISR {
		if isr, minISR := p.isrState(); int32(isr) < minISR {
			return storage.AppendResult{}, HWWait{}, fmt.Errorf("%w: ISR has %d replicas, min.insync.replicas is %d", kerr.NotEnoughReplicas, isr, minISR)
		}
	}
	res, err := p.log.Append(records, storage.AppendOptions{AssignOffsets: true, LeaderEpoch: epoch, AllowControl: o.AllowControl})
	if err != nil {
		return storage.AppendResult{}, HWWait{}, err
	}
	p.advanceHWLocked()
	return res, HWWait{P: p, Need: res.LastOffset + 1}, nil
}

// errNotFollowing means a follower append or truncation was refused: the
// partition no longer follows the leader and epoch the data came from.
var errNotFollowing = errors.New("replica: no longer following that leader and epoch")

// FollowerAppend is one fetched partition a follower applies.
type FollowerAppend struct {
	// Leader and LeaderEpoch are the role the data was fetched under.
	Leader, LeaderEpoch int32
	// LogEnd is the log end the fetch started from: data fetched for
	// another log end (a truncation came between) is dropped.
	LogEnd int64
	// Batches are whole RecordBatches, appended with their offsets.
	Batches []byte
	// LeaderHW and LeaderLogStart are the leader's, from the response.
	LeaderHW, LeaderLogStart int64
}

// AppendAsFollower appends replicated batches unchanged (the log records
// each new batch epoch in its epoch cache), then takes the leader's HW
// capped at its own log end and follows the leader's log start. Under
// appendMu it first checks that the partition still follows fa's leader
// in fa's epoch, that current() (the caller's own fetch state) holds and
// that the log end is still fa.LogEnd; otherwise nothing happens and it
// reports false. An error is the log's append error.
func (p *Partition) AppendAsFollower(fa FollowerAppend, current func() bool) (bool, error) {
	p.appendMu.Lock()
	if !p.follows(fa.Leader, fa.LeaderEpoch, current) || p.log.LogEndOffset() != fa.LogEnd {
		p.appendMu.Unlock()
		return false, nil
	}
	if len(fa.Batches) > 0 {
		if _, err := p.log.Append(fa.Batches, storage.AppendOptions{AssignOffsets: false}); err != nil {
			p.appendMu.Unlock()
			return false, err
		}
	}
	if fa.LeaderLogStart > p.log.LogStartOffset() && fa.LeaderLogStart <= p.log.LogEndOffset() {
		if _, err := p.log.AdvanceLogStart(fa.LeaderLogStart); err != nil {
			p.lg.Warn("advancing follower log start", zap.String("topic", p.topic), zap.Int32("partition", p.index), zap.Error(err))
		}
	}
	p.followerLag.Store(max(fa.LeaderHW-p.log.LogEndOffset(), 0))
	moved := false
	if hw := min(fa.LeaderHW, p.log.LogEndOffset()); hw > p.log.HighWatermark() {
		p.log.SetHighWatermark(hw)
		moved = true
	}
	p.appendMu.Unlock()
	if moved || len(fa.Batches) > 0 {
		p.wake()
	}
	return true, nil
}

// TruncateAsFollower truncates the log to end (-1: empty it, so that it
// restarts at the leader's log start), if end is at or below the log end,
// while the partition follows leader in epoch and current() holds. It
// returns the log end found before truncating; errNotFollowing when
// refused.
//
// Invariant: after a truncation to end, the log's leader-epoch cache holds
// no epoch starting at or after end, even when end is the log end and no
// record goes (storage.Log.Truncate). The epoch a replica stamps at its log
// end when it becomes leader holds no batch until it writes; if it wrote
// nothing before another replica took over, the new leader never had that
// epoch. Kept, it would stay the follower's last fetched epoch: every
// Fetch would answer a diverging epoch, every truncation would remove
// nothing, and the follower would loop between the two without ever
// catching up or rejoining the ISR.
func (p *Partition) TruncateAsFollower(leader, epoch int32, end int64, current func() bool) (from int64, err error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !p.follows(leader, epoch, current) {
		return -1, errNotFollowing
	}
	from = p.log.LogEndOffset()
	if end <= from {
		if err := p.log.Truncate(end); err != nil {
			return from, err
		}
	}
	return from, nil
}

// follows reports, with appendMu held, whether p follows leader in epoch
// and current (the caller's own condition; nil: none) holds.
func (p *Partition) follows(leader, epoch int32, current func() bool) bool {
	l, e := p.State()
	return l == leader && e == epoch && leader != p.self && (current == nil || current())
}

// ReadOptions are one partition of a Fetch.
type ReadOptions struct {
	// ReplicaID >= 0 is a follower's fetch: it reads to the log end, and
	// on the leader its fetch offset is recorded as its log end (hw.go).
	// -1 is a consumer's: it reads to the HW (or the LSO).
	ReplicaID   int32
	FetchOffset int64
	// LastFetchedEpoch >= 0 asks for the divergence check (Fetch v12+,
	// KIP-595); -1 skips it.
	LastFetchedEpoch int32
	// ReadCommitted bounds a consumer's read at the last stable offset and
	// lists the aborted transactions in what is returned.
	ReadCommitted bool
	MaxBytes      int32
	// MinOneBatch returns at least one whole batch past MaxBytes (KIP-74).
	MinOneBatch bool
}

// ReadInfo is what a Fetch answers about a partition besides its records.
type ReadInfo struct {
	HighWatermark, LastStableOffset, LogStartOffset int64
	// Diverging: the fetcher's last fetched epoch is not the leader's up
	// to its fetch offset; it must truncate to DivergingEndOffset of
	// DivergingEpoch. No records are read then.
	Diverging          bool
	DivergingEpoch     int32
	DivergingEndOffset int64
	// Aborted lists, for a read_committed read that returned records, the
	// aborted transactions overlapping it.
	Aborted []storage.AbortedTxn
}

// Read reads one partition of a Fetch: whole batches from the batch
// holding o.FetchOffset, bounded by the log end (followers), the HW
// (consumers) or the LSO (read_committed). The caller checks the role and
// the client's leader epoch first, sends the regions and releases them.
func (p *Partition) Read(o ReadOptions) (ReadInfo, *storage.ReadResult, error) {
	l := p.log
	follower := o.ReplicaID >= 0
	if follower {
		p.recordFollowerFetch(o.ReplicaID, o.FetchOffset)
	}
	info := ReadInfo{HighWatermark: l.HighWatermark(), LastStableOffset: l.LastStableOffset(), LogStartOffset: l.LogStartOffset()}
	if o.LastFetchedEpoch >= 0 {
		epoch, end := l.EndOffsetForEpoch(o.LastFetchedEpoch)
		if epoch < o.LastFetchedEpoch || end < o.FetchOffset {
			info.Diverging, info.DivergingEpoch, info.DivergingEndOffset = true, epoch, end
			return info, nil, nil
		}
	}
	bound := info.HighWatermark
	committed := !follower && o.ReadCommitted
	switch {
	case follower:
		bound = l.LogEndOffset()
	case committed:
		bound = info.LastStableOffset
	}
	rr, err := l.Read(o.FetchOffset, bound, o.MaxBytes, o.MinOneBatch)
	if err != nil {
		return info, nil, err
	}
	if committed && rr.Size > 0 {
		info.Aborted = l.AbortedTransactions(o.FetchOffset, bound)
	}
	return info, rr, nil
}

// setRole records the partition state from the metadata. A leader that
// starts a new epoch stamps it into the leader-epoch cache at its log end,
// as Kafka's Partition.makeLeader does. The change happens under appendMu,
// so that no replica-fetcher append (which checks the role under the same
// lock) can land in a log that has just become the leader's.
//
// own is this broker's current broker epoch (-1: not checked). A state
// that names this broker leader under another broker epoch was written
// for a previous process of this broker (it restarted before the
// controller reacted) or before the broker epoch was recorded: the
// replica then neither leads nor follows (produce and fetch are answered
// NOT_LEADER_OR_FOLLOWER) until the controller writes the leadership
// again, in a new leader epoch.
//
// It reports whether the state was newly fenced, for the Manager's one
// log line per snapshot (a restarted broker has thousands), and whether
// the role (leader or leader epoch) changed, for the fetchers.
func (p *Partition) setRole(st controller.Partition, own int64) (newlyFenced, changed bool) {
	leader := st.Leader
	fenced := leader == p.self && own >= 0 && (own == 0 || st.LeaderBrokerEpoch != own)
	if fenced {
		leader = -1
	}
	p.appendMu.Lock()
	p.mu.Lock()
	changed = p.leader != leader || p.leaderEpoch != st.LeaderEpoch
	p.leader, p.leaderEpoch = leader, st.LeaderEpoch
	p.replicas, p.isr = st.Replicas, st.ISR
	if changed {
		p.followerLEO = nil
	}
	p.isrTrack.update(changed && leader == p.self, st, p.log.LogEndOffset())
	p.mu.Unlock()
	if changed && leader == p.self && st.LeaderEpoch > p.log.LatestEpoch() {
		if err := p.log.AssignEpoch(st.LeaderEpoch, p.log.LogEndOffset()); err != nil {
			p.lg.Warn("recording leader epoch", zap.String("topic", p.topic), zap.Int32("partition", p.index), zap.Error(err))
		}
	}
	p.appendMu.Unlock()
	if changed && fenced {
		newlyFenced = true
		p.lg.Debug("partition state names this broker leader for another broker epoch; not leading until the controller elects a leader again",
			zap.String("topic", p.topic), zap.Int32("partition", p.index), zap.Int32("leader_epoch", st.LeaderEpoch),
			zap.Int64("leader_broker_epoch", st.LeaderBrokerEpoch), zap.Int64("broker_epoch", own))
	}
	if leader == p.self {
		// The ISR or the role changed: the leader's HW may move (a
		// single-replica ISR exposes its whole log at once).
		p.AdvanceHW()
	}
	if changed {
		p.wake()
	}
	return newlyFenced, changed
}

// AdvanceLogStart moves the log start up to offset on the leader
// (DeleteRecords) and wakes the partition's waiters, so that fetch
// sessions report the new log start. It returns the new log start.
func (p *Partition) AdvanceLogStart(offset int64) (int64, error) {
	low, err := p.log.AdvanceLogStart(offset)
	if err != nil {
		return low, err
	}
	p.wake()
	return low, nil
}
