package integration

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/kafkaproxy"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Recorded conformance: real clients (franz-go, librdkafka through
// confluent-kafka-python, Apache Kafka's Java client) run the same
// scenario once against Kafka and once against Runnel, each through a
// recording proxy (internal/kafkaproxy), and the two recorded streams are
// compared with the corpus's normaliser, comparator and allowlist
// (conformance_test.go).
//
// A client's stream depends on timing (how often it heartbeats, polls an
// empty partition or refreshes metadata; how it batches records), so the
// streams are compared in a form timing does not change:
//   - Produce and Fetch become one item per record and partition: what the
//     client sent (key, value, headers, producer epoch, sequence) and what
//     the broker answered for it (error, offset, high watermark…). Fetches
//     that carry no record and no error (long polls) are dropped, and a
//     record fetched twice counts once. ListOffsets is one item per
//     partition (librdkafka asks for one partition per request).
//   - Every other request is one item per exchange, in order per API, with
//     repeats of the same request and answer collapsed into one. Requests
//     a client sends on its own schedule (Metadata, FindCoordinator,
//     Heartbeat, LeaveGroup) are compared as sets (pollStreams).
//   - Answers with a retriable error (a coordinator still loading, a
//     rebalance in progress) are dropped: when a broker is ready is its own.
//   - ApiVersions is left out: the corpus compares it; here the proxies cap
//     both brokers' advertised versions at the versions both serve, so
//     that each client speaks the same versions to both.
//
// Items of one stream (an API, or a partition's records) are paired in
// order and compared field by field, requests too (a client that sends
// something else was answered something else earlier). A stream's step in
// the allowlist is "Recorded-<scenario>/<stream>[<n>]@v<version>", and a
// count that differs is the path "<count>".
//
// The scenarios run inside TestDifferentialConformance on its Kafka and
// Runnel (one JVM start), before its destructive last scenario; each names
// its own topics and groups. `make test` runs the franz-go and librdkafka
// scenarios (a few seconds); `make conformance` (RUNNEL_CONFORMANCE_FULL=1)
// adds the Java client's (a JVM per client run). RUNNEL_RECORDED_DUMP=1
// logs every recorded exchange.

// recScenario is one client scenario.
type recScenario struct {
	name   string
	full   bool             // only under RUNNEL_CONFORMANCE_FULL
	topics map[string]int32 // created on both brokers first: name → partitions
	run    func(t *testing.T, bootstrap string)
}

func recordedScenarios() []recScenario {
	return []recScenario{
		{name: "franz-go", topics: map[string]int32{"rec-franz": 3},
			run: func(t *testing.T, bootstrap string) { recFranzGroup(t, bootstrap, "rec-franz", "rec-franz-g", 12) }},
		{name: "librdkafka", topics: map[string]int32{"rec-rdk": 3},
			run: func(t *testing.T, bootstrap string) {
				recConfluent(t, bootstrap, "rec-rdk", "rec-rdk-g", 12, "classic")
			}},
		{name: "librdkafka-kip848", topics: map[string]int32{"rec-rdk848": 3},
			run: func(t *testing.T, bootstrap string) {
				recConfluent(t, bootstrap, "rec-rdk848", "rec-rdk848-g", 12, "consumer")
			}},
		{name: "franz-go-txn", topics: map[string]int32{"rec-franz-txn": 2},
			run: func(t *testing.T, bootstrap string) {
				recFranzTxn(t, bootstrap, "rec-franz-txn", "rec-franz-txn-id", 6)
			}},
		{name: "librdkafka-txn", full: true, topics: map[string]int32{"rec-rdktxn-in": 1, "rec-rdktxn-out": 1},
			run: func(t *testing.T, bootstrap string) {
				// Debian's librdkafka 2.0.2 (an older client than the venv's):
				// commit, abort, offsets in a transaction, and fencing. One
				// partition each: its keyless records go to a random one.
				recFranzProduce(t, bootstrap, "rec-rdktxn-in", 5)
				python(t, "confluent_txn.py", bootstrap, "rec-rdktxn-in", "rec-rdktxn-out", "rec-rdktxn-g")
			}},
		{name: "java", full: true, topics: map[string]int32{"rec-java": 3},
			run: func(t *testing.T, bootstrap string) {
				recJavaGroup(t, bootstrap, "rec-java", "rec-java-g", 12, "classic", "none,gzip,snappy,lz4,zstd")
			}},
		{name: "java-kip848", full: true, topics: map[string]int32{"rec-java848": 3},
			run: func(t *testing.T, bootstrap string) {
				recJavaGroup(t, bootstrap, "rec-java848", "rec-java848-g", 12, "consumer", "none")
			}},
		{name: "java-txn-copy", full: true, topics: map[string]int32{"rec-java-in": 2, "rec-java-out": 2},
			run: func(t *testing.T, bootstrap string) {
				recJavaGroup(t, bootstrap, "rec-java-in", "", 8, "", "none")
				javaDriver(t, 2*time.Minute, "txn-copy", "--bootstrap", bootstrap, "--from", "rec-java-in", "--to", "rec-java-out",
					"--group", "rec-java-copy-g", "--txn-id", "rec-java-copy", "--expect", "8", "--abort-first")
			}},
	}
}

