package integration

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Differential conformance: the scenarios of conformance_scenarios_test.go
// are replayed request by request, as franz-go's raw kmsg requests at
// exact versions, against Apache Kafka (testenv.StartKafka, the pinned
// release) and against Runnel, both single-node and started from the same
// empty state with the same settings. Every response is compared field by
// field after normalising what legitimately differs (ids, timestamps,
// host:port, throttle times, the cluster id, error messages: Kafka's
// wording is not a contract). A difference fails the test unless
// testdata/conformance/allowlist.txt lists it with its reason.
//
// One Kafka and one Runnel serve every scenario (a JVM takes 10–20 s to
// start here; the corpus then replays in about 15 s); each scenario names
// its own topics, groups and transactional ids. `make test` runs the
// whole corpus; `make conformance` (RUNNEL_CONFORMANCE_FULL=1) runs it
// verbosely and also fails on allowlist entries no difference needed.

// conformanceSettings are set on both brokers: a single node's internal
// topics, and no initial rebalance delay so that a JoinGroup answers at
// once (both defaults are Kafka's, a three-node production setting).
//
// Both run Kafka's StandardAuthorizer with User:ANONYMOUS (the PLAINTEXT
// listener) as super user, so that the scenarios marked with a user
// replay authorization failures on a SASL_PLAINTEXT listener (SCRAM).
var conformanceSettings = map[string]string{
	"offsets.topic.replication.factor":         "1",
	"transaction.state.log.replication.factor": "1",
	"transaction.state.log.min.isr":            "1",
	"group.initial.rebalance.delay.ms":         "0",
	"authorizer.class.name":                    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
	"super.users":                              "User:ANONYMOUS",
	"sasl.enabled.mechanisms":                  "SCRAM-SHA-512",
}

// confUsers are the SCRAM users scenarios connect as (name: password).
var confUsers = map[string]string{"alice": "alice-secret"}

// confSide is one broker under comparison and what its scenario learnt
// from earlier answers (topic ids, producer ids, member ids).
type confSide struct {
	name     string
	addr     string
	conn     *confConn
	versions map[int16][2]int16
	topicIDs map[string][16]byte
	vals     map[string]any
}

func (s *confSide) int64Val(key string) int64 {
	v, _ := s.vals[key].(int64)
	return v
}

func (s *confSide) int32Val(key string) int32 {
	v, _ := s.vals[key].(int32)
	return v
}

func (s *confSide) int16Val(key string) int16 {
	v, _ := s.vals[key].(int16)
	return v
}

func (s *confSide) strVal(key string) string {
	v, _ := s.vals[key].(string)
	return v
}

// Version selectors for confStep.versions besides explicit numbers.
const (
	vMin int16 = -1 // the oldest version both brokers serve
	vMax int16 = -2 // the newest version both brokers serve
)

// confStep is one request of a scenario.
type confStep struct {
	name     string
	key      int16
	versions []int16 // nil: vMin and vMax
	build    func(s *confSide, v int16) kmsg.Request
	// capture records what later steps need from the response.
	capture func(s *confSide, resp kmsg.Response)
	// until makes the step preparation, not comparison: it is repeated on
	// each side until until accepts the answer (a coordinator that is
	// still loading answers with a retriable error, at its own pace).
	until func(s *confSide, resp kmsg.Response) bool
}

// confScenario is a sequence of steps from a fresh client connection.
type confScenario struct {
	name string
	// user, when set, connects on the SASL listener as that SCRAM user
	// (an earlier scenario creates it); otherwise PLAINTEXT, super user.
	user  string
	steps []confStep
}

// confBroker is one of the two brokers compared.
type confBroker struct{ name, addr, saslAddr string }

