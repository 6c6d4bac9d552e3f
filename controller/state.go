package controller

import (
	"context"
	"encoding/json"
	"maps"
	"strconv"
	"time"

	"github.com/runnel/runnel/security/authz"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// state is the watch goroutine's private, mutable mirror of the keys under
// the prefix. Only the watch goroutine touches it; after each batch of
// events it derives a new immutable Snapshot, sharing the *Topic values of
// topics the batch did not touch.
type state struct {
	k             keys
	clusterID     string
	brokers       map[int32]BrokerInfo
	topics        map[string]topicEntry
	parts         map[string]map[int32]Partition
	topicConfigs  map[string]map[string]string
	brokerConfigs map[string]map[string]string
	groupConfigs  map[string]map[string]string // group id → its dynamic configs
	election      map[string]electionEntry
	scram         map[string]map[string]ScramCredential // user → mechanism
	acls          map[string]authz.Binding              // key → binding (acls.go)
	features      map[string]int16                      // finalized levels (features.go)
	featuresEpoch int64                                 // mod revision of the features key, -1 absent
	quotas        map[QuotaEntity]map[string]float64    // quotas.go

	dirtyTopics   map[string]bool
	dirtyAll      bool
	dirtyBrokers  bool
	dirtyBrConfig bool
	dirtyGrConfig bool
	dirtyScram    bool
	dirtyACLs     bool
	dirtyQuotas   bool
}

type topicEntry struct {
	rec topicRecord
	id  TopicID
}

type electionEntry struct {
	createRev int64
	id        int32
}

func newState(k keys) *state {
	return &state{
		k:             k,
		brokers:       map[int32]BrokerInfo{},
		topics:        map[string]topicEntry{},
		parts:         map[string]map[int32]Partition{},
		topicConfigs:  map[string]map[string]string{},
		brokerConfigs: map[string]map[string]string{},
		groupConfigs:  map[string]map[string]string{},
		election:      map[string]electionEntry{},
		scram:         map[string]map[string]ScramCredential{},
		acls:          map[string]authz.Binding{},
		quotas:        map[QuotaEntity]map[string]float64{},
		dirtyTopics:   map[string]bool{},
		featuresEpoch: -1,
		dirtyAll:      true,
	}
}

// apply folds one key change into the state. Values that do not parse are
// logged and treated as absent.
func (s *state) apply(lg *zap.Logger, kv *mvccpb.KeyValue, deleted bool) {
	key := string(kv.Key)
	pk := s.k.parse(key)
	bad := func(err error) {
		lg.Warn("ignoring malformed metadata value", zap.String("key", key), zap.Error(err))
	}
	switch pk.kind {
	case kindClusterID:
		// A deleted cluster id is recorded as "": the watch loop then
		// refuses the view (view_guard.go).
		s.clusterID = ""
		if !deleted {
			s.clusterID = string(kv.Value)
		}
	case kindBroker:
		s.dirtyBrokers = true
		delete(s.brokers, pk.broker)
		if !deleted {
			var b BrokerInfo
			if err := json.Unmarshal(kv.Value, &b); err != nil {
				bad(err)
				return
			}
			b.ID, b.Epoch, b.Lease = pk.broker, kv.CreateRevision, kv.Lease
			s.brokers[pk.broker] = b
		}
	case kindElection:
		delete(s.election, key)
		if !deleted {
			id, err := strconv.ParseInt(string(kv.Value), 10, 32)
			if err != nil {
				bad(err)
				return
			}
			s.election[key] = electionEntry{createRev: kv.CreateRevision, id: int32(id)}
		}
	case kindTopic:
		s.dirtyTopics[pk.topic] = true
		delete(s.topics, pk.topic)
		if !deleted {
			var r topicRecord
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				bad(err)
				return
			}
			if r.Creating {
				return // a creation claim: the topic does not exist yet
			}
			id, err := ParseTopicID(r.ID)
			if err != nil {
				bad(err)
				return
			}
			s.topics[pk.topic] = topicEntry{rec: r, id: id}
		}
	case kindPartition:
		s.dirtyTopics[pk.topic] = true
		m := s.parts[pk.topic]
		if deleted {
			delete(m, pk.partition)
			if len(m) == 0 {
				delete(s.parts, pk.topic)
			}
			return
		}
		var r partitionRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			bad(err)
			return
		}
		if m == nil {
			m = map[int32]Partition{}
			s.parts[pk.topic] = m
		}
		m[pk.partition] = r.partition(pk.partition, kv.ModRevision)
	case kindTopicConfig:
		s.dirtyTopics[pk.topic] = true
		delete(s.topicConfigs, pk.topic)
		if !deleted {
			var c map[string]string
			if err := json.Unmarshal(kv.Value, &c); err != nil {
				bad(err)
				return
			}
			s.topicConfigs[pk.topic] = c
		}
	case kindBrokerConfig:
		s.dirtyBrConfig = true
		delete(s.brokerConfigs, pk.entity)
		if !deleted {
			var c map[string]string
			if err := json.Unmarshal(kv.Value, &c); err != nil {
				bad(err)
				return
			}
			s.brokerConfigs[pk.entity] = c
		}
	case kindGroupConfig:
		s.dirtyGrConfig = true
		delete(s.groupConfigs, pk.group)
		if !deleted {
			var c map[string]string
			if err := json.Unmarshal(kv.Value, &c); err != nil {
				bad(err)
				return
			}
			if len(c) > 0 {
				s.groupConfigs[pk.group] = c
			}
		}
	case kindFeatures:
		s.features, s.featuresEpoch = nil, -1
		if !deleted {
			var r featuresRecord
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				bad(err)
				return
			}
			s.features, s.featuresEpoch = map[string]int16{}, kv.ModRevision
			for n, l := range r {
				if l > 0 {
					s.features[n] = l
				}
			}
		}
	case kindACL:
		s.dirtyACLs = true
		delete(s.acls, key)
		if !deleted {
			var r aclRecord
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				bad(err)
				return
			}
			s.acls[key] = r.binding()
		}
	case kindQuota:
		s.dirtyQuotas = true
		delete(s.quotas, pk.quota)
		if !deleted {
			var q map[string]float64
			if err := json.Unmarshal(kv.Value, &q); err != nil {
				bad(err)
				return
			}
			s.quotas[pk.quota] = q
		}
	case kindScram:
		s.dirtyScram = true
		m := s.scram[pk.user]
		delete(m, pk.mechanism)
		if !deleted {
			var c ScramCredential
			if err := json.Unmarshal(kv.Value, &c); err != nil {
				bad(err)
				return
			}
			if m == nil {
				m = map[string]ScramCredential{}
				s.scram[pk.user] = m
			}
			m[pk.mechanism] = c
		}
		if len(m) == 0 {
			delete(s.scram, pk.user)
		}
	}
}