// recordedConformance runs every recorded scenario against both brokers
// and compares the streams.
func recordedConformance(t *testing.T, brokers []confBroker, allow []*allowEntry, full bool) {
	t.Helper()
	// The versions both serve, for the proxies to cap ApiVersions at.
	caps := map[int16]int16{}
	var tables []map[int16][2]int16
	for _, b := range brokers {
		tables = append(tables, newConfSide(t, b, "").versions)
	}
	for k, r := range tables[0] {
		if o, ok := tables[1][k]; ok {
			caps[k] = min(r[1], o[1])
		}
	}
	for _, sc := range recordedScenarios() {
		if sc.full && !full {
			continue
		}
		t.Run("Recorded-"+sc.name, func(t *testing.T) {
			var streams [][]kafkaproxy.Exchange
			for _, b := range brokers {
				streams = append(streams, recordScenario(t, sc, b, caps))
			}
			compareRecorded(t, "Recorded-"+sc.name, streams[0], streams[1], allow)
		})
	}
}

// recordScenario creates the scenario's topics on b, runs its client
// through a proxy in front of b and returns what the proxy recorded.
func recordScenario(t *testing.T, sc recScenario, b confBroker, caps map[int16]int16) []kafkaproxy.Exchange {
	t.Helper()
	side := newConfSide(t, b, "")
	names := make([]string, 0, len(sc.topics))
	for name := range sc.topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := createTopic(name, sc.topics[name])
		doConfStep(t, "Recorded-"+sc.name+"/"+st.name, st, side, 7)
	}
	p, err := kafkaproxy.New(b.addr, kafkaproxy.Options{MaxVersions: caps})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sc.run(t, p.Addr())
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	ex := p.Exchanges()
	t.Logf("%s: %d exchanges with %s", sc.name, len(ex), b.name)
	if os.Getenv("RUNNEL_RECORDED_DUMP") != "" {
		for _, e := range ex {
			resp, _ := json.Marshal(e.Response)
			t.Logf("  %s #%d conn %d +%v %s v%d: %.300s", b.name, e.Seq, e.Conn, e.Requested.Sub(ex[0].Requested).Round(time.Millisecond),
				kmsg.NameForKey(e.Key), e.Version, resp)
		}
	}
	return ex
}

// recFranzProduce produces n keyed records one at a time with franz-go's
// defaults (idempotent, snappy).
func recFranzProduce(t *testing.T, bootstrap, topic string, n int) {
	t.Helper()
	p, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic), kgo.ClientID("rec-franz"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range n {
		r := &kgo.Record{Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, "v-%d", i),
			Headers: []kgo.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}}}
		if err := p.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// recFranzGroup produces n records (recFranzProduce), then consumes them
