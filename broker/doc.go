// Package broker is the Runnel server: listeners, connections, request
// dispatch, one handler file per API key, and (as it grows) the replica
// manager, fetch sessions, quotas and auth.
//
// # Connection layer
//
// A [Server] owns the listeners and every connection. Each connection has a
// reader goroutine that reads frames (bounded by socket.request.max.bytes)
// and decodes them with package protocol, one request ahead of the
// connection's processing goroutine, which handles requests strictly one at
// a time and writes each response before it starts the next: requests for a
// partition on one connection apply in the order they were sent, and
// responses leave in request order, as Kafka guarantees.
//
// Handlers come from the Server's owner as a table keyed by API key
// ([Handler]: the highest version implemented and the function). The version
// table advertised in ApiVersions is derived from it (see
// protocol.NewTable); ApiVersions itself is served by the Server
// (18_api_versions.go). Handler files register themselves by being listed in
// the owner's table, not through package-level state.
//
// A handler returns a [Response]: a kmsg response, a pre-encoded
// *protocol.Frame (zero-copy Fetch, sent with sendfile), or nothing (acks=0
// Produce).
//
// # Failures
//
// A frame that is oversized, truncated or undecodable, an unknown API key, a
// version outside the table (other than ApiVersions), a handler error or a
// handler panic each close that one connection with a log line; every other
// connection carries on. An ApiVersions request of an unsupported version
// gets a v0 response with UNSUPPORTED_VERSION and the full table (KIP-511)
// and the connection stays open.
package broker
