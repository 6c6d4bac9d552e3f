package network

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/tlsconfig"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every blocking step of a test; it is not a timing assertion.
const guard = 30 * time.Second

type testServer struct {
	*Server
	addr string
	logs *observer.ObservedLogs
}

func startServer(t *testing.T, handlers map[int16]Handler) *testServer {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := NewServer(Config{
		Listeners:      []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		MaxRequestSize: 1 << 20,
		Logger:         zap.New(core),
	}, handlers)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testServer{Server: s, addr: s.Addrs()[0].String(), logs: logs}
}

// kgoAPIVersions asks the server for ApiVersions through franz-go.
func kgoAPIVersions(t *testing.T, addr string) *kmsg.ApiVersionsResponse {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SoftwareNameAndVersion("runnel-test", "0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	resp, err := cl.Request(ctx, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatalf("kgo ApiVersions: %v", err)
	}
	return resp.(*kmsg.ApiVersionsResponse)
}

func TestKgoAPIVersions(t *testing.T) {
	ts := startServer(t, nil)
	resp := kgoAPIVersions(t, ts.addr)
	// The Server's own keys: SaslHandshake, ApiVersions, SaslAuthenticate.
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != 3 {
		t.Fatalf("ApiVersions = %+v", resp)
	}
	k := resp.ApiKeys[1]
	if k.ApiKey != 18 || k.MinVersion != 0 || k.MaxVersion != 5 || resp.ApiKeys[0].ApiKey != 17 || resp.ApiKeys[2].ApiKey != 36 {
		t.Fatalf("ApiKeys = %+v", resp.ApiKeys)
	}
	if resp.FinalizedFeaturesEpoch != -1 {
		t.Fatalf("FinalizedFeaturesEpoch = %d", resp.FinalizedFeaturesEpoch)
	}
	if ts.logs.FilterMessage("client software").FilterField(zap.String("name", "runnel-test")).Len() == 0 {
		t.Fatalf("client software not logged")
	}
}

// The advertised table: Produce from v0 though v0–v2 are refused on the wire.
func TestAPIVersionsTable(t *testing.T) {
	ts := startServer(t, map[int16]Handler{
		0: {MaxVersion: 11, Handle: noResponse},
		1: {MaxVersion: 100, Handle: noResponse},
	})
	c := wiretest.Dial(t, ts.addr)
	resp := apiVersions(t, c, 3, 1)
	want := map[int16][2]int16{0: {0, 11}, 1: {4, protocol.MaxKnown(1)}, 17: {0, 1}, 18: {0, 5}, 36: {0, 2}}
	if len(resp.ApiKeys) != len(want) {
		t.Fatalf("ApiKeys = %+v", resp.ApiKeys)
	}
	for _, k := range resp.ApiKeys {
		if w := want[k.ApiKey]; w != [2]int16{k.MinVersion, k.MaxVersion} {
			t.Fatalf("key %d: [%d, %d], want %v", k.ApiKey, k.MinVersion, k.MaxVersion, w)
		}
	}
	// Produce v2 is advertised but refused: the connection closes.
	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(2)
	wiretest.Send(t, c, p, 2)
	expectClosed(t, c)
	// The client can see the close before the server has written its log
	// line about it.
	deadline := time.Now().Add(5 * time.Second)
	for ts.logs.FilterMessage("closing connection").Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the refused version")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAPIVersionsInvalidSoftwareName(t *testing.T) {
	ts := startServer(t, nil)
	c := wiretest.Dial(t, ts.addr)
	r := kmsg.NewPtrApiVersionsRequest()
	r.SetVersion(3)
	r.ClientSoftwareName, r.ClientSoftwareVersion = "bad name!", "1"
	wiretest.Send(t, c, r, 9)
	corr, body := wiretest.ReadResponse(t, c)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if err := resp.ReadFrom(body); err != nil || corr != 9 || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("corr %d resp %+v err %v", corr, resp, err)
	}
}