// in a group, commits and leaves.
func recFranzGroup(t *testing.T, bootstrap, topic, group string, n int) {
	t.Helper()
	ctx := t.Context()
	recFranzProduce(t, bootstrap, topic, n)
	c, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ClientID("rec-franz"), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for got := 0; got < n; {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("consume %s/%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
	if err := c.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// recFranzTxn produces n records in one committed and one aborted
// transaction, then reads them back read_committed without a group.
func recFranzTxn(t *testing.T, bootstrap, topic, txnID string, n int) {
	t.Helper()
	ctx := t.Context()
	p, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic), kgo.ClientID("rec-franz"),
		kgo.TransactionalID(txnID))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, commit := range []bool{true, false} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			r := &kgo.Record{Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, "%v-%d", commit, i)}
			if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction: %v", err)
		}
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ClientID("rec-franz"), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for got := 0; got < n; {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("consume %s/%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
}

// recConfluent runs testdata/recorded_confluent.py (librdkafka).
func recConfluent(t *testing.T, bootstrap, topic, group string, n int, protocol string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, venvPython(t), filepath.Join("testdata", "recorded_confluent.py"),
		bootstrap, topic, group, fmt.Sprint(n), protocol)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("recorded_confluent.py: %v\n%s", err, tail(string(out), 40))
	}
}

// recJavaGroup produces n records per codec with the Java client
// (a producer per codec, idempotent, acks=all) and, given a group,
// consumes them in it with protocol (classic or consumer), committing
// after each poll.
func recJavaGroup(t *testing.T, bootstrap, topic, group string, n int, protocol, codecs string) {
	t.Helper()
	javaDriver(t, 2*time.Minute, "produce", "--bootstrap", bootstrap, "--topic", topic, "--count", fmt.Sprint(n), "--codecs", codecs)
	if group == "" {
		return
	}
	evs := javaDriver(t, 2*time.Minute, "consume", "--bootstrap", bootstrap, "--topics", topic, "--group", group,
		"--expect", fmt.Sprint(n*len(strings.Split(codecs, ","))), "--prop", "group.protocol="+protocol)
	for _, e := range evs {
		if e.str("event") == "commit-error" {
			t.Errorf("java consumer: %s", e.str("error"))
		}
	}
}

// recItem is one compared unit of a stream.
type recItem struct {
	stream    string
	version   int16
	req, resp map[string]string
}

// transientCodes are answers whose timing is the broker's own.
var transientCodes = map[int16]bool{
	kerr.LeaderNotAvailable.Code: true, kerr.NotLeaderForPartition.Code: true,
	kerr.CoordinatorLoadInProgress.Code: true, kerr.CoordinatorNotAvailable.Code: true,
	kerr.NotCoordinator.Code: true, kerr.RebalanceInProgress.Code: true,
	kerr.ConcurrentTransactions.Code: true, kerr.RequestTimedOut.Code: true,
	kerr.UnstableOffsetCommit.Code: true, // a transaction's offsets until its markers are written
}

// normalizeMessage is normalizeResponse for any kmsg struct (a request,
// or one partition of a message).
func normalizeMessage(v any) map[string]string {
	flat := flattenJSON(v)
	for k, v := range flat {
		flat[k] = uuidRE.ReplaceAllString(v, "<uuid>")
	}
	return flat
}

// uuidRE matches the UUIDs brokers put in member ids, which clients echo
// elsewhere (franz-go's commit metadata is its member id).
var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func transient(flat map[string]string) bool {
	for k, v := range flat {
		if strings.HasSuffix(k, "ErrorCode") {
			var code int16
			if _, err := fmt.Sscan(v, &code); err == nil && transientCodes[code] {
				return true
			}
		}
	}
	return false
}

