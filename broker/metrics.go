package broker

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator/txn"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerMetrics is the broker's Prometheus registry and the metrics the
// broker itself keeps: Kafka's BrokerTopicMetrics per topic, and, read at
// scrape time, the ReplicaManager, controller, group coordinator and log
// gauges (docs/metrics.md maps each to its Kafka name). The network,
// controller and storage layers keep their own and are registered here.
//
// Metrics are always on. On the request path they cost an RLock'd map
// lookup by topic name per partition and atomic adds; everything else is
// computed when /metrics is scraped.
type brokerMetrics struct {
	b   *Broker
	reg *prometheus.Registry

	mu     sync.RWMutex
	topics map[string]*topicCounters

	logFlush prometheus.Histogram

	descs brokerDescs
	all   []*prometheus.Desc // every desc in descs
}

// topicCounters are one topic's BrokerTopicMetrics.
type topicCounters struct {
	bytesIn, messagesIn, bytesOut, replicationBytesOut atomic.Uint64
	produceRequests, fetchRequests                     atomic.Uint64
	failedProduce, failedFetch                         atomic.Uint64
}

type brokerDescs struct {
	bytesIn, messagesIn, bytesOut, replicationBytesOut *prometheus.Desc
	produceRequests, fetchRequests                     *prometheus.Desc
	failedProduce, failedFetch                         *prometheus.Desc

	partitions, leaders, underReplicated, underMinISR, atMinISR, offline *prometheus.Desc
	isrShrinks, isrExpands, maxLag, followerReads                        *prometheus.Desc
	controllerActive, isController                                       *prometheus.Desc

	groups, rebalances, coordinatorLoading *prometheus.Desc
	transactions, oldestTransaction        *prometheus.Desc
	committedOffset, consumerLag, lagSum   *prometheus.Desc

	logSize, logSegments, logStart, logEnd, highWatermark, replicaLag *prometheus.Desc
	logDirOffline, strays, openSegments                               *prometheus.Desc
}

