package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout. Values (nanoseconds) below 2*subCount land in a bucket
// of their own; above that, every power-of-two range [2^k, 2^(k+1)) is split
// into subCount equal buckets, so a bucket is never wider than 1/subCount of
// its lower bound: with subBits = 7 the relative error is under 0.8%.
//
// Index of value v ≥ 2*subCount: shift = bitlen(v) - (subBits+1), mantissa
// m = v >> shift in [subCount, 2*subCount), index = subCount*(shift+1) +
// (m - subCount). With shift = 0 the formula yields v itself, so the exact
// and the log-linear ranges meet without a gap. The largest shift is
// 64-(subBits+1), so every uint64 fits in subCount*(64-subBits+1) buckets.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = subCount * (64 - subBits + 1)
)

// Histogram records durations and answers percentile questions about them.
// It is safe for concurrent use: Record takes no lock (atomic adds only), so
// produce callbacks running on several client goroutines can share one.
// The zero value is not ready; use NewHistogram.
type Histogram struct {
	counts []atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; overflows only after ~584 years of latency
	min    atomic.Uint64
	max    atomic.Uint64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{counts: make([]atomic.Uint64, numBuckets)}
	h.min.Store(math.MaxUint64)
	return h
}

// bucketIndex maps a value to its bucket.
func bucketIndex(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	m := v >> uint(shift)
	return subCount*(shift+1) + int(m-subCount)
}

// bucketBounds returns the smallest and largest value that map to bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	shift := i/subCount - 1
	m := uint64(i%subCount + subCount)
	lo = m << uint(shift)
	hi = lo + (uint64(1) << uint(shift)) - 1
	return lo, hi
}

// Record adds one observation. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketIndex(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		cur := h.min.Load()
		if v >= cur || h.min.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Min is the smallest observation, 0 when empty.
func (h *Histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

// Max is the largest observation, 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the arithmetic mean of the observations, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value at quantile q (0.5 for the median, 0.999 for
// p999): the largest value equivalent to the bucket holding the
// ceil(q*count)-th observation, clamped to the observed min and max, so it
// overstates the true value by less than 1%. q is clamped to [0, 1]; an
// empty histogram answers 0.
//
// Call it once recording has stopped; concurrent Records make the answer
// approximate, not wrong in a harmful way.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	if q < 0 || math.IsNaN(q) {
		q = 0
	}
	if q > 1 {
		q = 1
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			return h.clamp(hi)
		}
	}
	return h.Max()
}

func (h *Histogram) clamp(v uint64) time.Duration {
	if mx := h.max.Load(); v > mx {
		v = mx
	}
	if mn := h.min.Load(); v < mn {
		v = mn
	}
	return time.Duration(v)
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.Count() == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	mn, mx := o.min.Load(), o.max.Load()
	for {
		cur := h.min.Load()
		if mn >= cur || h.min.CompareAndSwap(cur, mn) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if mx <= cur || h.max.CompareAndSwap(cur, mx) {
			break
		}
	}
}

// Summary is the fixed set of figures a Result reports for a histogram.
type Summary struct {
	Count               uint64
	Min, Mean, Max      time.Duration
	P50, P90, P99, P999 time.Duration
}

// Summary returns the histogram's count, extremes and percentiles.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.Count(),
		Min:   h.Min(),
		Mean:  h.Mean(),
		Max:   h.Max(),
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		P999:  h.Quantile(0.999),
	}
}
