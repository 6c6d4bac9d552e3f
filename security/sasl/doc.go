// Package sasl holds the server side of the SASL mechanisms a Kafka broker
// offers (PLAIN, RFC 4616; SCRAM-SHA-256 and SCRAM-SHA-512, RFC 5802 and
// RFC 7677) as state machines over byte messages, the SCRAM credential
// arithmetic (salted password → stored key and server key) and the parser
// of the JAAS configuration strings Kafka brokers are configured with.
//
// It knows nothing of the Kafka protocol or of connections: the broker
// feeds a Session each client token (from SaslAuthenticate or, after a
// SaslHandshake v0, from a raw frame) and sends back what Step returns.
// That keeps it usable unchanged over TLS (SASL_SSL) and easy to fuzz.
package sasl
