package network

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// HandlerFunc handles one request. It returns the response to send, or an
// error that closes the connection (reserve errors for conditions the
// protocol cannot express; report request failures as error codes in the
// response). ctx ends when the connection closes or the server stops.
type HandlerFunc func(ctx context.Context, cc *ConnContext, req *protocol.Request) (Response, error)

// Handler serves one API key from its Kafka 4 floor up to MaxVersion.
type Handler struct {
	MaxVersion int16
	Handle     HandlerFunc
}

// Response is what a handler sends back. Set exactly one of Msg and Frame;
// the zero Response sends nothing (acks=0 Produce).
type Response struct {
	// Msg is encoded at the request's version with the request's
	// correlation id and the right header version.
	Msg kmsg.Response
	// Frame is a complete pre-encoded response (protocol.EncodeFetchResponse)
	// whose record regions go out with sendfile.
	Frame *protocol.Frame
	// Done, if set, is called once the response has been written or
	// abandoned (for instance to release the segment regions of Frame).
	Done func()
	// CloseAfter, if set, closes the connection once the response is
	// written, with this reason (a failed SASL authentication).
	CloseAfter error
	// Throttle, when positive, mutes the connection for this long once
	// the response is written: its next requests are not read or handled
	// before it has passed (KIP-219; a quota violation, package quota).
	// The throttle time in Msg or Frame is the handler's to set.
	// With ThrottleFirst (a version from before KIP-219, whose clients do
	// not wait by themselves) the response itself is held for that long,
	// as Kafka did before KIP-219.
	Throttle      time.Duration
	ThrottleFirst bool
}

// parse decodes a frame. An ApiVersions request of a version the broker does
// not serve is refused from its header alone (KIP-511): its body may be in a
// layout no one here knows.
func (s *Server) parse(frame []byte) (*protocol.Request, error) {
	if key, version, corr, ok := protocol.PeekHeader(frame); ok && key == apiVersionsKey && !s.table.Supported(key, version) {
		return nil, &protocol.RequestError{Kind: protocol.ErrUnsupportedVersion, HasHeader: true,
			Key: key, Version: version, CorrelationID: corr}
	}
	return protocol.ParseRequest(frame)
}

// dispatch checks the request's version against the table, runs its handler
// and writes the response. A non-nil error closes the connection.
func (s *Server) dispatch(ctx context.Context, c *conn, req *protocol.Request) error {
	h, ok := s.handlers[req.Key]
	if !ok {
		return fmt.Errorf("API key %d (%s) not served by this broker", req.Key, kmsg.NameForKey(req.Key))
	}
	if !s.table.Supported(req.Key, req.Version) {
		return fmt.Errorf("unsupported version %d of %s", req.Version, kmsg.NameForKey(req.Key))
	}
	if c.sasl != nil {
		if err := c.sasl.gate(req.Key); err != nil { // sasl.go
			return err
		}
	}
	c.timer.Reset()
	c.clock.started = time.Now()
	resp, err := s.call(ctx, c.cc, h, req)
	c.clock.handled = time.Now()
	if resp.Done != nil {
		defer resp.Done()
	}
	if err != nil {
		return fmt.Errorf("%s v%d handler: %w", kmsg.NameForKey(req.Key), req.Version, err)
	}
	if isAuthFailure(resp.CloseAfter) {
		s.metrics.authFailure(c.cc.Listener)
		c.delayAuthFailure(ctx)
	}
	c.clock.throttle = resp.Throttle
	if resp.Throttle > 0 {
		c.mute(resp.Throttle)
		if resp.ThrottleFirst {
			held := time.Now()
			if err := c.waitUnmuted(ctx); err != nil {
				return err
			}
			// The hold is the throttle phase, not the send.
			c.clock.held = time.Since(held)
		}
	}
	switch {
	case resp.Frame != nil:
		c.startWrite()
		if _, err = resp.Frame.WriteTo(c.nc); err == nil {
			c.wrote()
		}
	case resp.Msg != nil:
		if resp.Msg.Key() != req.Key {
			return fmt.Errorf("%s handler returned a %s response", kmsg.NameForKey(req.Key), kmsg.NameForKey(resp.Msg.Key()))
		}
		s.metrics.countResponse(req.Key, resp.Msg)
		c.wbuf = protocol.AppendResponse(c.wbuf[:0], req.Key, req.Version, req.CorrelationID, resp.Msg)
		err = c.write(c.wbuf)
		if cap(c.wbuf) > maxKeptWriteBuf {
			c.wbuf = nil
		}
	}
	if err != nil {
		return fmt.Errorf("writing %s v%d response: %w", kmsg.NameForKey(req.Key), req.Version, err)
	}
	if resp.Frame != nil || resp.Msg != nil {
		c.clock.sent = time.Now()
	}
	return resp.CloseAfter
}

// call runs a handler, turning a panic into an error that closes only this
// connection.
func (s *Server) call(ctx context.Context, cc *ConnContext, h Handler, req *protocol.Request) (resp Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			cc.Log.Error("handler panic", zap.String("api", kmsg.NameForKey(req.Key)), zap.Int16("version", req.Version),
				zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			resp, err = Response{}, fmt.Errorf("panic: %v", p)
		}
	}()
	return h.Handle(ctx, cc, req)
}

// isAPIVersionsUnsupported reports an ApiVersions request whose version the
// broker cannot decode: it gets a KIP-511 answer instead of a closed socket.
func isAPIVersionsUnsupported(err error) bool {
	var re *protocol.RequestError
	return errors.As(err, &re) && errors.Is(err, protocol.ErrUnsupportedVersion) && re.HasHeader && re.Key == apiVersionsKey
}
