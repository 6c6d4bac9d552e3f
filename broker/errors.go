package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// errorCode is the Kafka error code a handler answers with for err. The
// packages below the broker return *kerr.Error values, often wrapped with
// context (controller: fmt.Errorf("%w: …", kerr.X)), so this unwraps. A
// deadline becomes REQUEST_TIMED_OUT; anything else unexpected is
// UNKNOWN_SERVER_ERROR, as Kafka answers for an exception it did not map.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the message to send beside errorCode(err) in responses
// that carry one: nil for success, otherwise the error's text.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
