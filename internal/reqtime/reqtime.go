// Package reqtime lets code below the network layer report how long a
// request spent waiting rather than working, so that the request metrics
// can split a handler's time the way Kafka's RequestMetrics do: LocalTimeMs
// (working) and RemoteTimeMs (in purgatory: acks=all waiting for the ISR,
// a fetch long-polling for data). ThrottleTimeMs is the network layer's
// own: the quota throttle a response carries (network.Response.Throttle).
//
// The network layer puts one Timer per connection into the connection's
// context (requests of one connection are handled one at a time) and
// resets it before each request; the replica package adds the time its
// waits take. Looking the Timer up is a context Value walk: no allocation.
package reqtime

import (
	"context"
	"sync/atomic"
	"time"
)

// Timer accumulates the waiting time of the request being handled.
type Timer struct {
	remote atomic.Int64 // nanoseconds
}

// Reset clears the timer before a request is handled.
func (t *Timer) Reset() {
	t.remote.Store(0)
}

// Remote is the purgatory time recorded since Reset.
func (t *Timer) Remote() time.Duration { return time.Duration(t.remote.Load()) }

type timerKey struct{}

// With returns ctx carrying t.
func With(ctx context.Context, t *Timer) context.Context {
	return context.WithValue(ctx, timerKey{}, t)
}

func from(ctx context.Context) *Timer {
	t, _ := ctx.Value(timerKey{}).(*Timer)
	return t
}

// RemoteOf is the purgatory time recorded so far for the request ctx
// belongs to (0 without a Timer).
func RemoteOf(ctx context.Context) time.Duration {
	if t := from(ctx); t != nil {
		return t.Remote()
	}
	return 0
}

// AddRemote records d of waiting in purgatory for the request ctx belongs
// to; without a Timer in ctx (an internal caller) it does nothing.
func AddRemote(ctx context.Context, d time.Duration) {
	if t := from(ctx); t != nil {
		t.remote.Add(int64(d))
	}
}
