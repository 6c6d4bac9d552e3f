// Package protocol is Runnel's Kafka wire layer: framing, request and
// response headers, the table of API versions the broker serves, and the
// zero-copy Fetch response writer. It depends on nothing above it.
//
// # Framing
//
// Every request and response is an int32 big-endian size followed by that
// many bytes. [ReadFrame] checks the size against the broker's
// socket.request.max.bytes before it allocates anything, and grows the buffer
// only as bytes actually arrive, so a peer that announces a large frame and
// then stalls pins little memory.
//
// # Requests
//
// [ParseRequest] decodes the request header — v1 (key, version, correlation
// id, nullable client id) for non-flexible versions, v2 (v1 plus tagged
// fields) for flexible ones, v0 (no client id) only for ControlledShutdown v0
// — and then the body with franz-go's kmsg types. Failures are
// [*RequestError] values whose Kind is one of [ErrUnknownKey],
// [ErrUnsupportedVersion] or [ErrMalformed]; whenever the fixed part of the
// header was readable the error still carries the key, version and
// correlation id, so a broker can answer an ApiVersions request of an unknown
// version (KIP-511). Byte fields of the decoded body (Produce records, for
// one) alias the frame: the frame must not be reused while the request lives.
//
// # Versions
//
// The broker serves Kafka 4's version ranges (KIP-896): from the Kafka 4
// floor of each API ([Floor]) up to the lower of what kmsg knows and what the
// broker implements ([NewTable]). As Kafka 4 does for librdkafka's sake
// (KAFKA-18659), Produce is advertised from v0 while the wire refuses v0–v2:
// librdkafka turns compression off unless Produce v0 appears in the table.
//
// # Responses
//
// [AppendResponse] writes the size, the response header — always v0 for
// ApiVersions (clients parse it before they know the version), v1 (with
// tagged fields) for flexible versions of other APIs, v0 otherwise — and the
// kmsg-encoded body.
//
// Fetch responses carry record bytes that live in segment files. Rather than
// copy them through user space, [EncodeFetchResponse] hand-encodes a
// FetchResponse (v4 through kmsg's maximum) into a [Frame]: runs of encoded
// bytes interleaved with file [Region]s. [Frame.WriteTo] sends the bytes with
// writev and each region with sendfile(2) at an explicit file offset through
// the socket's SyscallConn, never touching the *os.File's shared offset (see
// PITFALLS item 10). Connections that cannot sendfile (TLS, pipes) get a
// pread-based copy instead. The encoder is proven byte-for-byte equal to
// kmsg's own encoding, for every version, by the package tests.
package protocol