// TestDifferentialConformance replays the corpus against Kafka and Runnel.
func TestDifferentialConformance(t *testing.T) {
	full := os.Getenv("RUNNEL_CONFORMANCE_FULL") != ""
	if _, err := testenv.KafkaLibDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Apache Kafka is not installed: %v", err)
		}
		t.Skipf("skipping: Apache Kafka is not installed: %v", err)
	}
	// Kafka's JVM starts while Runnel does. The cleanup, registered first,
	// runs last: it waits for the start and stops whatever started, even
	// when Runnel's start fails the test.
	var (
		kafka    *testenv.Kafka
		kafkaErr error
		kafkaWG  sync.WaitGroup
	)
	kafkaWG.Add(1)
	go func() {
		defer kafkaWG.Done()
		props := map[string]string{
			"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		}
		for k, v := range conformanceSettings {
			props[k] = v
		}
		kafka, kafkaErr = testenv.StartKafkaProcess(testenv.KafkaConfig{Properties: props, Listeners: []string{"SASL_PLAINTEXT"}})
	}()
	t.Cleanup(func() {
		kafkaWG.Wait()
		if kafka != nil {
			if err := kafka.Stop(); err != nil {
				t.Errorf("stopping Kafka: %v", err)
			}
		}
	})
	saslPort := testenv.FreePort(t)
	opts := []brokerOption{func(b *broker) {
		b.args = append(b.args, "--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d", b.port, saslPort))
	}}
	for k, v := range conformanceSettings {
		opts = append(opts, withOverride(k, v))
	}
	runnel := startBroker(t, opts...)
	kafkaWG.Wait()
	if kafkaErr != nil {
		t.Fatal(kafkaErr)
	}

	brokers := []confBroker{
		{"kafka", kafka.Nodes[0].Addr, kafka.Nodes[0].ListenerAddrs["SASL_PLAINTEXT"]},
		{"runnel", runnel.addr(), fmt.Sprintf("127.0.0.1:%d", saslPort)},
	}
	allow := loadAllowlist(t, "testdata/conformance/allowlist.txt")
	for _, sc := range conformanceScenarios() {
		if sc.name == "Destructive" { // real clients' streams, while both brokers are whole
			recordedConformance(t, brokers, allow, full)
		}
		t.Run(sc.name, func(t *testing.T) {
			var sides []*confSide
			for _, b := range brokers {
				sides = append(sides, newConfSide(t, b, sc.user))
			}
			for _, st := range sc.steps {
				runConfStep(t, sc.name, st, sides, allow)
			}
		})
	}
	if full && !t.Failed() {
		for _, e := range allow {
			if !e.used {
				t.Errorf("allowlist entry no difference needed (fixed? remove it): %s %s", e.where, e.path)
			}
		}
	}
}

