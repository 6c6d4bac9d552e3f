package testenv

import (
	"testing"
	"time"
)

// PollTimeout bounds Eventually: long enough for a loaded 2-core CI
// machine to elect leaders and expire a broker lease, short enough that a
// hung test fails with its own message before the package's -timeout.
const PollTimeout = 45 * time.Second

// pollInterval is how often Eventually re-checks its condition.
const pollInterval = 20 * time.Millisecond

// Eventually polls cond until it holds and fails the test, naming what it
// waited for, after PollTimeout.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, PollTimeout, what, cond)
}

// EventuallyWithin is Eventually with its own bound, for waits that the
// scenario itself limits (a lease that must expire, a delay that must pass).
func EventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(pollInterval)
	}
}