func (s *state) buildTopic(name string) *Topic {
	te, ok := s.topics[name]
	if !ok {
		return nil
	}
	t := &Topic{Name: name, ID: te.id, Internal: te.rec.Internal, Configs: map[string]string{}}
	maps.Copy(t.Configs, s.topicConfigs[name])
	// Only partitions below the record's count exist: keys above it are
	// an extension not yet committed (or one that lost its race). The
	// write path guarantees every key below the count is present.
	pm := s.parts[name]
	n := te.rec.count()
	t.Partitions = make([]Partition, 0, n)
	for i := range n {
		if p, ok := pm[i]; ok {
			t.Partitions = append(t.Partitions, p)
		}
	}
	return t
}

// snapshot derives the next Snapshot from prev (nil for the first) and
// clears the dirty marks. changed is false when the new snapshot shows
// nothing prev did not (only its revision differs): the batch touched
// only keys no snapshot shows, such as the partition keys of a topic
// whose creation is not committed yet. The watch loop then moves the
// revision on without calling subscribers (publishProgress), so a big
// topic's chunks cost its brokers nothing until its commit.
func (s *state) snapshot(prev *Snapshot, rev int64) (_ *Snapshot, changed bool) {
	n := &Snapshot{Revision: rev, ClusterID: s.clusterID, ControllerID: -1, Features: s.snapshotFeatures()}
	var best int64
	for _, e := range s.election {
		if best == 0 || e.createRev < best {
			best, n.ControllerID = e.createRev, e.id
		}
	}
	changed = prev == nil || s.dirtyAll || s.dirtyBrokers || s.dirtyBrConfig || s.dirtyGrConfig || s.dirtyACLs ||
		s.dirtyQuotas || s.dirtyScram || n.ClusterID != prev.ClusterID || n.ControllerID != prev.ControllerID ||
		n.Features.Epoch != prev.Features.Epoch || !maps.Equal(n.Features.Levels, prev.Features.Levels)
	// Dirty topics that neither prev nor the new state shows (a claim,
	// partition keys below no committed record) change nothing.
	for name := range s.dirtyTopics {
		if _, now := s.topics[name]; now || prev == nil || prev.Topics[name] != nil {
			changed = true
			break
		}
	}
	if !changed {
		clear(s.dirtyTopics)
	}
	if prev == nil || s.dirtyAll || s.dirtyBrokers {
		n.Brokers = maps.Clone(s.brokers)
	} else {
		n.Brokers = prev.Brokers
	}
	if prev == nil || s.dirtyAll || s.dirtyBrConfig {
		n.BrokerConfigs = make(map[string]map[string]string, len(s.brokerConfigs))
		for e, c := range s.brokerConfigs {
			n.BrokerConfigs[e] = maps.Clone(c)
		}
	} else {
		n.BrokerConfigs = prev.BrokerConfigs
	}
	if prev == nil || s.dirtyAll || s.dirtyGrConfig {
		n.GroupConfigs = make(map[string]map[string]string, len(s.groupConfigs))
		for g, c := range s.groupConfigs {
			n.GroupConfigs[g] = maps.Clone(c)
		}
	} else {
		n.GroupConfigs = prev.GroupConfigs
	}
	if prev == nil || s.dirtyAll || s.dirtyACLs {
		n.ACLs = sortedACLs(s.acls)
	} else {
		n.ACLs = prev.ACLs
	}
	if prev == nil || s.dirtyAll || s.dirtyQuotas {
		n.ClientQuotas = &ClientQuotas{Entities: make(map[QuotaEntity]map[string]float64, len(s.quotas))}
		for e, q := range s.quotas {
			n.ClientQuotas.Entities[e] = maps.Clone(q)
		}
	} else {
		n.ClientQuotas = prev.ClientQuotas
	}
	if prev == nil || s.dirtyAll || s.dirtyScram {
		n.ScramCredentials = make(map[string]map[string]ScramCredential, len(s.scram))
		for u, m := range s.scram {
			n.ScramCredentials[u] = maps.Clone(m)
		}
	} else {
		n.ScramCredentials = prev.ScramCredentials
	}
	switch {
	case prev == nil || s.dirtyAll:
		n.Topics = make(map[string]*Topic, len(s.topics))
		for name := range s.topics {
			n.Topics[name] = s.buildTopic(name)
		}
	case len(s.dirtyTopics) == 0:
		n.Topics, n.TopicsByID = prev.Topics, prev.TopicsByID
	default:
		n.Topics = maps.Clone(prev.Topics)
		for name := range s.dirtyTopics {
			if t := s.buildTopic(name); t != nil {
				n.Topics[name] = t
			} else {
				delete(n.Topics, name)
			}
		}
	}
	if n.TopicsByID == nil {
		n.TopicsByID = make(map[TopicID]*Topic, len(n.Topics))
		for _, t := range n.Topics {
			n.TopicsByID[t.ID] = t
		}
	}
	clear(s.dirtyTopics)
	s.dirtyAll, s.dirtyBrokers, s.dirtyBrConfig, s.dirtyScram, s.dirtyACLs = false, false, false, false, false
	s.dirtyGrConfig = false
	s.dirtyQuotas = false
	return n, changed
}

