package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestBucketIndexBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.OneOf(
			rapid.Uint64Range(0, 4*subCount),
			rapid.Uint64Range(0, uint64(time.Hour)),
			rapid.Uint64(),
		).Draw(t, "v")
		i := bucketIndex(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketIndex(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		lo, hi := bucketBounds(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d with bounds [%d, %d]", v, i, lo, hi)
		}
		if lo >= 2*subCount && float64(hi-lo+1) > float64(lo)/subCount {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its lower bound", i, lo, hi, subCount)
		}
	})
}

func TestBucketsContiguous(t *testing.T) {
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if lo > hi {
			t.Fatalf("bucket %d: lo %d > hi %d", i, lo, hi)
		}
		if bucketIndex(lo) != i || bucketIndex(hi) != i {
			t.Fatalf("bucket %d [%d, %d] maps back to %d, %d", i, lo, hi, bucketIndex(lo), bucketIndex(hi))
		}
		if i+1 < numBuckets {
			next, _ := bucketBounds(i + 1)
			if next != hi+1 {
				t.Fatalf("gap between bucket %d (hi %d) and %d (lo %d)", i, hi, i+1, next)
			}
		} else if hi != math.MaxUint64 {
			t.Fatalf("last bucket ends at %d, not MaxUint64", hi)
		}
	}
}

func TestHistogramEmpty(t *testing.T) {
	h := NewHistogram()
	if s := h.Summary(); s != (Summary{}) {
		t.Fatalf("empty summary = %+v", s)
	}
}

func TestHistogramExactSmallValues(t *testing.T) {
	h := NewHistogram()
	for v := 100; v >= 1; v-- {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.99, 99}, {0.999, 100}, {1, 100}, {-3, 1}, {7, 100}, {math.NaN(), 1}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	s := h.Summary()
	if s.Count != 100 || s.Min != 1 || s.Max != 100 || s.Mean != 50 {
		t.Fatalf("summary = %+v", s)
	}
}

func TestHistogramNegativeIsZero(t *testing.T) {
	h := NewHistogram()
	h.Record(-time.Second)
	if h.Min() != 0 || h.Max() != 0 || h.Quantile(1) != 0 || h.Count() != 1 {
		t.Fatalf("negative duration: min %v max %v p100 %v", h.Min(), h.Max(), h.Quantile(1))
	}
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	vals := make([]time.Duration, 200_000)
	for i := range vals {
		// Log-normal around 1 ms with a long tail, as latencies are.
		vals[i] = time.Duration(math.Exp(r.NormFloat64()*1.5) * float64(time.Millisecond))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		want, got := exactQuantile(vals, q), h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("Quantile(%v) = %v, exact %v: off by more than 1/%d", q, got, want, subCount)
		}
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
}

func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for i := range 10_000 {
		v := time.Duration(r.Int64N(int64(50 * time.Millisecond)))
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	if a.Summary() != all.Summary() {
		t.Fatalf("merged %+v, recorded together %+v", a.Summary(), all.Summary())
	}
	empty := NewHistogram()
	empty.Merge(all)
	if empty.Summary() != all.Summary() {
		t.Fatalf("merged into empty %+v, want %+v", empty.Summary(), all.Summary())
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000 + i + 1))
			}
		})
	}
	wg.Wait()
	if h.Count() != 8000 || h.Min() != 1 || h.Max() != 8000 {
		t.Fatalf("count %d min %v max %v", h.Count(), h.Min(), h.Max())
	}
	if p := h.Quantile(0.5); p < 4000 || p > 4000+4000/subCount {
		t.Fatalf("median %v", p)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
}
