package sharepart

import (
	"context"
	"errors"
	"sync"
)

// Key names a share-partition.
type Key struct {
	Group     string
	TopicID   [16]byte
	Partition int32
}

// Store keeps share-partition snapshots durably (the broker's
// __share_group_state topic). Read returns found=false for a
// share-partition with no state, and the state epoch, which an admin
// change (AlterShareGroupOffsets, DeleteShareGroupOffsets) bumps. Write
// carries the leader epoch and the state epoch the writer loaded at; the
// store refuses a write from an older leader epoch or another state epoch
// (ErrFenced), so a deposed leader or a leader that missed an admin change
// cannot overwrite newer state.
type Store interface {
	Read(ctx context.Context, k Key) (snapshot []byte, stateEpoch int32, found bool, err error)
	Write(ctx context.Context, k Key, leaderEpoch, stateEpoch int32, snapshot []byte) error
}

// ErrFenced is a Store's refusal of a stale writer; the share-partition is
// reloaded at its next use.
var ErrFenced = errors.New("sharepart: state write fenced")

// Manager holds the share-partitions this broker leads. Each is loaded on
// first use (from the Store, else by the caller's init) and reloaded when
// the partition's leader epoch changes, since another leader may have moved
// it on meanwhile. Access to one share-partition is serialized; changes
// are written to the Store by one flusher per share-partition, which
// batches the changes of concurrent requests into one write (group
// commit). Safe for concurrent use.
type Manager struct {
	store Store
	// ctx bounds the flushers' writes; Close cancels it and waits for
	// them.
	ctx     context.Context
	cancel  context.CancelFunc
	flushWG sync.WaitGroup

	mu      sync.Mutex
	entries map[Key]*entry
}

type entry struct {
	mu          sync.Mutex
	p           *Partition
	leaderEpoch int32
	stateEpoch  int32

	// Group commit: seq counts changes, written the changes the Store
	// holds; flushing says a flusher runs. Guarded by mu; done is
	// broadcast (with mu) after each write.
	seq, written uint64
	flushing     bool
	flushErr     error
	done         *sync.Cond
}

// NewManager returns a manager persisting to store (nil: nothing is
// durable).
func NewManager(store Store) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{store: store, ctx: ctx, cancel: cancel, entries: make(map[Key]*entry)}
}

// Close stops the flushers; a write in progress fails.
func (m *Manager) Close() {
	m.cancel()
	m.flushWG.Wait()
}

func (m *Manager) entry(k Key) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[k]
	if e == nil {
		e = &entry{}
		e.done = sync.NewCond(&e.mu)
		m.entries[k] = e
	}
	return e
}

// Init decides the start of a share-partition with no durable state
// (share.auto.offset.reset).
type Init func() (start int64, err error)

// Do runs fn on the share-partition k as led at leaderEpoch, loading it
// first if needed, and returns once fn's changes are durable. fn runs
// with the share-partition locked.
func (m *Manager) Do(ctx context.Context, k Key, leaderEpoch int32, maxInFlight int64, init Init, fn func(p *Partition) error) error {
	e := m.entry(k)
	e.mu.Lock()
	if e.p == nil || e.leaderEpoch != leaderEpoch {
		// Wait out a flusher of the previous epoch before reloading.
		for e.flushing {
			e.done.Wait()
		}
		p, stateEpoch, err := m.load(ctx, k, maxInFlight, init)
		if err != nil {
			e.mu.Unlock()
			return err
		}
		e.p, e.leaderEpoch, e.stateEpoch = p, leaderEpoch, stateEpoch
		e.seq, e.written, e.flushErr = 0, 0, nil
		if p.Dirty() {
			e.seq++
		}
	}
	err := fn(e.p)
	if e.p.Dirty() {
		e.seq++
	}
	if err != nil || m.store == nil {
		e.mu.Unlock()
		return err
	}
	want := e.seq
	for e.written < want {
		if !e.flushing {
			e.flushing = true
			m.flushWG.Add(1)
			go m.flush(k, e)
		}
		e.done.Wait()
		if e.flushErr != nil && e.written < want {
			ferr := e.flushErr
			e.flushErr = nil
			e.p = nil // reload from the store next time
			e.mu.Unlock()
			return ferr
		}
	}
	e.mu.Unlock()
	return nil
}

// flush writes the share-partition's snapshot until it is current.
func (m *Manager) flush(k Key, e *entry) {
	defer m.flushWG.Done()
	e.mu.Lock()
	defer func() {
		e.flushing = false
		e.done.Broadcast()
		e.mu.Unlock()
	}()
	for e.p != nil && e.written < e.seq {
		target := e.seq
		snap := e.p.Snapshot()
		leaderEpoch, stateEpoch := e.leaderEpoch, e.stateEpoch
		e.mu.Unlock()
		err := m.store.Write(m.ctx, k, leaderEpoch, stateEpoch, snap)
		e.mu.Lock()
		if err != nil {
			e.flushErr = err
			return
		}
		e.written = target
		e.done.Broadcast()
	}
}

func (m *Manager) load(ctx context.Context, k Key, maxInFlight int64, init Init) (*Partition, int32, error) {
	var stateEpoch int32
	if m.store != nil {
		b, se, found, err := m.store.Read(ctx, k)
		if err != nil {
			return nil, 0, err
		}
		stateEpoch = se
		if found {
			p, err := Restore(b, maxInFlight)
			if err != nil {
				return nil, 0, err
			}
			if p.StartOffset() == UninitializedStart {
				// Deleted or reset without an offset: start as if new.
				start, err := init()
				if err != nil {
					return nil, 0, err
				}
				p = NewPartition(start)
			}
			return p, stateEpoch, nil
		}
	}
	start, err := init()
	if err != nil {
		return nil, 0, err
	}
	return NewPartition(start), stateEpoch, nil
}

// Peek runs fn on share-partition k if it is loaded, without loading it
// or writing anything.
func (m *Manager) Peek(k Key, fn func(p *Partition)) bool {
	m.mu.Lock()
	e := m.entries[k]
	m.mu.Unlock()
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.p == nil {
		return false
	}
	fn(e.p)
	return true
}

// Forget drops a loaded share-partition (its group's state was deleted or
// reset elsewhere); the next use reloads it.
func (m *Manager) Forget(k Key) {
	m.mu.Lock()
	e := m.entries[k]
	m.mu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	for e.flushing {
		e.done.Wait()
	}
	e.p = nil
	e.mu.Unlock()
}

// Keys lists the loaded share-partitions of group ("" for all).
func (m *Manager) Keys(group string) []Key {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Key
	for k := range m.entries {
		if group == "" || k.Group == group {
			out = append(out, k)
		}
	}
	return out
}