func newBrokerMetrics(b *Broker) *brokerMetrics {
	var all []*prometheus.Desc
	d := func(name, help string, labels ...string) *prometheus.Desc {
		desc := prometheus.NewDesc("runnel_"+name, help, labels, nil)
		all = append(all, desc)
		return desc
	}
	m := &brokerMetrics{
		b:      b,
		reg:    prometheus.NewRegistry(),
		topics: map[string]*topicCounters{},
		logFlush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "runnel", Name: "log_flush_duration_seconds",
			Help:    "Time each partition log flush took: the fsyncs and the checkpoint (Kafka's LogFlushRateAndTimeMs).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}),
		descs: brokerDescs{
			bytesIn:             d("topic_bytes_in_total", "Record bytes appended by producers to partitions this broker leads, by topic (Kafka's BytesInPerSec).", "topic"),
			messagesIn:          d("topic_messages_in_total", "Records appended by producers to partitions this broker leads, by topic (Kafka's MessagesInPerSec).", "topic"),
			bytesOut:            d("topic_bytes_out_total", "Record bytes sent in Fetch responses, consumers and followers alike, by topic (Kafka's BytesOutPerSec).", "topic"),
			replicationBytesOut: d("topic_replication_bytes_out_total", "Record bytes sent to follower replicas, by topic (Kafka's ReplicationBytesOutPerSec).", "topic"),
			produceRequests:     d("topic_produce_requests_total", "Partitions produced to, by topic (Kafka's TotalProduceRequestsPerSec).", "topic"),
			fetchRequests:       d("topic_fetch_requests_total", "Partitions fetched from, by topic (Kafka's TotalFetchRequestsPerSec).", "topic"),
			failedProduce:       d("topic_failed_produce_requests_total", "Partitions of Produce requests answered with an error, by topic (Kafka's FailedProduceRequestsPerSec).", "topic"),
			failedFetch:         d("topic_failed_fetch_requests_total", "Partitions of Fetch requests answered with an error, by topic (Kafka's FailedFetchRequestsPerSec).", "topic"),

			partitions:       d("partitions", "Partition replicas hosted by this broker (Kafka's PartitionCount)."),
			leaders:          d("leader_partitions", "Partitions this broker leads (Kafka's LeaderCount)."),
			underReplicated:  d("under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions)."),
			underMinISR:      d("under_min_isr_partitions", "Partitions this broker leads whose ISR is below min.insync.replicas: acks=all produce fails (Kafka's UnderMinIsrPartitionCount)."),
			atMinISR:         d("at_min_isr_partitions", "Partitions this broker leads whose ISR is exactly min.insync.replicas (Kafka's AtMinIsrPartitionCount)."),
			offline:          d("offline_partitions", "Partitions with no leader, reported by the active controller only (Kafka's OfflinePartitionsCount)."),
			isrShrinks:       d("isr_shrinks_total", "ISR shrinks this broker wrote as leader (Kafka's IsrShrinksPerSec)."),
			isrExpands:       d("isr_expands_total", "ISR expansions this broker wrote as leader (Kafka's IsrExpandsPerSec)."),
			maxLag:           d("replica_max_lag", "Largest lag in records of a partition this broker follows behind its leader's high watermark (Kafka's ReplicaFetcherManager MaxLag)."),
			followerReads:    d("fetch_follower_reads_total", "Consumer fetches answered with records by a follower replica (fetch from follower, KIP-392)."),
			controllerActive: d("controller_active", "1 if this broker is the active controller (Kafka's ActiveControllerCount; the sum over the cluster must be 1)."),
			isController:     d("is_controller", "1 if this broker is the elected controller (same as runnel_controller_active; kept for older dashboards)."),

			groups:             d("groups", "Groups coordinated by this broker, by protocol (classic, consumer) and state (Kafka's NumGroups and NumGroups<State>).", "protocol", "state"),
			rebalances:         d("group_rebalances_total", "Rebalances completed by groups this broker coordinates: classic generations and KIP-848 group epochs (Kafka's group-completed-rebalance-count).", "protocol"),
			coordinatorLoading: d("group_coordinator_partitions_loading", "__consumer_offsets partitions this broker is loading as coordinator; their groups answer COORDINATOR_LOAD_IN_PROGRESS."),
			transactions:       d("transactions", "Transactional ids coordinated by this broker, by state (Ongoing, PrepareCommit, CompleteAbort…; what ListTransactions reports).", "state"),
			oldestTransaction:  d("transaction_oldest_open_seconds", "Age of the oldest Ongoing transaction this broker coordinates, 0 with none: a hanging transaction holds back read_committed consumers (the LSO)."),
			committedOffset:    d("consumer_group_committed_offset", "Committed offset of a group on a partition, on the group's coordinator (per-partition series).", "group", "topic", "partition"),
			consumerLag:        d("consumer_group_lag", "High watermark less committed offset, for group partitions whose coordinator also leads the partition (per-partition series; what Kafka needs Burrow or an exporter for).", "group", "topic", "partition"),
			lagSum:             d("consumer_group_lag_sum", "Sum of runnel_consumer_group_lag over a group's partitions known to this broker (0 for a group with commits on no partition this broker leads; per-partition series).", "group"),

			logSize:       d("log_size_bytes", "Size of a partition's log (Kafka's Log Size).", "topic", "partition"),
			logSegments:   d("log_segments", "Segments of a partition's log (Kafka's NumLogSegments).", "topic", "partition"),
			logStart:      d("log_start_offset", "A partition's log start offset (Kafka's LogStartOffset).", "topic", "partition"),
			logEnd:        d("log_end_offset", "A partition's log end offset (Kafka's LogEndOffset).", "topic", "partition"),
			highWatermark: d("partition_high_watermark", "A partition's high watermark, on its leader.", "topic", "partition"),
			replicaLag:    d("replica_lag", "On a follower, records its log end was behind the leader's high watermark at its last fetch (Kafka's replica fetcher ConsumerLag).", "topic", "partition"),
			logDirOffline: d("log_dir_offline", "1 when the log dir has failed and its partitions are offline on this broker (Kafka's OfflineLogDirectoryCount)."),
			strays:        d("log_dir_stray_partitions", "Partition directories kept in the log dir as <topic>-<partition>.<id>-stray because the metadata does not place them on this broker; each needs an operator's look."),
			openSegments:  d("log_open_segment_files", "Segment files held open by the storage's handle cache."),
		},
	}
	m.all = all
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.logFlush, m)
	for i, kind := range quotaTypes {
		// b.quotas exists once startup is over (startupPhase's atomic
		// load orders the read after New's assignment).
		labels := prometheus.Labels{"quota": string(kind)}
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "runnel", Name: "quota_throttled_total", ConstLabels: labels,
			Help: "Responses throttled for a client quota (Kafka's throttle-time sensors), by quota type.",
		}, func() float64 {
			if b.startupPhase() != "" {
				return 0
			}
			return float64(b.quotas.throttled[i].Load())
		}))
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "runnel", Name: "quota_throttle_seconds_total", ConstLabels: labels,
			Help: "Throttle time handed to clients for a client quota, by quota type.",
		}, func() float64 {
			if b.startupPhase() != "" {
				return 0
			}
			return time.Duration(b.quotas.throttleNanos[i].Load()).Seconds()
		}))
	}
	return m
}