func newConfSide(t *testing.T, b confBroker, user string) *confSide {
	t.Helper()
	name, addr := b.name, b.addr
	if user != "" {
		addr = b.saslAddr
	}
	c, err := dialConf(addr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	if user != "" {
		if err := c.authenticate(user, confUsers[user]); err != nil {
			t.Fatalf("%s: SCRAM as %s: %v", name, user, err)
		}
	}
	s := &confSide{name: name, addr: addr, conn: c, versions: map[int16][2]int16{},
		topicIDs: map[string][16]byte{}, vals: map[string]any{}}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "runnel-conformance", "1"
	resp, err := c.do(req)
	if err != nil {
		t.Fatalf("%s: ApiVersions: %v", name, err)
	}
	for _, k := range resp.(*kmsg.ApiVersionsResponse).ApiKeys {
		s.versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return s
}

// stepVersions resolves a step's versions against both brokers' ranges.
func stepVersions(t *testing.T, st confStep, sides []*confSide) []int16 {
	lo, hi := int16(-1), int16(32767)
	for _, s := range sides {
		r, ok := s.versions[st.key]
		if !ok {
			t.Fatalf("%s: %s does not serve API key %d", st.name, s.name, st.key)
		}
		lo, hi = max(lo, r[0]), min(hi, r[1])
	}
	if lo > hi {
		t.Fatalf("%s: no common version of API key %d", st.name, st.key)
	}
	sel := st.versions
	if sel == nil {
		sel = []int16{vMin, vMax}
	}
	var out []int16
	seen := map[int16]bool{}
	for _, v := range sel {
		switch v {
		case vMin:
			v = lo
		case vMax:
			v = hi
		}
		if v < lo || v > hi || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

func runConfStep(t *testing.T, scenario string, st confStep, sides []*confSide, allow []*allowEntry) {
	t.Helper()
	for _, v := range stepVersions(t, st, sides) {
		label := fmt.Sprintf("%s/%s@v%d", scenario, st.name, v)
		var answers []kmsg.Response
		for _, s := range sides {
			answers = append(answers, doConfStep(t, label, st, s, v))
		}
		if st.until != nil {
			continue
		}
		left, right := normalizeResponse(answers[0]), normalizeResponse(answers[1])
		for _, d := range diffFlat(left, right) {
			if e := matchAllowlist(allow, label, d.path); e != nil {
				e.used = true
				t.Logf("%s: allowed difference %s: kafka=%s runnel=%s (%s)", label, d.path, d.left, d.right, e.reason)
				continue
			}
			t.Errorf("%s: %s: kafka=%s runnel=%s", label, d.path, d.left, d.right)
		}
	}
}

func doConfStep(t *testing.T, label string, st confStep, s *confSide, v int16) kmsg.Response {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req := st.build(s, v)
		req.SetVersion(v)
		resp, err := s.conn.do(req)
		if err != nil {
			t.Fatalf("%s on %s: %v", label, s.name, err)
		}
		if st.capture != nil {
			st.capture(s, resp)
		}
		if st.until == nil || st.until(s, resp) {
			return resp
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(resp)
			t.Fatalf("%s on %s: not ready after 60 s: %s", label, s.name, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// confConn is one client connection speaking the wire protocol directly,
// so that every request goes out at exactly the version a step names.
type confConn struct {
	conn net.Conn
	r    *bufio.Reader
	corr int32
	f    *kmsg.RequestFormatter
}

func dialConf(addr string) (*confConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &confConn{conn: conn, r: bufio.NewReader(conn),
		f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("conformance"))}, nil
}

func (c *confConn) Close() error { return c.conn.Close() }

// do sends req and reads its response: size, correlation id, the
// response header's tags when the request is flexible (ApiVersions
// answers with header v0 always), then the body.
func (c *confConn) do(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	c.conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.conn.Write(c.f.AppendRequest(nil, req, c.corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("response of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	rd := kbin.Reader{Src: buf}
	if corr := rd.Int32(); corr != c.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", corr, c.corr)
	}
	if req.IsFlexible() && req.Key() != 18 {
		kmsg.SkipTags(&rd)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(rd.Src); err != nil {
		return nil, fmt.Errorf("decoding %T v%d: %v", resp, req.GetVersion(), err)
	}
	return resp, nil
}

// authenticate runs SaslHandshake and SaslAuthenticate as user with
// SCRAM-SHA-512, franz-go's client side of the exchange.
func (c *confConn) authenticate(user, password string) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "SCRAM-SHA-512"
	resp, err := c.do(hs)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return err
	}
	ctx := context.Background()
	session, msg, err := scram.Auth{User: user, Pass: password}.AsSha512Mechanism().Authenticate(ctx, c.conn.RemoteAddr().String())
	if err != nil {
		return err
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(2)
		req.SASLAuthBytes = msg
		resp, err := c.do(req)
		if err != nil {
			return err
		}
		ar := resp.(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(ar.ErrorCode); err != nil {
			return err
		}
		done, next, err := session.Challenge(ar.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		msg = next
	}
}

// Normalisation. A response becomes a flat map from a field path to its
// value. Arrays of structs are keyed by their identifying field (topic
// name, partition, API key…) where they have one, and otherwise sorted:
// the order of a response's entries is not part of Kafka's contract.

// confIgnored fields are left out: they are the brokers' own (throttle
// times, addresses, the cluster id, error messages whose wording Kafka
// does not promise) or the JSON form of tags.
var confIgnored = map[string]bool{
	"ThrottleMillis": true, "ClusterID": true, "Host": true, "Port": true,
	"ErrorMessage": true, "UnknownTags": true, "SessionID": true,
	"TotalBytes": true, "UsableBytes": true, "FinalizedFeaturesEpoch": true,
	"Message": true, "StatusMessage": true,
}

// confPresence fields are generated by each broker (ids, times, sizes,
// paths): only whether they are set is compared.
var confPresence = map[string]bool{
	"TopicID": true, "MemberID": true, "ProducerID": true,
	"TransactionStartTimestamp": true, "LastTimestamp": true, "CurrentStateTimestamp": true,
	"LogDir": true, "Dir": true, "Size": true, "ClientHost": true, "LogAppendTime": true,
	"StartTimestamp": true,
}

// confPresenceStrings are generated when they are strings (a JoinGroup's
// LeaderID is a member id; elsewhere LeaderID is a broker id, compared).
var confPresenceStrings = map[string]bool{"LeaderID": true}

// confKeyFields identify an array's element, in order of preference.
var confKeyFields = []string{"ApiKey", "Topic", "Name", "ResourceName", "Group", "GroupID", "TransactionalID",
	"Partition", "ConfigName", "User", "BrokerID", "NodeID", "Mechanism", "Key"}

func normalizeResponse(resp kmsg.Response) map[string]string {
	return flattenJSON(resp)
}

// flattenJSON is a message's fields by path, as its JSON encoding has them
// (numbers as written).
func flattenJSON(v any) map[string]string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var tree any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		panic(err)
	}
	flat := map[string]string{}
	flatten("", tree, flat)
	return flat
}

func flatten(path string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if confIgnored[k] {
				continue
			}
			p := k
			if path != "" {
				p = path + "." + k
			}
			if b64, isString := child.(string); k == "RecordBatches" && isString {
				out[p] = maskControlBatches(b64)
				continue
			}
			if _, isString := child.(string); confPresence[k] || confPresenceStrings[k] && isString {
				out[p] = presence(child)
				continue
			}
			flatten(p, child, out)
		}
	case []any:
		if len(v) == 0 {
			out[path] = "[]"
			return
		}
		type elem struct {
			key string
			v   any
		}
		var elems []elem
		for _, child := range v {
			elems = append(elems, elem{elementKey(child), child})
		}
		sort.SliceStable(elems, func(i, j int) bool { return elems[i].key < elems[j].key })
		for i, e := range elems {
			key := e.key
			if strings.HasPrefix(key, "#") { // no identifying field: position after sorting
				key = fmt.Sprint(i)
			}
			p := fmt.Sprintf("%s[%s]", path, key)
			out[p] = "<element>" // one difference for an element only one side has
			flatten(p, e.v, out)
		}
	case nil:
		out[path] = "null"
	default:
		out[path] = fmt.Sprint(v)
	}
}

// elementKey names an array element by its identifying field, or sorts
// it by its normalised content ("#" prefix) when it has none.
func elementKey(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprintf("%v", v)
	}
	for _, k := range confKeyFields {
		if id, ok := m[k]; ok && id != nil {
			if _, scalar := id.(map[string]any); !scalar {
				if confPresence[k] {
					break
				}
				return fmt.Sprintf("%s=%v", k, id)
			}
		}
	}
	flat := map[string]string{}
	flatten("", v, flat)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k+"="+flat[k])
	}
	sort.Strings(keys)
	return "#" + strings.Join(keys, ",")
}

// maskControlBatches takes a fetch answer's record batches (base64, as
// encoding/json writes []byte) and blanks, in each control batch (a
// transaction marker the broker wrote), the CRC and the two timestamps:
// the time each broker wrote its marker. Data batches, written by the
// client at fixed timestamps, stay byte for byte.
func maskControlBatches(b64 string) string {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return b64
	}
	const (
		lengthAt    = 8  // int32 after the base offset
		crcAt       = 17 // after base offset, length, leader epoch, magic
		attrsAt     = 21
		baseTSAt    = 27 // after attributes and last offset delta
		tsEnd       = 43 // base and max timestamp
		controlFlag = 0x20
	)
	for i := 0; i+tsEnd <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i+lengthAt:]))
		if n <= 0 || i+12+n > len(b) {
			break
		}
		if binary.BigEndian.Uint16(b[i+attrsAt:])&controlFlag != 0 {
			clear(b[i+crcAt : i+crcAt+4])
			clear(b[i+baseTSAt : i+tsEnd])
		}
		i += 12 + n
	}
	return base64.StdEncoding.EncodeToString(b)
}