// recItems turns a recorded stream into comparable items.
func recItems(scenario string, exs []kafkaproxy.Exchange, undecodable func(label, err string)) []recItem {
	// Topic ids name topics in Fetch v13+ (and Produce v13+): learn them
	// from the Metadata answers the client got.
	names := map[[16]byte]string{}
	for _, e := range exs {
		if m, ok := e.Response.(*kmsg.MetadataResponse); ok {
			for _, tp := range m.Topics {
				if tp.Topic != nil {
					names[tp.TopicID] = *tp.Topic
				}
			}
		}
	}
	topicName := func(name string, id [16]byte) string {
		if name != "" {
			return name
		}
		if n, ok := names[id]; ok {
			return n
		}
		return fmt.Sprintf("id:%x", id)
	}
	var items []recItem
	fetched := map[string]bool{} // topic/partition/offset already fetched
	for _, e := range exs {
		if e.Err != nil {
			undecodable(fmt.Sprintf("%s/%s[exchange %d]@v%d", scenario, kmsg.NameForKey(e.Key), e.Seq, e.Version), e.Err.Error())
			continue
		}
		if e.Response == nil || e.Key == 18 || e.Key == 17 || e.Key == 36 {
			continue // unanswered; ApiVersions and SASL are the corpus's
		}
		switch req := e.Request.(type) {
		case *kmsg.ProduceRequest:
			resp := e.Response.(*kmsg.ProduceResponse)
			items = append(items, produceItems(req, resp, topicName)...)
			continue
		case *kmsg.FetchRequest:
			resp := e.Response.(*kmsg.FetchResponse)
			items = append(items, fetchItems(e.Version, resp, topicName, fetched)...)
			continue
		case *kmsg.ListOffsetsRequest:
			// One partition per request (librdkafka) or all at once (franz-go, Java).
			items = append(items, listOffsetsItems(req, e.Response.(*kmsg.ListOffsetsResponse))...)
			continue
		}
		respFlat := normalizeMessage(e.Response)
		if transient(respFlat) {
			continue
		}
		items = append(items, recItem{stream: kmsg.NameForKey(e.Key), version: e.Version,
			req: normalizeMessage(e.Request), resp: respFlat})
	}
	return items
}

func partPath(topic string, p int32) string {
	return fmt.Sprintf("Topics[Topic=%s].Partitions[Partition=%d]", topic, p)
}

func prefixed(prefix string, flat map[string]string) map[string]string {
	out := make(map[string]string, len(flat))
	for k, v := range flat {
		out[prefix+"."+k] = v
	}
	return out
}

// produceItems: one item per record sent, with the partition's answer
// and the offset the answer gives that record.
func produceItems(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, topicName func(string, [16]byte) string) []recItem {
	answers := map[string]kmsg.ProduceResponseTopicPartition{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			answers[fmt.Sprintf("%s/%d", topicName(tp.Topic, tp.TopicID), p.Partition)] = p
		}
	}
	var out []recItem
	for _, tp := range req.Topics {
		topic := topicName(tp.Topic, tp.TopicID)
		for _, p := range tp.Partitions {
			a, ok := answers[fmt.Sprintf("%s/%d", topic, p.Partition)]
			path := partPath(topic, p.Partition)
			var ans map[string]string
			if ok {
				ans = normalizeMessage(a)
				if transientCodes[a.ErrorCode] {
					continue
				}
			}
			for _, r := range decodeBatches(p.Records) {
				item := recItem{stream: fmt.Sprintf("Produce:%s:%d", topic, p.Partition), version: req.Version,
					req: map[string]string{
						path + ".Records": r.batch + " " + r.record,
						"TransactionalID": fmt.Sprint(req.TransactionID != nil),
						"Acks":            fmt.Sprint(req.Acks),
					},
					resp: prefixed(path, ans)}
				if ok && a.ErrorCode == 0 {
					item.resp[path+".Offset"] = fmt.Sprint(a.BaseOffset + int64(r.offsetDelta))
				}
				delete(item.resp, path+".BaseOffset")
				out = append(out, item)
			}
		}
	}
	return out
}

