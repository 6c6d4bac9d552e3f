// Package broker is Kafka's KafkaApis for Runnel: one handler file per API
// key, the wiring of a Broker (controller, storage, replicas, coordinators,
// the connection Server), the replica manager, fetch sessions and the admin
// HTTP endpoint.
//
// The connection layer — listeners, TLS, connections, framing, ordering,
// the SASL gate, and the ApiVersions, SaslHandshake and SaslAuthenticate
// answers — is package network. The broker hands it a table keyed by API
// key ([Handler]: the highest version implemented and the function,
// handlers.go), the listeners with their TLS configurations built from the
// ssl.* keys (tls.go), and the SASL mechanisms of each SASL listener with
// their users (sasl.go). The version table advertised in ApiVersions is
// derived from the handler table (protocol.NewTable). Handler files
// register themselves by being listed in the table, not through
// package-level state.
//
// A handler returns a [Response]: a kmsg response, a pre-encoded
// *protocol.Frame (zero-copy Fetch, sent with sendfile), or nothing (acks=0
// Produce). It reports request failures as error codes in the response;
// an error it returns, or a panic, closes only that connection.
package broker