// presence says whether a generated value is set: ids and times are
// compared as "set" or as their "unset" value (0, -1, empty, null).
func presence(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if v == "" || v == "AAAAAAAAAAAAAAAAAAAAAA==" {
			return "unset"
		}
	case json.Number:
		if v == "0" || v == "-1" {
			return "unset:" + v.String()
		}
	case []any:
		if len(v) == 0 {
			return "unset"
		}
	}
	return "set"
}

type confDiff struct{ path, left, right string }

// insideMissingElement says whether path lies within an array element
// that other does not have.
func insideMissingElement(path string, other map[string]string) bool {
	for i := len(path) - 1; i > 0; i-- {
		if path[i] == ']' && i < len(path)-1 {
			if _, ok := other[path[:i+1]]; !ok {
				return true
			}
		}
	}
	return false
}

// emptyVersusElements: an array answered empty ("[]") or null by one side
// while the other has elements is reported through those elements.
func emptyVersusElements(path, l, r string, left, right map[string]string) bool {
	if (l == "[]" || l == "null") && r == "<absent>" || (r == "[]" || r == "null") && l == "<absent>" {
		for k := range left {
			if strings.HasPrefix(k, path+"[") {
				return true
			}
		}
		for k := range right {
			if strings.HasPrefix(k, path+"[") {
				return true
			}
		}
	}
	return false
}