// listOffsetsItems: one item per partition asked.
func listOffsetsItems(req *kmsg.ListOffsetsRequest, resp *kmsg.ListOffsetsResponse) []recItem {
	answers := map[string]kmsg.ListOffsetsResponseTopicPartition{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			answers[fmt.Sprintf("%s:%d", tp.Topic, p.Partition)] = p
		}
	}
	var out []recItem
	for _, tp := range req.Topics {
		for _, p := range tp.Partitions {
			key := fmt.Sprintf("%s:%d", tp.Topic, p.Partition)
			a, ok := answers[key]
			if ok && transientCodes[a.ErrorCode] {
				continue
			}
			path := partPath(tp.Topic, p.Partition)
			it := recItem{stream: "ListOffsets:" + key, version: req.Version,
				req:  prefixed(path, normalizeMessage(p)),
				resp: map[string]string{path: "<absent>"}}
			it.req["IsolationLevel"] = fmt.Sprint(req.IsolationLevel)
			if ok {
				it.resp = prefixed(path, normalizeMessage(a))
			}
			out = append(out, it)
		}
	}
	return out
}

// fetchItems: one item per record fetched for the first time, or per
// partition answered with an error; empty answers are dropped.
func fetchItems(version int16, resp *kmsg.FetchResponse, topicName func(string, [16]byte) string, fetched map[string]bool) []recItem {
	var out []recItem
	for _, tp := range resp.Topics {
		topic := topicName(tp.Topic, tp.TopicID)
		for _, p := range tp.Partitions {
			if transientCodes[p.ErrorCode] {
				continue
			}
			path := partPath(topic, p.Partition)
			stream := fmt.Sprintf("Fetch:%s:%d", topic, p.Partition)
			records := p.RecordBatches
			p.RecordBatches = nil
			flat := prefixed(path, normalizeMessage(p))
			delete(flat, path+".RecordBatches")
			if p.ErrorCode != 0 {
				out = append(out, recItem{stream: stream, version: version, req: map[string]string{}, resp: flat})
				continue
			}
			for _, r := range decodeBatches(records) {
				key := fmt.Sprintf("%s/%d/%d", topic, p.Partition, r.offset)
				if fetched[key] {
					continue
				}
				fetched[key] = true
				resp := maps.Clone(flat)
				resp[fmt.Sprintf("%s.Records[Offset=%d]", path, r.offset)] = r.batch + " " + r.record
				out = append(out, recItem{stream: stream, version: version, req: map[string]string{}, resp: resp})
			}
		}
	}
	return out
}

// recRecord is one record of a v2 batch, described without what the
// client's clock or a CRC put there.
type recRecord struct {
	offset      int64 // absolute, in a broker's answer
	offsetDelta int32
	batch       string // the batch's fields that matter
	record      string
}