// register adds another layer's collector (network, controller).
func (m *brokerMetrics) register(c prometheus.Collector) { m.reg.MustRegister(c) }

// observeFlush is storage.ManagerOptions.ObserveFlush.
func (m *brokerMetrics) observeFlush(d time.Duration) { m.logFlush.Observe(d.Seconds()) }

// topic returns a topic's counters, creating them on first use.
func (m *brokerMetrics) topic(name string) *topicCounters {
	m.mu.RLock()
	t := m.topics[name]
	m.mu.RUnlock()
	if t != nil {
		return t
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t = m.topics[name]; t == nil {
		t = &topicCounters{}
		m.topics[name] = t
	}
	return t
}

// instrument wraps the Produce handler with its per-topic accounting.
// (Fetch reports from inside its handler, which alone knows the bytes it
// sent: countFetch.)
func (m *brokerMetrics) instrument(hs map[int16]network.Handler) {
	h := hs[int16(kmsg.Produce)]
	next := h.Handle
	h.Handle = func(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
		resp, err := next(ctx, cc, req)
		m.countProduce(req, resp, err)
		return resp, err
	}
	hs[int16(kmsg.Produce)] = h
}

// countProduce counts a Produce request's partitions. An acks=0 request
// has no response: it succeeded unless the handler closes the connection.
func (m *brokerMetrics) countProduce(req *protocol.Request, resp network.Response, err error) {
	pr, ok := req.Body.(*kmsg.ProduceRequest)
	if !ok {
		return
	}
	pres, _ := resp.Msg.(*kmsg.ProduceResponse)
	for ti := range pr.Topics {
		rt := &pr.Topics[ti]
		name := rt.Topic
		if name == "" {
			if name = m.b.topicNameByID(rt.TopicID); name == "" {
				continue
			}
		}
		tc := m.topic(name)
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			tc.produceRequests.Add(1)
			failed := err != nil
			if pres != nil && ti < len(pres.Topics) && pi < len(pres.Topics[ti].Partitions) {
				failed = pres.Topics[ti].Partitions[pi].ErrorCode != 0
			}
			if failed {
				tc.failedProduce.Add(1)
				continue
			}
			tc.bytesIn.Add(uint64(len(rp.Records)))
			if len(rp.Records) >= storage.BatchLastOffsetDeltaAt+4 {
				tc.messagesIn.Add(uint64(binary.BigEndian.Uint32(rp.Records[storage.BatchLastOffsetDeltaAt:])) + 1)
			}
		}
	}
}

