package quota

import "time"

// Window is how rates are measured (quota.window.num,
// quota.window.size.seconds).
type Window struct {
	Samples int
	Size    time.Duration
}

// DefaultWindow is Kafka's: 11 samples of one second.
var DefaultWindow = Window{Samples: 11, Size: time.Second}

// Rate is a windowed rate of recorded values per second. It is not safe
// for concurrent use; a Manager serializes access.
type Rate struct {
	w       Window
	samples []sample // a ring of at most w.Samples
	current int
}

type sample struct {
	start time.Time // when this window began
	total float64
}

// NewRate is an empty rate over w.
func NewRate(w Window) *Rate { return &Rate{w: w} }

// Record adds v at now.
func (r *Rate) Record(v float64, now time.Time) {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: now})
	}
	s := &r.samples[r.current]
	if now.Sub(s.start) >= r.w.Size {
		r.current = (r.current + 1) % r.w.Samples
		if r.current >= len(r.samples) {
			r.samples = append(r.samples, sample{start: now})
		} else {
			r.samples[r.current] = sample{start: now}
		}
		s = &r.samples[r.current]
	}
	s.total += v
}

// span is the time the live windows cover, at least Samples-1 windows.
func (r *Rate) span(now time.Time) time.Duration {
	_, span := r.totalAndSpan(now)
	return span
}

// totalAndSpan purges, then sums the live windows and finds their span,
// in one pass (it runs on every request of a client with a quota).
func (r *Rate) totalAndSpan(now time.Time) (float64, time.Duration) {
	expire := time.Duration(r.w.Samples) * r.w.Size
	oldest := now
	var total float64
	for i := range r.samples {
		s := &r.samples[i]
		if now.Sub(s.start) >= expire {
			*s = sample{start: now}
			continue
		}
		total += s.total
		if s.start.Before(oldest) {
			oldest = s.start
		}
	}
	elapsed := now.Sub(oldest)
	full := int(elapsed / r.w.Size)
	if least := r.w.Samples - 1; full < least {
		elapsed += time.Duration(least-full) * r.w.Size
	}
	return total, elapsed
}

// Value is the rate at now, per second.
func (r *Rate) Value(now time.Time) float64 {
	v, _ := r.valueAndSpan(now)
	return v
}

func (r *Rate) valueAndSpan(now time.Time) (float64, time.Duration) {
	total, span := r.totalAndSpan(now)
	return total / span.Seconds(), span
}

// ThrottleTime is how long the client must wait for the rate at now to
// fall back to limit if nothing more is recorded: (rate-limit)/limit ×
// the span the rate is measured over. Zero within the limit.
func (r *Rate) ThrottleTime(limit float64, now time.Time) time.Duration {
	v, span := r.valueAndSpan(now)
	if v <= limit {
		return 0
	}
	if limit <= 0 {
		// A zero quota: throttle for the whole window span.
		return span
	}
	d := (v - limit) / limit * float64(span)
	return time.Duration(d).Round(time.Millisecond)
}
