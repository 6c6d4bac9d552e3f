package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kinds of request decoding failure; test with errors.Is.
var (
	// ErrUnknownKey: the API key is not one kmsg (and so Runnel) knows.
	ErrUnknownKey = errors.New("protocol: unknown API key")
	// ErrUnsupportedVersion: the version is below the Kafka 4 floor of the
	// key or above the highest version kmsg can decode.
	ErrUnsupportedVersion = errors.New("protocol: unsupported API version")
	// ErrMalformed: the header or body does not decode.
	ErrMalformed = errors.New("protocol: malformed request")
)

// Request is one decoded request: its header and its kmsg body.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	// Body is the decoded kmsg request, its version set to Version. Byte
	// fields alias the frame it was parsed from.
	Body kmsg.Request
	// Flexible reports a flexible version (request header v2, response
	// header v1 except for ApiVersions).
	Flexible bool
	// Size is the request's size on the wire (the frame without its
	// 4-byte size prefix): what a produce quota charges, as Kafka's
	// request.sizeInBytes.
	Size int
}

// RequestError is the error ParseRequest returns. Kind is ErrUnknownKey,
// ErrUnsupportedVersion or ErrMalformed. When HasHeader is true, Key,
// Version and CorrelationID were read from the frame and a response can be
// addressed to the request (KIP-511 for ApiVersions).
type RequestError struct {
	Kind          error
	HasHeader     bool
	Key           int16
	Version       int16
	CorrelationID int32
	// Cause is the underlying decoding error, if any.
	Cause error
}

func (e *RequestError) Error() string {
	msg := e.Kind.Error()
	if e.HasHeader {
		msg = fmt.Sprintf("%s (key %d %s, version %d, correlation id %d)",
			msg, e.Key, kmsg.NameForKey(e.Key), e.Version, e.CorrelationID)
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Is makes errors.Is(err, Kind) true.
func (e *RequestError) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying decoding error.
func (e *RequestError) Unwrap() error { return e.Cause }

// Request header layout (all big endian):
//
//	v0: api_key int16 | api_version int16 | correlation_id int32
//	v1: v0 | client_id nullable string (int16 length, -1 = null)
//	v2: v1 | tagged fields (uvarint count, then uvarint tag, uvarint size, bytes)
//
// The client id keeps its int16 length even in v2. v0 is used only by
// ControlledShutdown v0.
const fixedHeaderLen = 8

// PeekHeader returns the fixed part of a request header (API key, version,
// correlation id) without decoding anything else; ok is false for a frame
// too short to hold it. A broker uses it to answer an ApiVersions request of
// a version it does not serve without decoding a body it may not understand
// (KIP-511).
func PeekHeader(frame []byte) (key, version int16, correlationID int32, ok bool) {
	if len(frame) < fixedHeaderLen {
		return 0, 0, 0, false
	}
	return int16(binary.BigEndian.Uint16(frame[0:])), int16(binary.BigEndian.Uint16(frame[2:])),
		int32(binary.BigEndian.Uint32(frame[4:])), true
}

// ParseRequest decodes one frame (as returned by ReadFrame) into a Request.
// The version must lie within [Floor(key), kmsg's max] for the key; whether
// the broker implements that version is the caller's question (see
// [Table.Supported]). The returned error is always a *RequestError.
func ParseRequest(frame []byte) (*Request, error) {
	if len(frame) < fixedHeaderLen {
		return nil, &RequestError{Kind: ErrMalformed,
			Cause: fmt.Errorf("frame of %d bytes is shorter than a request header", len(frame))}
	}
	key, version, corr, _ := PeekHeader(frame)
	fail := func(kind, cause error) (*Request, error) {
		return nil, &RequestError{Kind: kind, HasHeader: true, Key: key, Version: version,
			CorrelationID: corr, Cause: cause}
	}

	body := kmsg.RequestForKey(key)
	if body == nil {
		return fail(ErrUnknownKey, nil)
	}
	if version < Floor(key) || version > body.MaxVersion() {
		return fail(ErrUnsupportedVersion, nil)
	}
	body.SetVersion(version)
	req := &Request{Key: key, Version: version, CorrelationID: corr, Body: body, Flexible: body.IsFlexible(), Size: len(frame)}

	rest := frame[fixedHeaderLen:]
	if !(key == 7 && version == 0) { // ControlledShutdown v0 has header v0
		if len(rest) < 2 {
			return fail(ErrMalformed, errors.New("truncated client id"))
		}
		l := int(int16(binary.BigEndian.Uint16(rest)))
		rest = rest[2:]
		switch {
		case l == -1:
		case l < -1 || l > len(rest):
			return fail(ErrMalformed, fmt.Errorf("client id length %d with %d bytes left", l, len(rest)))
		default:
			id := string(rest[:l])
			req.ClientID = &id
			rest = rest[l:]
		}
	}
	if req.Flexible {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return fail(ErrMalformed, fmt.Errorf("header tagged fields: %w", err))
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return fail(ErrMalformed, err)
	}
	return req, nil
}

// skipTags skips a tagged-field section and returns what follows it.
func skipTags(b []byte) ([]byte, error) {
	n, b, err := readUvarint(b)
	if err != nil {
		return nil, err
	}
	for ; n > 0; n-- {
		if _, b, err = readUvarint(b); err != nil { // tag
			return nil, err
		}
		var size uint32
		if size, b, err = readUvarint(b); err != nil {
			return nil, err
		}
		if uint64(size) > uint64(len(b)) {
			return nil, fmt.Errorf("tagged field of %d bytes with %d left", size, len(b))
		}
		b = b[size:]
	}
	return b, nil
}

// readUvarint reads an unsigned varint of at most 32 bits (5 bytes).
func readUvarint(b []byte) (uint32, []byte, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, nil, errors.New("truncated varint")
		}
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, nil, errors.New("varint overflows 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, b[i+1:], nil
		}
	}
	return 0, nil, errors.New("varint too long")
}