func TestValidSoftwareField(t *testing.T) {
	for s, ok := range map[string]bool{
		"librdkafka": true, "2.0.2": true, "a": true, "a-b.c": true, "": false,
		"-a": false, "a-": false, "a b": false, "a_b": false, ".": false,
	} {
		if validSoftwareField(s) != ok {
			t.Errorf("validSoftwareField(%q) = %v", s, !ok)
		}
	}
}

// Each kind of bad input closes its own connection, logs why, and leaves a
// concurrent connection (and new franz-go clients) working.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, map[int16]Handler{
		3: {MaxVersion: 12, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
			panic("handler bug")
		}},
		9: {MaxVersion: 9, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
			return Response{}, errors.New("boom")
		}},
	})
	healthy := wiretest.Dial(t, ts.addr)
	apiVersions(t, healthy, 4, 1)

	header := func(key, version int16, corr int32) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		return append(b, 0xff, 0xff) // null client id
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(5)
	of := kmsg.NewPtrOffsetFetchRequest()
	of.SetVersion(8)
	for _, tc := range []struct {
		name string
		send []byte
		log  string
	}{
		{"oversized frame", binary.BigEndian.AppendUint32(nil, 200<<20), "frame size"},
		{"negative size", binary.BigEndian.AppendUint32(nil, 0x80000000), "frame size"},
		{"http garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "frame size"},
		{"garbage frame", wiretest.Sized([]byte{1, 2, 3, 4, 5}), "malformed"},
		{"unknown API key", wiretest.Sized(header(9999, 0, 3)), "unknown API key"},
		{"key not served", wiretest.Sized(wiretest.EncodeRequest(lo, 3, nil)), "not served"},
		{"fetch v3 below floor", wiretest.Sized(header(1, 3, 3)), "unsupported API version"},
		{"truncated body", wiretest.Sized(header(3, 12, 3)), "malformed"},
		{"handler panic", wiretest.Sized(wiretest.EncodeRequest(md, 3, nil)), "panic"},
		{"handler error", wiretest.Sized(wiretest.EncodeRequest(of, 3, nil)), "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.logs.FilterMessage("closing connection").Len()
			c := wiretest.Dial(t, ts.addr)
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
			waitLog(t, ts, before+1)
			last := ts.logs.FilterMessage("closing connection").All()[before]
			if !strings.Contains(last.ContextMap()["error"].(string), tc.log) {
				t.Fatalf("log %v does not mention %q", last.ContextMap(), tc.log)
			}
			apiVersions(t, healthy, 3, 2) // the other connection still works
		})
	}

	t.Run("truncated frame", func(t *testing.T) {
		c := wiretest.Dial(t, ts.addr)
		if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, 100), 0, 18, 0, 3)); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		expectClosed(t, c)
		apiVersions(t, healthy, 3, 3)
	})

	if len(kgoAPIVersions(t, ts.addr).ApiKeys) == 0 {
		t.Fatal("new client after bad inputs got no table")
	}
	if ts.logs.FilterMessage("handler panic").Len() != 1 {
		t.Fatal("panic not logged")
	}
}

// KIP-511: an ApiVersions version the broker does not serve gets a v0 answer
// (header v0) with UNSUPPORTED_VERSION and the table; the connection stays.
func TestUnsupportedAPIVersionsVersion(t *testing.T) {
	ts := startServer(t, nil)
	c := wiretest.Dial(t, ts.addr)
	for _, v := range []int16{6, 99} { // 6: past kmsg and Runnel, 99: far past
		hdr := binary.BigEndian.AppendUint16(nil, 18)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(v))
		hdr = binary.BigEndian.AppendUint32(hdr, 4242)
		hdr = append(hdr, 0, 3, 'c', 'l', 'i', 0 /* tags */, 1, 1, 0 /* a v3+-like body */)
		if _, err := c.Write(wiretest.Sized(hdr)); err != nil {
			t.Fatal(err)
		}
		corr, body := wiretest.ReadResponse(t, c)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("v0 body: %v", err)
		}
		if corr != 4242 || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 3 || resp.ApiKeys[1].ApiKey != 18 || resp.ApiKeys[1].MaxVersion != 5 {
			t.Fatalf("v%d: corr %d resp %+v", v, corr, resp)
		}
	}
	apiVersions(t, c, 4, 7) // then the client retries with a version we serve
}

