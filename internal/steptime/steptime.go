// Package steptime times the steps of a long operation (a broker's
// shutdown, a log dir's close) so that it can say where its time went
// when it took a while: one zap field per step.
package steptime

import (
	"time"

	"go.uber.org/zap"
)

// Steps records the time between calls of Step. Not safe for concurrent
// use: one operation's own goroutine calls it.
type Steps struct {
	start, last time.Time
	fields      []zap.Field
}

// Start begins timing at now.
func Start() *Steps {
	now := time.Now()
	return &Steps{start: now, last: now}
}

// Step ends the step called name, begun at the previous Step (or Start).
func (s *Steps) Step(name string) {
	now := time.Now()
	s.fields = append(s.fields, zap.Duration(name, now.Sub(s.last)))
	s.last = now
}

// Took is the time since Start.
func (s *Steps) Took() time.Duration { return time.Since(s.start) }

// Fields are the steps so far, one duration field each, in order.
func (s *Steps) Fields() []zap.Field { return s.fields }