// topicNameByID resolves a topic id (Produce v13+, Fetch v13+); "" when
// no topic has it.
func (b *Broker) topicNameByID(id [16]byte) string {
	if t := b.ctrl.Snapshot().TopicsByID[controller.TopicID(id)]; t != nil {
		return t.Name
	}
	return ""
}

// countFetch counts a Fetch response about to be sent: bytes out and
// errors per topic, and the error codes for the request metrics (the
// network layer cannot read a pre-encoded frame).
func (b *Broker) countFetch(follower bool, resp *kmsg.FetchResponse, records [][][]protocol.Region) {
	m := b.metrics
	nm := b.srv.Metrics()
	nm.AddErrors(int16(kmsg.Fetch), resp.ErrorCode, 1)
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		name := t.Topic
		if name == "" {
			name = b.topicNameByID(t.TopicID)
		}
		var tc *topicCounters
		if name != "" {
			tc = m.topic(name)
		}
		for pi := range t.Partitions {
			code := t.Partitions[pi].ErrorCode
			nm.AddErrors(int16(kmsg.Fetch), code, 1)
			if tc == nil {
				continue
			}
			tc.fetchRequests.Add(1)
			if code != 0 {
				tc.failedFetch.Add(1)
			}
			if ti < len(records) && pi < len(records[ti]) {
				var n int64
				for _, rg := range records[ti][pi] {
					n += rg.Length
				}
				tc.bytesOut.Add(uint64(n))
				if follower {
					tc.replicationBytesOut.Add(uint64(n))
				}
			}
		}
	}
}

// Describe implements prometheus.Collector.
func (m *brokerMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.all {
		ch <- d
	}
}

