package quota

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestRateSteady(t *testing.T) {
	r := NewRate(DefaultWindow)
	// 1,000 per second in 100 ms steps for 30 s.
	var now time.Time
	for i := range 300 {
		now = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		r.Record(100, now)
	}
	if v := r.Value(now); math.Abs(v-1000) > 1000*0.1 {
		t.Errorf("steady rate %.0f, want about 1000", v)
	}
}

func TestRateFirstBurstCountsOverTenWindows(t *testing.T) {
	r := NewRate(DefaultWindow)
	r.Record(1000, t0)
	if v := r.Value(t0); v != 100 {
		t.Errorf("first burst: %v per second, want 1000 over (11-1) windows = 100", v)
	}
	// Eleven windows later the burst has aged out.
	if v := r.Value(t0.Add(12 * time.Second)); v != 0 {
		t.Errorf("after the span: %v, want 0", v)
	}
}

func TestThrottleTime(t *testing.T) {
	r := NewRate(DefaultWindow)
	r.Record(2000, t0) // 200/s over the 10 s minimum span
	if d := r.ThrottleTime(100, t0); d != 10*time.Second {
		t.Errorf("throttle %v, want (200-100)/100 × 10 s = 10 s", d)
	}
	if d := r.ThrottleTime(500, t0); d != 0 {
		t.Errorf("within quota: throttle %v", d)
	}
}

// TestObedientClientConvergesToQuota: a client that waits out every
// throttle time it is given moves data at its quota.
func TestObedientClientConvergesToQuota(t *testing.T) {
	for _, quota := range []float64{50_000, 5_000_000} {
		m := NewManager(ProducerByteRate, DefaultWindow)
		m.SetQuotas(map[Entity]float64{{User: Named("alice")}: quota})
		now := t0
		var sent float64
		const chunk = 16_384
		for now.Sub(t0) < 60*time.Second {
			sent += chunk
			throttle := m.Record("alice", "producer-1", chunk, now)
			now = now.Add(time.Millisecond + throttle)
		}
		got := sent / now.Sub(t0).Seconds()
		if math.Abs(got-quota)/quota > 0.2 {
			t.Errorf("quota %.0f B/s: client moved %.0f B/s", quota, got)
		}
	}
}

func TestResolution(t *testing.T) {
	type q = map[Entity]float64
	u, c := Named("alice"), Named("app")
	cases := []struct {
		name   string
		quotas q
		tags   Tags
		limit  float64
		has    bool
	}{
		{"none", q{}, Tags{ClientID: "app"}, 0, false},
		{"client id only", q{{ClientID: c}: 1}, Tags{ClientID: "app"}, 1, true},
		{"default client id only", q{{ClientID: DefaultName}: 2}, Tags{ClientID: "app"}, 2, true},
		{"user only: shared by the user's clients", q{{User: u}: 3}, Tags{User: "alice"}, 3, true},
		{"default user: per user", q{{User: DefaultName}: 4}, Tags{User: "alice"}, 4, true},
		{"user and client id", q{{u, c}: 5}, Tags{"alice", "app"}, 5, true},
		{"1 beats 2..8", q{{u, c}: 1, {u, DefaultName}: 2, {User: u}: 3, {DefaultName, c}: 4, {DefaultName, DefaultName}: 5, {User: DefaultName}: 6, {ClientID: c}: 7, {ClientID: DefaultName}: 8}, Tags{"alice", "app"}, 1, true},
		{"2 beats 3..8", q{{u, DefaultName}: 2, {User: u}: 3, {DefaultName, c}: 4, {User: DefaultName}: 6, {ClientID: c}: 7}, Tags{"alice", "app"}, 2, true},
		{"3 beats 4..8", q{{User: u}: 3, {DefaultName, c}: 4, {DefaultName, DefaultName}: 5, {ClientID: c}: 7}, Tags{User: "alice"}, 3, true},
		{"4 beats 5..8", q{{DefaultName, c}: 4, {DefaultName, DefaultName}: 5, {User: DefaultName}: 6, {ClientID: c}: 7, {User: Named("bob")}: 9}, Tags{"alice", "app"}, 4, true},
		{"5 beats 6..8", q{{DefaultName, DefaultName}: 5, {User: DefaultName}: 6, {ClientID: c}: 7, {User: Named("bob")}: 9}, Tags{"alice", "app"}, 5, true},
		{"6 beats 7..8", q{{User: DefaultName}: 6, {ClientID: c}: 7, {Named("bob"), c}: 9}, Tags{User: "alice"}, 6, true},
		{"7 beats 8", q{{ClientID: c}: 7, {ClientID: DefaultName}: 8, {Named("bob"), c}: 9}, Tags{ClientID: "app"}, 7, true},
		{"8", q{{ClientID: DefaultName}: 8, {Named("bob"), c}: 9}, Tags{ClientID: "app"}, 8, true},
		{"another user's quota only", q{{User: Named("bob")}: 9, {Named("bob"), c}: 9}, Tags{ClientID: "app"}, 0, false},
	}
	for _, tc := range cases {
		r := newResolver(tc.quotas)
		tags := r.tags("alice", "app")
		if tags != tc.tags {
			t.Errorf("%s: tags %+v, want %+v", tc.name, tags, tc.tags)
			continue
		}
		limit, ok := r.limit(tags)
		if ok != tc.has || limit != tc.limit {
			t.Errorf("%s: limit %v %v, want %v %v", tc.name, limit, ok, tc.limit, tc.has)
		}
	}
}

func TestManagerWithoutQuotasRecordsNothing(t *testing.T) {
	m := NewManager(ConsumerByteRate, DefaultWindow)
	if d := m.Record("alice", "app", 1e12, t0); d != 0 {
		t.Errorf("throttle without quotas: %v", d)
	}
	if n := m.Sensors(); n != 0 {
		t.Errorf("%d sensors without quotas", n)
	}
}

func TestManagerUnrecordAndMax(t *testing.T) {
	m := NewManager(ConsumerByteRate, DefaultWindow)
	m.SetQuotas(map[Entity]float64{{ClientID: DefaultName}: 100})
	if d := m.Record("", "app", 5000, t0); d == 0 {
		t.Fatal("5000 bytes at 100 B/s not throttled")
	}
	m.Unrecord("", "app", 5000, t0)
	if d := m.Record("", "app", 1, t0); d != 0 {
		t.Errorf("after unrecord: throttle %v", d)
	}
	if max, ok := m.MaxValueInWindow("", "app"); !ok || max != 1000 {
		t.Errorf("MaxValueInWindow = %v %v, want 100 × 10 s", max, ok)
	}
	// Idle sensors go away.
	m.Record("", "other", 1, t0.Add(2*sensorIdle))
	if n := m.Sensors(); n != 1 {
		t.Errorf("%d sensors after the idle sweep, want 1", n)
	}
}

// BenchmarkRecordNotBinding is the produce path's cost when quotas exist
// but the client is well within its own.
func BenchmarkRecordNotBinding(b *testing.B) {
	m := NewManager(ProducerByteRate, DefaultWindow)
	m.SetQuotas(map[Entity]float64{{User: DefaultName}: 1e15, {User: Named("bob")}: 1e6})
	now := t0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if m.Record("alice", "app", 16384, now) != 0 {
			b.Fatal("throttled")
		}
	}
}

func BenchmarkRecordNoQuotas(b *testing.B) {
	m := NewManager(ProducerByteRate, DefaultWindow)
	for b.Loop() {
		m.Record("alice", "app", 16384, t0)
	}
}