// decodeBatches describes every record of a run of record batches: the
// batch's attributes, producer id (set or not), epoch and the record's
// sequence, its key, value and headers. Timestamps, CRCs and how records
// were grouped in batches are left out: the two runs' clients wrote at
// different times.
func decodeBatches(b []byte) []recRecord {
	var out []recRecord
	dec := kgo.DefaultDecompressor()
	for len(b) >= 61 {
		n := int(int32(binary.BigEndian.Uint32(b[8:])))
		if n < 49 || 12+n > len(b) {
			out = append(out, recRecord{batch: fmt.Sprintf("truncated batch of %d bytes", len(b))})
			break
		}
		batch := b[:12+n]
		b = b[12+n:]
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(batch); err != nil || rb.Magic != 2 {
			out = append(out, recRecord{batch: fmt.Sprintf("undecodable batch (magic %d): %v", batch[16], err)})
			continue
		}
		pid := "set"
		if rb.ProducerID < 0 {
			pid = "none"
		}
		// Not the batch's record count: how a client batches is its timing.
		desc := fmt.Sprintf("attrs=%#x pid=%s epoch=%d leaderEpoch=%d", rb.Attributes, pid, rb.ProducerEpoch, rb.PartitionLeaderEpoch)
		raw, err := dec.Decompress(rb.Records, kgo.CompressionCodecType(rb.Attributes&7))
		if err != nil {
			out = append(out, recRecord{offset: rb.FirstOffset, batch: desc, record: "undecompressable: " + err.Error()})
			continue
		}
		for i := 0; i < int(rb.NumRecords) && len(raw) > 0; i++ {
			l, m := binary.Varint(raw)
			if m <= 0 || int(l) > len(raw)-m {
				out = append(out, recRecord{offset: rb.FirstOffset, batch: desc, record: "truncated record"})
				break
			}
			var r kmsg.Record
			if err := r.ReadFrom(raw[:m+int(l)]); err != nil {
				out = append(out, recRecord{offset: rb.FirstOffset, batch: desc, record: "undecodable record: " + err.Error()})
				break
			}
			raw = raw[m+int(l):]
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, fmt.Sprintf("%s=%q", h.Key, h.Value))
			}
			seq := "-"
			if rb.FirstSequence >= 0 {
				seq = fmt.Sprint(rb.FirstSequence + r.OffsetDelta)
			}
			out = append(out, recRecord{offset: rb.FirstOffset + int64(r.OffsetDelta), offsetDelta: r.OffsetDelta, batch: desc,
				record: fmt.Sprintf("seq=%s key=%s value=%s headers=[%s]", seq, quoteBytes(r.Key), quoteBytes(r.Value), strings.Join(hs, " "))})
		}
	}
	return out
}

func quoteBytes(b []byte) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprintf("%q", b)
}

// collapse drops items equal to the one before them in their stream.
func collapse(items []recItem) map[string][]recItem {
	out := map[string][]recItem{}
	for _, it := range items {
		s := out[it.stream]
		if n := len(s); n > 0 && s[n-1].version == it.version && maps.Equal(s[n-1].req, it.req) && maps.Equal(s[n-1].resp, it.resp) {
			continue
		}
		out[it.stream] = append(s, it)
	}
	return out
}

// compareRecorded pairs the two streams' items and reports differences
// the allowlist does not name.
func compareRecorded(t *testing.T, scenario string, kafka, runnel []kafkaproxy.Exchange, allow []*allowEntry) {
	t.Helper()
	diffRecorded(scenario, kafka, runnel, t.Logf, func(label, path, l, r string) {
		if e := matchAllowlist(allow, label, path); e != nil {
			e.used = true
			t.Logf("%s: allowed difference %s: kafka=%s runnel=%s (%s)", label, path, l, r, e.reason)
			return
		}
		t.Errorf("%s: %s: kafka=%s runnel=%s", label, path, l, r)
	})
}