// Requests pipelined on one connection are answered in order; a request
// without a response (acks=0) is skipped, not reordered.
func TestPipelinedOrder(t *testing.T) {
	var handled atomic.Int32
	ts := startServer(t, map[int16]Handler{
		0: {MaxVersion: 11, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
			handled.Add(1)
			return Response{}, nil
		}},
	})
	c := wiretest.Dial(t, ts.addr)
	var batch []byte
	for i := range 51 { // ends with an ApiVersions, so every produce was handled by then
		var r kmsg.Request
		if i%5 == 4 {
			p := kmsg.NewPtrProduceRequest()
			p.SetVersion(9)
			p.Acks = 0
			r = p
		} else {
			a := kmsg.NewPtrApiVersionsRequest()
			a.SetVersion(int16(i % 4))
			r = a
		}
		batch = append(batch, wiretest.Sized(wiretest.EncodeRequest(r, int32(i), wiretest.Str("pipe")))...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range 51 {
		if i%5 == 4 {
			continue
		}
		corr, body := wiretest.ReadResponse(t, c)
		if corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(int16(i % 4))
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
	}
	if handled.Load() != 10 {
		t.Fatalf("handled %d acks=0 produces", handled.Load())
	}
}

// A Frame response goes out with sendfile and Done runs after it.
func TestFrameResponse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg.log")
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var done atomic.Bool
	ts := startServer(t, map[int16]Handler{
		1: {MaxVersion: 13, Handle: func(_ context.Context, _ *ConnContext, req *protocol.Request) (Response, error) {
			resp := kmsg.NewPtrFetchResponse()
			topic := kmsg.NewFetchResponseTopic()
			topic.Partitions = append(topic.Partitions, kmsg.NewFetchResponseTopicPartition())
			resp.Topics = append(resp.Topics, topic)
			frame := protocol.EncodeFetchResponse(req.Version, req.CorrelationID, resp,
				[][][]protocol.Region{{{{File: f, Offset: 16, Length: int64(len(data)) - 32}}}})
			return Response{Frame: frame, Done: func() { done.Store(true) }}, nil
		}},
	})
	c := wiretest.Dial(t, ts.addr)
	fr := kmsg.NewPtrFetchRequest()
	fr.SetVersion(13)
	wiretest.Send(t, c, fr, 11)
	corr, body := wiretest.ReadResponse(t, c)
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(13)
	if err := resp.ReadFrom(body[1:]); err != nil { // skip header v1 tags
		t.Fatal(err)
	}
	if corr != 11 || !bytes.Equal(resp.Topics[0].Partitions[0].RecordBatches, data[16:len(data)-16]) {
		t.Fatalf("fetch response mismatch")
	}
	apiVersions(t, c, 3, 12) // Done ran before the next request was handled
	if !done.Load() {
		t.Fatal("Done not called")
	}
}

// Close with idle and busy connections ends every goroutine (goleak checks
// in TestMain) and cancels running handlers.
func TestCloseWithOpenConnections(t *testing.T) {
	started := make(chan struct{})
	ts := startServer(t, map[int16]Handler{
		1: {MaxVersion: 13, Handle: func(ctx context.Context, _ *ConnContext, _ *protocol.Request) (Response, error) {
			close(started)
			<-ctx.Done()
			return Response{}, ctx.Err()
		}},
	})
	idle := wiretest.Dial(t, ts.addr)
	busy := wiretest.Dial(t, ts.addr)
	fr := kmsg.NewPtrFetchRequest()
	fr.SetVersion(12)
	wiretest.Send(t, busy, fr, 1)
	<-started
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, idle)
	expectClosed(t, busy)
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Fatal("listener still accepting")
	}
}

