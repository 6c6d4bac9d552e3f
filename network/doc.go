// Package network is Runnel's connection layer, Kafka's SocketServer: it
// owns the listeners and the connections, reads size-prefixed frames and
// has package protocol decode them, runs each request through a handler
// its owner supplies, and writes the responses back in order. It knows
// nothing of the broker: handlers arrive as a table keyed by API key
// ([Handler]), and what it needs of security (TLS configurations, SASL
// mechanisms and their credentials) arrives ready-made per [Listener].
//
// # What a Server owns
//
// [NewServer] binds every listener (port 0 picks a free port, see
// [Server.Addrs]) but accepts nothing until [Server.Start], so an owner can
// learn its ports, advertise them and only then let clients in. From Start
// until [Server.Close] the Server owns one accept goroutine per listener
// and, per connection, a serve goroutine and a reader goroutine. Close
// closes the listeners and every connection, cancels the context of every
// running handler and returns only when all of those goroutines have
// ended; no goroutine of the package outlives it.
//
// # Connection lifecycle
//
// An accepted connection gets a [ConnContext] (id, listener, addresses, a
// logger with the connection's fields, the principal). On a TLS listener
// the handshake runs first, on the connection's own goroutine (a slow
// client never stalls the accept loop), bounded by the idle timeout
// (connections.max.idle.ms); the principal is the client certificate's
// subject through ssl.principal.mapping.rules, else User:ANONYMOUS. Then
// the reader goroutine reads frames — each bounded by
// socket.request.max.bytes before its body is read — and decodes them.
// A connection with no traffic either way for the idle timeout is
// closed, and so is one whose response cannot be written within it: a
// client that stops reading its responses is disconnected rather than
// holding a goroutine and its buffers forever.
//
// The serve goroutine owns the net.Conn: it alone writes to it and it
// closes it when the peer leaves, a request fails, or the Server closes;
// closing it also ends the reader. A frame that is oversized, truncated or
// undecodable, an unknown API key, a version outside the table (other than
// ApiVersions), a handler error or a handler panic each close that one
// connection with one log line ("closing connection"); every other
// connection carries on.
//
// # Ordering
//
// The reader decodes at most one request ahead of the one being handled.
// Requests of one connection are handled strictly one at a time, and each
// response is written before the next request is handled, so requests on
// one connection apply in the order they were sent and responses leave in
// request order, as Kafka guarantees (max.in.flight.requests pipelining
// relies on it). A request without a response (acks=0 Produce) is skipped,
// never reordered. A handler's [Response] is a kmsg response, a
// pre-encoded *protocol.Frame whose record regions go out with sendfile
// (a copy on TLS), or nothing; its Done runs once it is written or
// abandoned.
//
// # Requests the Server answers itself
//
// ApiVersions (18) is answered from the version table the handlers imply
// (protocol.NewTable), with the response header always v0; an ApiVersions
// of a version the Server does not serve gets a v0 answer with
// UNSUPPORTED_VERSION and the table (KIP-511), decided from the header
// alone, and the connection stays open. SaslHandshake (17) and
// SaslAuthenticate (36) are connection state, so the Server answers them
// too; an owner's entries for these keys are ignored.
//
// # The SASL gate
//
// On a SASL_PLAINTEXT or SASL_SSL listener ([SASLListener]) a connection
// must authenticate before anything else, as Kafka's
// SaslServerAuthenticator requires: before authentication only
// ApiVersions and SaslHandshake; after a SaslHandshake v1 only
// SaslAuthenticate; anything else closes the connection without an
// answer; before authentication that is decided from the request header
// alone, so a refused request's body is never decoded, and every frame is
// capped at sasl.server.max.receive.size before its body is read.
// Until authentication completes the reader runs in lock step
// with the handler, because the handshake decides how the next frame is
// read (a request, or after SaslHandshake v0 a bare token) and how large
// it may be (sasl.server.max.receive.size). An unknown mechanism or a
// failed authentication is answered and then closes the connection
// ([Response].CloseAfter). With a session lifetime
// (connections.max.reauth.ms, KIP-368) a request after the session ended
// closes the connection, and a SaslHandshake re-authenticates a client
// that used SaslAuthenticate v1+, with the same mechanism and principal.
// SASL runs over whatever net.Conn the listener gives, so SASL_SSL is
// SASL over the TLS connection unchanged.
//
// # Limits
//
// As Kafka's SocketServer (quotas.go, mempool.go): max.connections
// broker-wide and per listener stall the accept loop until a connection
// closes (the inter-broker listener is exempt from the broker-wide limit,
// KIP-402, and makes room by closing the idlest client connection);
// max.connections.per.ip and its overrides close the new connection at
// once; max.connection.creation.rate (KIP-612) delays accepting. A request
// is charged its frame size and its decode budget against
// queued.max.request.bytes, and takes one of queued.max.requests, before
// the buffer for its body is allocated; a connection whose request does not
// fit is not read until others are done. A failed SASL authentication is
// answered and closed only after connection.failed.authentication.delay.ms.
//
// Client quotas (the owner decides them, package quota measures them):
// a [Response] with a Throttle mutes its connection once written — the
// reader reads no further frame and the serve goroutine handles nothing
// until the throttle has passed (KIP-219); with ThrottleFirst (request
// versions from before KIP-219) the response itself waits. A connection
// from an address over its connection_creation_rate
// ([Server.SetConnectionRateQuotas], KIP-612) is held unserved for the
// throttle time, then closed.
//
// # Who closes what
//
// The Server closes its listeners (in Close) and each connection (its
// serve goroutine, or Close). Handlers never close connections: they
// return an error, or a Response with CloseAfter. The owner closes the
// Server, and must not close what the handlers hand back before their Done
// has run.
package network