// diffRecorded turns both streams into items, pairs them and reports
// every difference; logf says what was compared.
func diffRecorded(scenario string, kafka, runnel []kafkaproxy.Exchange, logf func(string, ...any), report func(label, path, l, r string)) {
	left := collapse(recItems(scenario, kafka, func(label, err string) { report(label, "<undecodable>", err, "") }))
	right := collapse(recItems(scenario, runnel, func(label, err string) { report(label, "<undecodable>", "", err) }))
	streams := map[string]bool{}
	for s := range left {
		streams[s] = true
	}
	for s := range right {
		streams[s] = true
	}
	var counts []string
	for _, s := range sortedKeys(streams) {
		counts = append(counts, fmt.Sprintf("%s %d/%d", s, len(left[s]), len(right[s])))
	}
	logf("%s: items compared per stream (kafka/runnel): %s", scenario, strings.Join(counts, ", "))
	for _, s := range sortedKeys(streams) {
		l, r := left[s], right[s]
		if pollStreams[s] {
			comparePoll(scenario, s, l, r, logf, report)
			continue
		}
		if len(l) != len(r) {
			report(fmt.Sprintf("%s/%s@*", scenario, s), "<count>", fmt.Sprint(len(l)), fmt.Sprint(len(r)))
			dumpStream(logf, "kafka", s, l)
			dumpStream(logf, "runnel", s, r)
		}
		for i := range min(len(l), len(r)) {
			label := fmt.Sprintf("%s/%s[%d]@v%d", scenario, s, i, l[i].version)
			if l[i].version != r[i].version {
				report(label, "<version>", fmt.Sprint(l[i].version), fmt.Sprint(r[i].version))
				continue
			}
			for _, d := range diffFlat(l[i].req, r[i].req) {
				report(label, "request."+d.path, d.left, d.right)
			}
			for _, d := range diffFlat(l[i].resp, r[i].resp) {
				report(label, d.path, d.left, d.right)
			}
		}
	}
}

// pollStreams are requests a client sends on a timer or on its own
// schedule (refreshing metadata, looking a coordinator up again, a
// heartbeat, a leave it may not wait the answer of): how many it sent is
// the clock's. Each distinct exchange one side saw must be one the other
// saw too, when both sent any; one that is not is compared with the other
// side's closest exchange.
var pollStreams = map[string]bool{"Heartbeat": true, "Metadata": true, "FindCoordinator": true, "LeaveGroup": true}

func comparePoll(scenario, stream string, l, r []recItem, logf func(string, ...any), report func(label, path, l, r string)) {
	if len(l) == 0 || len(r) == 0 {
		logf("%s/%s: kafka sent %d, runnel %d", scenario, stream, len(l), len(r))
		return
	}
	type pair struct{ l, r int }
	seen := map[pair]bool{}
	diffs := func(a, b recItem) []confDiff {
		if a.version != b.version {
			return []confDiff{{"<version>", fmt.Sprint(a.version), fmt.Sprint(b.version)}}
		}
		var out []confDiff
		for _, d := range diffFlat(a.req, b.req) {
			out = append(out, confDiff{"request." + d.path, d.left, d.right})
		}
		return append(out, diffFlat(a.resp, b.resp)...)
	}
	// closest returns the index in others nearest to it, or -1 when
	// others holds an equal item.
	closest := func(it recItem, others []recItem, swap bool) int {
		best, bestN := -1, -1
		for j, o := range others {
			a, b := it, o
			if swap {
				a, b = o, it
			}
			n := len(diffs(a, b))
			if n == 0 {
				return -1
			}
			if bestN < 0 || n < bestN {
				best, bestN = j, n
			}
		}
		return best
	}
	for i, it := range l {
		if j := closest(it, r, false); j >= 0 && !seen[pair{i, j}] {
			seen[pair{i, j}] = true
			for _, d := range diffs(it, r[j]) {
				report(fmt.Sprintf("%s/%s[%d]@v%d", scenario, stream, i, it.version), d.path, d.left, d.right)
			}
		}
	}
	for j, it := range r {
		if i := closest(it, l, true); i >= 0 && !seen[pair{i, j}] {
			seen[pair{i, j}] = true
			for _, d := range diffs(l[i], it) {
				report(fmt.Sprintf("%s/%s[%d]@v%d", scenario, stream, i, it.version), d.path, d.left, d.right)
			}
		}
	}
}

func dumpStream(logf func(string, ...any), side, stream string, items []recItem) {
	for i, it := range items {
		logf("  %s %s[%d]@v%d: request %s; response %s", side, stream, i, it.version, compactFlat(it.req), compactFlat(it.resp))
	}
}

func compactFlat(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	s := strings.Join(parts, " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