func TestIdleTimeout(t *testing.T) {
	s, err := NewServer(Config{Listeners: []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}}, IdleTimeout: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := wiretest.Dial(t, s.Addrs()[0].String())
	expectClosed(t, c)
}

// A client that sends requests and never reads the responses is
// disconnected once a response write cannot complete within the idle
// timeout (connections.max.idle.ms), for sendfile'd Frames and encoded
// responses alike, over TCP and TLS; without the write deadline the connection would hang
// until Close.
func TestWriteDeadline(t *testing.T) {
	const big = 16 << 20 // more than loopback's socket buffers hold
	path := filepath.Join(t.TempDir(), "seg.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, big); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md := kmsg.NewPtrMetadataResponse()
	for i := range 4096 {
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = wiretest.Str(fmt.Sprintf("%04d-%s", i, strings.Repeat("t", 4090)))
		md.Topics = append(md.Topics, topic)
	}
	tf := tlsFiles(t)
	srvTLS, err := tlsconfig.Server(tlsconfig.Keys(tf.ServerKeys("PEM")))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := NewServer(Config{
		// SSL copies Frames through the TLS conn instead of sendfile.
		Listeners:   []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}, {Name: "SSL", Addr: "127.0.0.1:0", TLS: srvTLS}},
		IdleTimeout: 500 * time.Millisecond,
		Logger:      zap.New(core),
	}, map[int16]Handler{
		1: {MaxVersion: 13, Handle: func(_ context.Context, _ *ConnContext, req *protocol.Request) (Response, error) {
			resp := kmsg.NewPtrFetchResponse()
			topic := kmsg.NewFetchResponseTopic()
			topic.Partitions = append(topic.Partitions, kmsg.NewFetchResponseTopicPartition())
			resp.Topics = append(resp.Topics, topic)
			return Response{Frame: protocol.EncodeFetchResponse(req.Version, req.CorrelationID, resp,
				[][][]protocol.Region{{{{File: f, Offset: 0, Length: big}}}})}, nil
		}},
		3: {MaxVersion: 12, Handle: func(context.Context, *ConnContext, *protocol.Request) (Response, error) {
			return Response{Msg: md}, nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	for l, addr := range s.Addrs() {
		for _, r := range []kmsg.Request{kmsg.NewPtrFetchRequest(), kmsg.NewPtrMetadataRequest()} {
			name := kmsg.NameForKey(r.Key())
			t.Run([]string{"PLAINTEXT", "SSL"}[l]+" "+name, func(t *testing.T) {
				before := logs.FilterMessage("closing connection").Len()
				var c net.Conn
				if l == 0 {
					c = wiretest.Dial(t, addr.String())
				} else {
					tc, err := tls.Dial("tcp", addr.String(), clientTLS(t, tf))
					if err != nil {
						t.Fatal(err)
					}
					tc.SetDeadline(time.Now().Add(guard))
					t.Cleanup(func() { tc.Close() })
					c = tc
				}
				r.SetVersion(12)
				for corr := range int32(4) {
					wiretest.Send(t, c, r, corr) // and never read
				}
				waitUntil(t, "the stalled connection closed", func() bool { return logs.FilterMessage("closing connection").Len() > before })
				reason := logs.FilterMessage("closing connection").All()[before].ContextMap()["error"].(string)
				if !strings.Contains(reason, "writing "+name) || !strings.Contains(reason, "timeout") {
					t.Fatalf("closed because %q", reason)
				}
			})
		}
	}
}

func noResponse(context.Context, *ConnContext, *protocol.Request) (Response, error) {
	return Response{}, nil
}

func apiVersions(t *testing.T, c net.Conn, version int16, corr int32) *kmsg.ApiVersionsResponse {
	t.Helper()
	r := kmsg.NewPtrApiVersionsRequest()
	r.SetVersion(version)
	r.ClientSoftwareName, r.ClientSoftwareVersion = "raw", "1"
	wiretest.Send(t, c, r, corr)
	gotCorr, body := wiretest.ReadResponse(t, c)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(version)
	if err := resp.ReadFrom(body); err != nil || gotCorr != corr || resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions v%d: corr %d (want %d), err %v, code %d", version, gotCorr, corr, err, resp.ErrorCode)
	}
	return resp
}

// expectClosed reads until the server closes the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection not closed by the server")
	}
}

