package network

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/runnel/runnel/internal/reqtime"
	"github.com/runnel/runnel/internal/testenv"
	"github.com/runnel/runnel/internal/wiretest"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gather returns the value of the series of family name carrying the
// given label pairs: a counter's or gauge's value, a histogram's count
// and sum.
func gather(t *testing.T, s *Server, name string, labels ...string) (value, sum float64, ok bool) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Metrics())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), 0, true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), 0, true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), m.Histogram.GetSampleSum(), true
			}
		}
	}
	return 0, 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, lp := range m.Label {
		if lp.GetName() == name && lp.GetValue() == value {
			return true
		}
	}
	return false
}

// TestRequestMetrics: a request is counted under its API, each error code
// of its response once per partition, and its time in every phase, the
// purgatory time the handler reported through reqtime going to "remote".
func TestRequestMetrics(t *testing.T) {
	const waited = 20 * time.Millisecond
	ts := startServer(t, map[int16]Handler{
		3: {MaxVersion: 12, Handle: func(ctx context.Context, _ *ConnContext, req *protocol.Request) (Response, error) {
			reqtime.AddRemote(ctx, waited)
			resp := req.Body.(*kmsg.MetadataRequest).ResponseKind().(*kmsg.MetadataResponse)
			for _, code := range []int16{0, kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicOrPartition.Code} {
				tp := kmsg.NewMetadataResponseTopic()
				tp.ErrorCode = code
				resp.Topics = append(resp.Topics, tp)
			}
			return Response{Msg: resp}, nil
		}},
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatal(err)
	}
	s := ts.Server
	// The server records a request after writing its response, so the
	// client can read the answer first: wait for the last phase recorded.
	testenv.Eventually(t, "the Metadata request recorded", func() bool {
		n, _, _ := gather(t, s, "runnel_request_duration_seconds", "api", "Metadata", "phase", "total")
		return n == 1
	})
	if v, _, _ := gather(t, s, "runnel_requests_total", "api", "Metadata"); v != 1 {
		t.Errorf("Metadata requests %v, want 1", v)
	}
	if v, _, _ := gather(t, s, "runnel_request_errors_total", "api", "Metadata", "error", "UNKNOWN_TOPIC_OR_PARTITION"); v != 2 {
		t.Errorf("UNKNOWN_TOPIC_OR_PARTITION answers %v, want 2", v)
	}
	// Every ErrorCode field counts: the one topic without an error and
	// the response's top-level code (Metadata v13+).
	if v, _, _ := gather(t, s, "runnel_request_errors_total", "api", "Metadata", "error", "NONE"); v != 2 {
		t.Errorf("NONE answers %v, want 2", v)
	}
	for _, phase := range phaseNames {
		if n, _, ok := gather(t, s, "runnel_request_duration_seconds", "api", "Metadata", "phase", phase); !ok || n != 1 {
			t.Errorf("phase %s: %v observations, want 1", phase, n)
		}
	}
	if _, sum, _ := gather(t, s, "runnel_request_duration_seconds", "api", "Metadata", "phase", "remote"); sum != waited.Seconds() {
		t.Errorf("remote time %v s, want the %v the handler reported", sum, waited)
	}
	if v, _, _ := gather(t, s, "runnel_connections", "listener", "PLAINTEXT"); v != 1 {
		t.Errorf("open connections %v, want 1", v)
	}
	if v, _, _ := gather(t, s, "runnel_request_memory_pool_available_bytes"); v != -1 {
		t.Errorf("memory pool %v without queued.max.request.bytes, want -1", v)
	}
}

// TestIdleCloseCounted: a connection closed by connections.max.idle.ms is
// counted as created, closed and idle-closed, and no longer open.
func TestIdleCloseCounted(t *testing.T) {
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
	want := map[string]float64{"runnel_connections_idle_closed_total": 1, "runnel_connections_created_total": 1, "runnel_connections_closed_total": 1, "runnel_connections": 0}
	testenv.Eventually(t, "the idle close counted", func() bool {
		for name, w := range want {
			if v, _, _ := gather(t, s, name, "listener", "PLAINTEXT"); v != w {
				return false
			}
		}
		return true
	})
}