// Collect implements prometheus.Collector: everything computed at scrape
// time.
func (m *brokerMetrics) Collect(ch chan<- prometheus.Metric) {
	b := m.b
	if b.startupPhase() != "" {
		// The broker's parts are still being built (and assigned).
		return
	}
	d := &m.descs
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}

	var snapTopics map[string]bool
	if b.ctrl != nil {
		snap := b.ctrl.Snapshot()
		snapTopics = make(map[string]bool, len(snap.Topics))
		offline := 0
		for name, t := range snap.Topics {
			snapTopics[name] = true
			for _, p := range t.Partitions {
				if p.Leader < 0 {
					offline++
				}
			}
		}
		active := 0.0
		if b.ctrl.IsController() {
			active = 1
		} else {
			offline = 0
		}
		gauge(d.controllerActive, active)
		gauge(d.isController, active)
		gauge(d.offline, float64(offline))
	}

	// Per-topic counters; a deleted topic's series go with it.
	m.mu.Lock()
	for name := range m.topics {
		if snapTopics != nil && !snapTopics[name] {
			delete(m.topics, name)
		}
	}
	for name, t := range m.topics {
		counter(d.bytesIn, t.bytesIn.Load(), name)
		counter(d.messagesIn, t.messagesIn.Load(), name)
		counter(d.bytesOut, t.bytesOut.Load(), name)
		counter(d.replicationBytesOut, t.replicationBytesOut.Load(), name)
		counter(d.produceRequests, t.produceRequests.Load(), name)
		counter(d.fetchRequests, t.fetchRequests.Load(), name)
		counter(d.failedProduce, t.failedProduce.Load(), name)
		counter(d.failedFetch, t.failedFetch.Load(), name)
	}
	m.mu.Unlock()

	perPartition := b.cfg.MetricsPartition
	hw := map[partKey]int64{} // partitions this broker leads
	if b.replicas != nil {
		var leaders, under, underMin, atMin int
		var maxLag int64
		status := b.replicas.Status()
		for _, st := range status {
			if st.Leader {
				leaders++
				if st.ISR < st.Replicas {
					under++
				}
				if int32(st.ISR) < st.MinInsync {
					underMin++
				} else if int32(st.ISR) == st.MinInsync {
					atMin++
				}
			} else {
				maxLag = max(maxLag, st.FollowerLag)
				if perPartition {
					gauge(d.replicaLag, float64(st.FollowerLag), st.Topic, itoa(st.Partition))
				}
			}
		}
		gauge(d.partitions, float64(len(status)))
		gauge(d.leaders, float64(leaders))
		gauge(d.underReplicated, float64(under))
		gauge(d.underMinISR, float64(underMin))
		gauge(d.atMinISR, float64(atMin))
		gauge(d.maxLag, float64(maxLag))
		counter(d.isrShrinks, b.replicas.ISRShrinks())
		counter(d.isrExpands, b.replicas.ISRExpands())
		for _, r := range b.replicas.All() {
			l := r.Log()
			if r.Leads() {
				hw[partKey{r.Topic(), r.Index()}] = l.HighWatermark()
			}
			if !perPartition {
				continue
			}
			part := itoa(r.Index())
			gauge(d.logSize, float64(l.Size()), r.Topic(), part)
			gauge(d.logSegments, float64(l.Segments()), r.Topic(), part)
			gauge(d.logStart, float64(l.LogStartOffset()), r.Topic(), part)
			gauge(d.logEnd, float64(l.LogEndOffset()), r.Topic(), part)
			if r.Leads() {
				gauge(d.highWatermark, float64(l.HighWatermark()), r.Topic(), part)
			}
		}
	}
	counter(d.followerReads, uint64(b.followerReads.Load()))

	if b.logs != nil {
		offline := 0.0
		if b.logs.Failed() != nil {
			offline = 1
		}
		gauge(d.logDirOffline, offline)
		gauge(d.strays, float64(b.logs.Strays()))
		gauge(d.openSegments, float64(b.logs.OpenSegments()))
	}

	if b.txns != nil {
		byState := map[string]int{}
		var oldest time.Duration
		now := time.Now()
		for _, tx := range b.txns.coord.List(txn.ListFilter{}) {
			byState[tx.State.String()]++
			if tx.State == txn.Ongoing && !tx.StartTime.IsZero() {
				oldest = max(oldest, now.Sub(tx.StartTime))
			}
		}
		// Every state has its series, 0 included, so that a dashboard's
		// query always finds them.
		for st := txn.Empty; st <= txn.PrepareEpochFence; st++ {
			if st != txn.Dead {
				gauge(d.transactions, float64(byState[st.String()]), st.String())
			}
		}
		gauge(d.oldestTransaction, oldest.Seconds())
	}

	if b.groups != nil {
		coord := b.groups.coord
		classic, consumer := coord.Rebalances()
		counter(d.rebalances, classic, "classic")
		counter(d.rebalances, consumer, "consumer")
		gauge(d.coordinatorLoading, float64(coord.Loading()))
		groups, commits := coord.Status(perPartition)
		type protoState struct{ protocol, state string }
		counts := map[protoState]int{}
		for _, g := range groups {
			counts[protoState{g.Protocol, g.State.String()}]++
		}
		for k, n := range counts {
			gauge(d.groups, float64(n), k.protocol, k.state)
		}
		lagSums := map[string]int64{}
		for _, c := range commits {
			part := itoa(c.Partition)
			gauge(d.committedOffset, float64(c.Offset), c.Group, c.Topic, part)
			lagSums[c.Group] += 0 // every group with commits has a sum
			if h, ok := hw[partKey{c.Topic, c.Partition}]; ok {
				lag := max(h-c.Offset, 0)
				gauge(d.consumerLag, float64(lag), c.Group, c.Topic, part)
				lagSums[c.Group] += lag
			}
		}
		for g, n := range lagSums {
			gauge(d.lagSum, float64(n), g)
		}
	}
}

type partKey struct {
	topic     string
	partition int32
}