// waitLog waits until n "closing connection" lines were logged (the log line
// follows the close, so it may trail the client's EOF).
func waitLog(t *testing.T, ts *testServer, n int) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for ts.logs.FilterMessage("closing connection").Len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("log line never came")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAPIVersionsFeatures: supported and finalized features as Kafka's
// ApiVersionsResponse lists them (KIP-584): below v4 supported features
// with minimum level 0 are left out (KAFKA-17492), finalized level 0 is
// never listed, the epoch comes from the feature source and a change is
// seen by the next request. v5 (KIP-1242) refuses a half-set identity with
// INVALID_REQUEST and a wrong one with REBOOTSTRAP_REQUIRED.
func TestAPIVersionsFeatures(t *testing.T) {
	var mu sync.Mutex
	levels := map[string]int16{"transaction.version": 2, "group.version": 0}
	epoch := int64(7)
	core, _ := observer.New(zapcore.DebugLevel)
	s, err := NewServer(Config{
		Listeners: []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Logger:    zap.New(core),
		Features: func() Features {
			mu.Lock()
			defer mu.Unlock()
			return Features{
				Supported: []SupportedFeature{{Name: "transaction.version", Min: 0, Max: 2}, {Name: "group.version", Min: 0, Max: 1}, {Name: "x.version", Min: 1, Max: 3}},
				Finalized: maps.Clone(levels),
				Epoch:     epoch,
			}
		},
		Identity: func() (string, int32) { return "cluster-a", 3 },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := wiretest.Dial(t, s.Addrs()[0].String())
	ask := func(version int16, edit func(*kmsg.ApiVersionsRequest)) *kmsg.ApiVersionsResponse {
		t.Helper()
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(version)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "t", "1"
		if edit != nil {
			edit(req)
		}
		wiretest.Send(t, c, req, 1)
		_, body := wiretest.ReadResponse(t, c)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(version)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("ApiVersions v%d: %v", version, err)
		}
		return resp
	}
	names := func(r *kmsg.ApiVersionsResponse) (sup, fin []string) {
		for _, f := range r.SupportedFeatures {
			sup = append(sup, fmt.Sprintf("%s:%d-%d", f.Name, f.MinVersion, f.MaxVersion))
		}
		for _, f := range r.FinalizedFeatures {
			fin = append(fin, fmt.Sprintf("%s:%d-%d", f.Name, f.MinVersionLevel, f.MaxVersionLevel))
		}
		return sup, fin
	}
	r := ask(4, nil)
	sup, fin := names(r)
	if fmt.Sprint(sup) != "[group.version:0-1 transaction.version:0-2 x.version:1-3]" || fmt.Sprint(fin) != "[transaction.version:2-2]" || r.FinalizedFeaturesEpoch != 7 {
		t.Fatalf("v4: supported %v finalized %v epoch %d", sup, fin, r.FinalizedFeaturesEpoch)
	}
	r = ask(3, nil)
	if sup, _ := names(r); fmt.Sprint(sup) != "[x.version:1-3]" {
		t.Fatalf("v3 supported %v, want only the features with a minimum above 0", sup)
	}
	mu.Lock()
	levels["group.version"], epoch = 1, 9
	mu.Unlock()
	r = ask(4, nil)
	if _, fin := names(r); fmt.Sprint(fin) != "[group.version:1-1 transaction.version:2-2]" || r.FinalizedFeaturesEpoch != 9 {
		t.Fatalf("after a change: finalized %v epoch %d", fin, r.FinalizedFeaturesEpoch)
	}
	cluster := func(id string, node int32) func(*kmsg.ApiVersionsRequest) {
		return func(r *kmsg.ApiVersionsRequest) { r.ClusterID, r.NodeID = &id, node }
	}
	for _, tc := range []struct {
		name string
		edit func(*kmsg.ApiVersionsRequest)
		want int16
	}{
		{"bootstrap", nil, 0},
		{"this broker", cluster("cluster-a", 3), 0},
		{"other node", cluster("cluster-a", 4), kerr.RebootstrapRequired.Code},
		{"other cluster", cluster("cluster-b", 3), kerr.RebootstrapRequired.Code},
		{"node only", func(r *kmsg.ApiVersionsRequest) { r.NodeID = 3 }, kerr.InvalidRequest.Code},
	} {
		if r := ask(5, tc.edit); r.ErrorCode != tc.want {
			t.Errorf("v5 %s: error %d, want %d", tc.name, r.ErrorCode, tc.want)
		}
	}
}

// A response with a Throttle mutes its connection (KIP-219): the next
// request, pipelined behind it, is not handled before the throttle has
// passed, while other connections are served meanwhile; with
// ThrottleFirst the response itself is held.
func TestThrottleMutesConnection(t *testing.T) {
	const throttle = 2 * time.Second
	var mu sync.Mutex
	calls := map[string][]time.Time{}
	ts := startServer(t, map[int16]Handler{
		3: {MaxVersion: 12, Handle: func(_ context.Context, _ *ConnContext, req *protocol.Request) (Response, error) {
			mu.Lock()
			calls[*req.ClientID] = append(calls[*req.ClientID], time.Now())
			mu.Unlock()
			resp := req.Body.(*kmsg.MetadataRequest).ResponseKind().(*kmsg.MetadataResponse)
			switch *req.ClientID {
			case "muted":
				resp.ThrottleMillis = int32(throttle.Milliseconds())
				return Response{Msg: resp, Throttle: throttle}, nil
			case "held":
				resp.ThrottleMillis = int32(throttle.Milliseconds())
				return Response{Msg: resp, Throttle: throttle, ThrottleFirst: true}, nil
			}
			return Response{Msg: resp}, nil
		}},
	})
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	send := func(c net.Conn, corr int32, client string) {
		if _, err := c.Write(wiretest.Sized(wiretest.EncodeRequest(md, corr, wiretest.Str(client)))); err != nil {
			t.Fatal(err)
		}
	}
	muted := wiretest.Dial(t, ts.addr)
	send(muted, 1, "muted")
	send(muted, 2, "muted")
	if corr, _ := wiretest.ReadResponse(t, muted); corr != 1 {
		t.Fatalf("first response %d", corr)
	}
	// Another connection is served while the first is muted.
	other := wiretest.Dial(t, ts.addr)
	send(other, 1, "other")
	wiretest.ReadResponse(t, other)
	mu.Lock()
	early := len(calls["muted"])
	mu.Unlock()
	if early != 1 {
		t.Fatalf("muted connection's second request handled during the mute")
	}
	if corr, _ := wiretest.ReadResponse(t, muted); corr != 2 {
		t.Fatalf("second response %d", corr)
	}
	mu.Lock()
	gap := calls["muted"][1].Sub(calls["muted"][0])
	mu.Unlock()
	if gap < throttle {
		t.Fatalf("second request handled %v after the first, within the %v throttle", gap, throttle)
	}

	held := wiretest.Dial(t, ts.addr)
	sent := time.Now()
	send(held, 1, "held")
	wiretest.ReadResponse(t, held)
	if waited := time.Since(sent); waited < throttle {
		t.Fatalf("ThrottleFirst response after %v, before the %v throttle", waited, throttle)
	}
}