// diffFlat lists the paths whose values differ. Inside an array element
// that only one side has, only the element itself is listed; an array one
// side answers empty or null and the other fills is listed as its elements.
func diffFlat(left, right map[string]string) []confDiff {
	var out []confDiff
	for k, l := range left {
		r, ok := right[k]
		if !ok {
			if insideMissingElement(k, right) {
				continue
			}
			r = "<absent>"
		}
		if l != r && !emptyVersusElements(k, l, r, left, right) {
			out = append(out, confDiff{k, l, r})
		}
	}
	for k, r := range right {
		if _, ok := left[k]; !ok && !insideMissingElement(k, left) {
			out = append(out, confDiff{k, "<absent>", r})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// The allowlist: one difference per line, "<step glob> <path glob> #
// reason", where a step is "scenario/step@vN", * matches anything and
// {a,b} either.
// Blank lines and lines starting with # are comments. Every entry needs
// its reason.

type allowEntry struct {
	where, path, reason string
	whereRE, pathRE     *regexp.Regexp
	used                bool
}

func loadAllowlist(t *testing.T, file string) []*allowEntry {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*allowEntry
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		spec, reason, ok := strings.Cut(line, "#")
		fields := strings.Fields(spec)
		if !ok || strings.TrimSpace(reason) == "" || len(fields) != 2 {
			t.Fatalf("%s:%d: want \"<step glob> <path glob> # reason\": %q", file, i+1, line)
		}
		out = append(out, &allowEntry{where: fields[0], path: fields[1], reason: strings.TrimSpace(reason),
			whereRE: globRE(fields[0]), pathRE: globRE(fields[1])})
	}
	return out
}

// globRE compiles a glob: * matches anything, {a,b} either a or b,
// everything else (brackets too: they are in the paths) itself.
func globRE(glob string) *regexp.Regexp {
	re := strings.ReplaceAll(regexp.QuoteMeta(glob), `\*`, ".*")
	re = regexp.MustCompile(`\\\{([^}]*)\\\}`).ReplaceAllStringFunc(re, func(m string) string {
		return "(" + strings.ReplaceAll(m[2:len(m)-2], ",", "|") + ")"
	})
	return regexp.MustCompile("^" + re + "$")
}

func matchAllowlist(allow []*allowEntry, where, path string) *allowEntry {
	for _, e := range allow {
		if e.whereRE.MatchString(where) && e.pathRE.MatchString(path) {
			return e
		}
	}
	return nil
}

// confBatch is a v2 record batch of values at fixed timestamps, so that
// both brokers store (and serve back) identical bytes: producerID -1
// for a plain producer.
func confBatch(producerID int64, epoch int16, seq int32, transactional bool, values ...string) []byte {
	const ts = 1_700_000_000_000
	var recs []byte
	for i, v := range values {
		var r []byte
		r = append(r, 0)                     // attributes
		r = binary.AppendVarint(r, 0)        // timestamp delta
		r = binary.AppendVarint(r, int64(i)) // offset delta
		r = binary.AppendVarint(r, -1)       // null key
		r = binary.AppendVarint(r, int64(len(v)))
		r = append(r, v...)
		r = binary.AppendVarint(r, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	var attrs int16
	if transactional {
		attrs |= 0x10
	}
	// From attributes on: what the CRC covers.
	var body []byte
	body = binary.BigEndian.AppendUint16(body, uint16(attrs))
	body = binary.BigEndian.AppendUint32(body, uint32(len(values)-1))
	body = binary.BigEndian.AppendUint64(body, ts)
	body = binary.BigEndian.AppendUint64(body, ts)
	body = binary.BigEndian.AppendUint64(body, uint64(producerID))
	body = binary.BigEndian.AppendUint16(body, uint16(epoch))
	body = binary.BigEndian.AppendUint32(body, uint32(seq))
	body = binary.BigEndian.AppendUint32(body, uint32(len(values)))
	body = append(body, recs...)
	crc := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0)                       // base offset
	b = binary.BigEndian.AppendUint32(b, uint32(4+1+4+len(body))) // length after this field
	b = binary.BigEndian.AppendUint32(b, 0)                       // partition leader epoch
	b = append(b, 2)                                              // magic
	b = binary.BigEndian.AppendUint32(b, crc)
	return append(b, body...)
}

// confOK says whether an error code is NONE.
func confOK(code int16) bool { return kerr.ErrorForCode(code) == nil }
