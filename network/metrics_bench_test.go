package network

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkRequestMetrics is what the metrics add to one request: the
// phase timings and the error-code walk of a Produce response with six
// partitions (go test -run '^$' -bench RequestMetrics -benchmem ./network/).
// It must not allocate.
func BenchmarkRequestMetrics(b *testing.B) {
	s := &Server{}
	s.metrics = newMetrics(s)
	m := s.metrics
	c := &conn{s: s}
	resp := kmsg.NewPtrProduceResponse()
	t := kmsg.NewProduceResponseTopic()
	for i := 0; i < 6; i++ {
		t.Partitions = append(t.Partitions, kmsg.NewProduceResponseTopicPartition())
	}
	resp.Topics = append(resp.Topics, t)
	now := time.Now()
	clk := requestClock{received: now, started: now.Add(time.Microsecond), handled: now.Add(50 * time.Microsecond), sent: now.Add(60 * time.Microsecond)}
	b.ReportAllocs()
	for b.Loop() {
		c.timer.Reset()
		m.countResponse(0, resp)
		m.observe(c, 0, &clk)
	}
}
