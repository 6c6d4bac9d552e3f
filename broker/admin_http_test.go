package broker

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
)

// TestAdminEndpoints: the admin listener serves health, readiness and
// metrics; the profiler only when runnel.admin.pprof.enable is set.
func TestAdminEndpoints(t *testing.T) {
	get := func(t *testing.T, tb *testBroker, path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + tb.Broker.admin.ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	t.Run("default", func(t *testing.T) {
		tb := startTestBroker(t, "runnel.admin.listener=127.0.0.1:0")
		if code, body := get(t, tb, "/healthz"); code != 200 || body != "ok\n" {
			t.Errorf("/healthz: %d %q", code, body)
		}
		if code, body := get(t, tb, "/readyz"); code != 200 || body != "ready\n" {
			t.Errorf("/readyz: %d %q", code, body)
		}
		if code, body := get(t, tb, "/metrics"); code != 200 || !strings.Contains(body, "runnel_partitions") {
			t.Errorf("/metrics: %d, runnel_partitions missing", code)
		}
		// The quota metrics, one series per quota type (quotas.go).
		tb.quotas.note("producer_byte_rate", 1500*time.Millisecond)
		_, body := get(t, tb, "/metrics")
		for _, want := range []string{
			`runnel_quota_throttled_total{quota="producer_byte_rate"} 1`,
			`runnel_quota_throttle_seconds_total{quota="producer_byte_rate"} 1.5`,
			`runnel_quota_throttled_total{quota="consumer_byte_rate"} 0`,
			`runnel_quota_throttled_total{quota="request_percentage"} 0`,
			`runnel_quota_throttled_total{quota="controller_mutation_rate"} 0`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if code, _ := get(t, tb, "/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("/debug/pprof/ without runnel.admin.pprof.enable: %d, want 404", code)
		}
	})
	t.Run("pprof", func(t *testing.T) {
		tb := startTestBroker(t, "runnel.admin.listener=127.0.0.1:0", "runnel.admin.pprof.enable=true")
		if code, body := get(t, tb, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
			t.Errorf("/debug/pprof/ with runnel.admin.pprof.enable: %d", code)
		}
	})
	// A CPU profile still being taken when the broker stops is cut off
	// after the admin server's grace period; the broker's Close succeeds.
	t.Run("close during a profile", func(t *testing.T) {
		tb := startTestBroker(t, "runnel.admin.listener=127.0.0.1:0", "runnel.admin.pprof.enable=true")
		url := "http://" + tb.Broker.admin.ln.Addr().String() + "/debug/pprof/profile?seconds=120"
		sent := make(chan struct{})
		profileDone := make(chan struct{})
		go func() {
			defer close(profileDone)
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
			if err != nil {
				return
			}
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		<-sent
		// While that profile runs, another cannot start (500).
		testenv.Eventually(t, "the first profile being taken", func() bool {
			code, _ := get(t, tb, "/debug/pprof/profile?seconds=1")
			return code == http.StatusInternalServerError
		})
		if err := tb.Broker.Close(); err != nil {
			t.Errorf("Close with a profile in progress: %v", err)
		}
		<-profileDone
	})
}
