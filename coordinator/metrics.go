package coordinator

import "sync/atomic"

// stats are the coordinator's event counters (metrics).
type stats struct {
	// rebalances by group kind: a classic group's generation or a
	// KIP-848 group's epoch moving on.
	rebalances [2]atomic.Uint64
}

// Rebalances is the number of rebalances completed by groups this
// coordinator served: classic groups' new generations and KIP-848 groups'
// new group epochs (Kafka's group-completed-rebalance-count and
// consumer-group-rebalance-count).
func (c *Coordinator) Rebalances() (classic, consumer uint64) {
	return c.stats.rebalances[classicKind].Load(), c.stats.rebalances[consumerKind].Load()
}

// GroupStatus is one group as the metrics see it.
type GroupStatus struct {
	ID string
	// Protocol is "classic" or "consumer" (KIP-848); ProtocolType is the
	// classic group's protocol type ("consumer", "connect"…).
	Protocol, ProtocolType string
	State                  State
	Members                int
}

// CommittedOffset is one committed offset of a group.
type CommittedOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
}

// Status returns every group of the loaded partitions and, when offsets
// is set, their committed offsets.
func (c *Coordinator) Status(offsets bool) ([]GroupStatus, []CommittedOffset) {
	parts := c.partitions()
	var groups []GroupStatus
	var commits []CommittedOffset
	for _, p := range parts {
		p.mu.Lock()
		gs := make([]*group, 0, len(p.groups))
		for _, g := range p.groups {
			gs = append(gs, g)
		}
		p.mu.Unlock()
		for _, g := range gs {
			g.mu.Lock()
			st := GroupStatus{ID: g.id, Protocol: g.kind.String(), ProtocolType: g.protocolType, State: g.state, Members: len(g.members)}
			if g.cg != nil {
				st.Members = len(g.cg.members)
				st.ProtocolType = "consumer"
			}
			if offsets {
				for topic, ps := range g.offsets {
					for part, e := range ps {
						commits = append(commits, CommittedOffset{Group: g.id, Topic: topic, Partition: part, Offset: e.offset})
					}
				}
			}
			g.mu.Unlock()
			if st.State == Dead {
				continue
			}
			groups = append(groups, st)
		}
	}
	return groups, commits
}

// Loading is the number of __consumer_offsets partitions this coordinator
// is still loading.
func (c *Coordinator) Loading() int {
	n := 0
	for _, p := range c.partitions() {
		p.mu.Lock()
		if p.loading {
			n++
		}
		p.mu.Unlock()
	}
	return n
}

// partitions returns the loaded partitions; their locks are taken only
// after c.mu is released.
func (c *Coordinator) partitions() []*partition {
	c.mu.RLock()
	defer c.mu.RUnlock()
	parts := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		parts = append(parts, p)
	}
	return parts
}