// load reads every key under the prefix at one revision into a fresh state.
func (c *Controller) load(ctx context.Context) (*state, int64, error) {
	resp, err := c.cli.Get(ctx, c.k.root(), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	s := newState(c.k)
	for _, kv := range resp.Kvs {
		s.apply(c.log, kv, false)
	}
	return s, resp.Header.Revision, nil
}

// watchLoop keeps the snapshot current. It owns st. On compaction (the
// watch fell behind the retained history) or a broken watch it reloads
// everything and resumes.
func (c *Controller) watchLoop(st *state, rev int64) {
	defer c.wg.Done()
	for c.ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(c.ctx))
		c.mu.Lock()
		c.watchCancel = cancel
		c.mu.Unlock()
		wch := c.cli.Watch(wctx, c.k.root(), clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
		reload := false
		for resp := range wch {
			if resp.CompactRevision != 0 {
				c.log.Warn("metadata watch fell behind compaction; reloading", zap.Int64("compact_revision", resp.CompactRevision))
				reload = true
				break
			}
			if err := resp.Err(); err != nil {
				c.log.Warn("metadata watch broken; reloading", zap.Error(err))
				reload = true
				break
			}
			if resp.IsProgressNotify() {
				if err := c.checkView(st.clusterID, resp.Header.Revision, rev); err != nil {
					c.viewFailed(err)
					reload = true
					break
				}
				if resp.Header.Revision > rev {
					rev = resp.Header.Revision
					c.publishProgress(rev)
				}
				continue
			}
			for _, ev := range resp.Events {
				st.apply(c.log, ev.Kv, ev.Type == clientv3.EventTypeDelete)
			}
			if err := c.checkView(st.clusterID, resp.Header.Revision, rev); err != nil {
				// Not published: the broker keeps its last good view, and
				// the reload below accepts only a good one.
				c.viewFailed(err)
				reload = true
				break
			}
			if resp.Header.Revision > rev {
				rev = resp.Header.Revision
			}
			if n, changed := st.snapshot(c.snap.Load(), rev); changed {
				c.publish(n)
			} else {
				c.publishProgress(rev)
			}
		}
		cancel()
		if c.ctx.Err() != nil {
			return
		}
		if !reload {
			// The channel closed without a reason: the client is closing,
			// or the stream died. Retry after a pause.
			reload = true
		}
		for reload && c.ctx.Err() == nil {
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(c.reloadPause()):
			}
			lctx, lcancel := context.WithTimeout(c.ctx, 5*time.Second)
			ns, nrev, err := c.load(lctx)
			lcancel()
			if err != nil {
				c.log.Warn("metadata reload failed", zap.Error(err))
				continue
			}
			if err := c.checkView(ns.clusterID, nrev, rev); err != nil {
				c.viewFailed(err)
				continue
			}
			c.viewRecovered()
			st, rev, reload = ns, nrev, false
			n, _ := st.snapshot(c.snap.Load(), rev)
			c.publish(n)
		}
	}
}
