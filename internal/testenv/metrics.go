package testenv

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a Prometheus /metrics endpoint, by family name.
type Metrics map[string]*dto.MetricFamily

// ScrapeMetrics fetches and parses the text exposition at url.
func ScrapeMetrics(t testing.TB, url string) Metrics {
	t.Helper()
	m, err := TryScrapeMetrics(url)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TryScrapeMetrics is ScrapeMetrics returning its error (for use inside
// Eventually).
func TryScrapeMetrics(url string) (Metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	return Metrics(fams), nil
}

// Value is the value of the series of family name whose labels include
// the given name/value pairs, summed over every matching series (a
// counter, gauge or untyped value; a histogram's count). ok is false when
// no series matches.
func (m Metrics) Value(name string, labels ...string) (v float64, ok bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
	for _, s := range f.Metric {
		if !hasLabels(s, labels) {
			continue
		}
		ok = true
		switch {
		case s.Counter != nil:
			v += s.Counter.GetValue()
		case s.Gauge != nil:
			v += s.Gauge.GetValue()
		case s.Untyped != nil:
			v += s.Untyped.GetValue()
		case s.Histogram != nil:
			v += float64(s.Histogram.GetSampleCount())
		}
	}
	return v, ok
}

func hasLabels(s *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range s.Label {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
