package kafkaproxy

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeBroker answers ApiVersions and Metadata on 127.0.0.1:0, advertising
// itself, as a single-node broker does.
type fakeBroker struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startFakeBroker(t *testing.T) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				b.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *fakeBroker) serve(c net.Conn) {
	r := bufio.NewReader(c)
	a := b.ln.Addr().(*net.TCPAddr)
	for {
		frame, err := readFrame(r)
		if err != nil {
			return
		}
		rd := kbin.Reader{Src: frame}
		key, version, corr := rd.Int16(), rd.Int16(), rd.Int32()
		rd.NullableString()
		var resp kmsg.Response
		switch key {
		case 18:
			v := kmsg.NewPtrApiVersionsResponse()
			if version > 4 { // KIP-511: a v0 answer with the supported range
				version = 0
				v.ErrorCode = 35
			}
			for _, k := range []int16{0, 3, 18} {
				ak := kmsg.NewApiVersionsResponseApiKey()
				ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, 0, 12
				v.ApiKeys = append(v.ApiKeys, ak)
			}
			resp = v
		case 3:
			m := kmsg.NewPtrMetadataResponse()
			br := kmsg.NewMetadataResponseBroker()
			br.NodeID, br.Host, br.Port = 1, "127.0.0.1", int32(a.Port)
			m.Brokers = append(m.Brokers, br)
			resp = m
		default:
			continue // no answer, as for acks=0
		}
		resp.SetVersion(version)
		out := binary.BigEndian.AppendUint32(nil, uint32(corr))
		if resp.IsFlexible() && key != 18 {
			out = append(out, 0)
		}
		if err := writeFrame(c, resp.AppendTo(out)); err != nil {
			return
		}
	}
}

func roundTrip(t *testing.T, c net.Conn, r io.Reader, reqs ...kmsg.Request) []kmsg.Response {
	t.Helper()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("proxy-test"))
	// Pipelined: every request goes out before the first answer is read.
	for i, req := range reqs {
		if _, err := c.Write(f.AppendRequest(nil, req, int32(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	var out []kmsg.Response
	for i, req := range reqs {
		frame, err := readFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		rd := kbin.Reader{Src: frame}
		if corr := rd.Int32(); corr != int32(i+1) {
			t.Fatalf("correlation id %d, want %d", corr, i+1)
		}
		if req.IsFlexible() && req.Key() != 18 {
			kmsg.SkipTags(&rd)
		}
		resp := req.ResponseKind()
		resp.SetVersion(req.GetVersion())
		if req.Key() == 18 && len(rd.Src) >= 2 && binary.BigEndian.Uint16(rd.Src) == 35 {
			resp.SetVersion(0)
		}
		if err := resp.ReadFrom(rd.Src); err != nil {
			t.Fatal(err)
		}
		out = append(out, resp)
	}
	return out
}

func TestProxyRecordsAndRewrites(t *testing.T) {
	b := startFakeBroker(t)
	p, err := New(b.ln.Addr().String(), Options{MaxVersions: map[int16]int16{3: 9}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A version the broker does not serve is answered at v0.
	tooNew := kmsg.NewPtrApiVersionsRequest()
	tooNew.SetVersion(5)
	tooNew.ClientSoftwareName, tooNew.ClientSoftwareVersion = "t", "1"
	unsupported := roundTrip(t, c, bufio.NewReader(c), tooNew)[0].(*kmsg.ApiVersionsResponse)
	if unsupported.ErrorCode != 35 || len(unsupported.ApiKeys) != 3 {
		t.Errorf("ApiVersions v5 answered %+v, want UNSUPPORTED_VERSION and the broker's table", unsupported)
	}
	if ex := p.Exchanges(); len(ex) != 1 || ex[0].Err != nil || len(ex[0].Response.(*kmsg.ApiVersionsResponse).ApiKeys) != 3 {
		t.Errorf("recorded %+v, want the v0 answer decoded", ex)
	}
	p.Reset()

	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "t", "1"
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	old := kmsg.NewPtrMetadataRequest()
	old.SetVersion(4) // not flexible
	resps := roundTrip(t, c, bufio.NewReader(c), av, md, old)

	for _, k := range resps[0].(*kmsg.ApiVersionsResponse).ApiKeys {
		want := int16(12)
		if k.ApiKey == 3 {
			want = 9
		}
		if k.MaxVersion != want {
			t.Errorf("api key %d: max version %d, want %d", k.ApiKey, k.MaxVersion, want)
		}
	}
	pa := p.ln.Addr().(*net.TCPAddr)
	for _, r := range resps[1:] {
		br := r.(*kmsg.MetadataResponse).Brokers[0]
		if br.Host != "127.0.0.1" || br.Port != int32(pa.Port) {
			t.Errorf("advertised %s:%d, want the proxy %s", br.Host, br.Port, p.Addr())
		}
	}

	// A request the broker does not answer is recorded without a response.
	f := kmsg.NewRequestFormatter()
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.SetVersion(4)
	if _, err := c.Write(f.AppendRequest(nil, hb, 9)); err != nil {
		t.Fatal(err)
	}
	resps = roundTrip(t, c, bufio.NewReader(c), md) // correlation id 1 again; the heartbeat's 9 stays pending
	if len(resps) != 1 {
		t.Fatal("no answer")
	}

	ex := p.Exchanges()
	if len(ex) != 5 {
		t.Fatalf("%d exchanges, want 5", len(ex))
	}
	for i, want := range []struct {
		key, version int16
		answered     bool
	}{{18, 3, true}, {3, 12, true}, {3, 4, true}, {12, 4, false}, {3, 12, true}} {
		e := ex[i]
		if e.Key != want.key || e.Version != want.version || e.Seq != i || e.Err != nil || e.Request == nil ||
			(e.Response != nil) != want.answered {
			t.Errorf("exchange %d: %+v, want key %d v%d answered %v", i, e, want.key, want.version, want.answered)
		}
	}
	if ex[0].ClientID != "proxy-test" {
		t.Errorf("client id %q", ex[0].ClientID)
	}
}

func TestProxyCloseEndsConnections(t *testing.T) {
	b := startFakeBroker(t)
	p, err := New(b.ln.Addr().String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	av := kmsg.NewPtrApiVersionsRequest()
	roundTrip(t, c, bufio.NewReader(c), av)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Close")
	}
}
