package broker

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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
}
