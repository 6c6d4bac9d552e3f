package steptime

import (
	"testing"
	"time"
)

func TestStepsInOrder(t *testing.T) {
	s := Start()
	time.Sleep(2 * time.Millisecond)
	s.Step("first")
	s.Step("second")
	f := s.Fields()
	if len(f) != 2 || f[0].Key != "first" || f[1].Key != "second" {
		t.Fatalf("fields %+v", f)
	}
	if d := time.Duration(f[0].Integer); d < 2*time.Millisecond || s.Took() < d {
		t.Fatalf("first step %v, took %v", d, s.Took())
	}
}
