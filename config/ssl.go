package config

import (
	"strings"
)

// sslDefs are Kafka's ssl.* broker keys (SslConfigs, KIP-651 for PEM).
// They configure every SSL and SASL_SSL listener and the broker's own
// client side toward other brokers; listener.name.<listener>.ssl.* sets
// one listener's value (SSLKeys). They are kept apart from brokerDefs
// because they are also valid under that per-listener prefix.
var sslDefs = []Def{
	{Name: "ssl.protocol", Type: String, Default: "TLSv1.3", Doc: `The TLS protocol of the SSL context. For the broker's own connections to other brokers, TLSv1.2 here keeps it from offering TLS 1.3 even when ssl.enabled.protocols lists it.`},
	{Name: "ssl.enabled.protocols", Type: List, Default: "TLSv1.2,TLSv1.3", Doc: `TLS versions enabled on SSL listeners and broker-to-broker connections: TLSv1.2, TLSv1.3 (and the obsolete TLSv1, TLSv1.1).`},
	{Name: "ssl.cipher.suites", Type: List, Default: "", Doc: `Cipher suites by their IANA names (as Java writes them). Empty enables the defaults. TLS 1.3 suites are always all enabled; naming only TLS 1.3 suites turns TLS 1.2 off.`},
	{Name: "ssl.provider", Type: String, Null: true, Doc: `Java security provider of the SSL context. Runnel uses Go's crypto/tls and ignores it.`},
	{Name: "ssl.keystore.type", Type: String, Default: "JKS", Doc: `Format of the key store: JKS, PKCS12 or PEM.`},
	{Name: "ssl.keystore.location", Type: String, Null: true, Doc: `Path of the key store file holding this broker's private key and certificate chain. Every SSL and SASL_SSL listener needs a key store.`},
	{Name: "ssl.keystore.password", Type: Password, Null: true, Sensitive: true, Doc: `Password of the key store file (JKS, PKCS12). Must not be set for PEM.`},
	{Name: "ssl.key.password", Type: Password, Null: true, Sensitive: true, Doc: `Password of the private key in the key store (JKS: defaults to ssl.keystore.password), or of the encrypted PKCS#8 key of a PEM key store.`},
	{Name: "ssl.keystore.certificate.chain", Type: Password, Null: true, Sensitive: true, Doc: `Certificate chain in PEM, leaf first, given inline (ssl.keystore.type=PEM, with ssl.keystore.key).`},
	{Name: "ssl.keystore.key", Type: Password, Null: true, Sensitive: true, Doc: `Private key in PEM (PKCS#8, encrypted with ssl.key.password if set), given inline (ssl.keystore.type=PEM, with ssl.keystore.certificate.chain).`},
	{Name: "ssl.truststore.type", Type: String, Default: "JKS", Doc: `Format of the trust store: JKS, PKCS12 or PEM.`},
	{Name: "ssl.truststore.location", Type: String, Null: true, Doc: `Path of the trust store file: the CAs that client certificates (ssl.client.auth) and other brokers' certificates must chain to. When unset, the system's CAs.`},
	{Name: "ssl.truststore.password", Type: Password, Null: true, Sensitive: true, Doc: `Password of the trust store file. A JKS trust store may be read without it (its integrity is then not checked).`},
	{Name: "ssl.truststore.certificates", Type: Password, Null: true, Sensitive: true, Doc: `Trusted certificates in PEM, given inline (ssl.truststore.type=PEM).`},
	{Name: "ssl.keymanager.algorithm", Type: String, Default: "SunX509", Doc: `Java key manager factory algorithm. Runnel uses Go's crypto/tls and ignores it.`},
	{Name: "ssl.trustmanager.algorithm", Type: String, Default: "PKIX", Doc: `Java trust manager factory algorithm. Runnel verifies certificate chains with Go's crypto/x509 (PKIX) and ignores it.`},
	{Name: "ssl.endpoint.identification.algorithm", Type: String, Default: "https", Doc: `How the broker checks the host name of another broker's certificate when it connects to it: https checks it, empty checks only the chain.`},
	{Name: "ssl.secure.random.implementation", Type: String, Null: true, Doc: `Java SecureRandom implementation. Runnel uses Go's crypto/rand and ignores it.`},
	{Name: "ssl.client.auth", Type: String, Default: "none", Validate: oneOf("required", "requested", "none"), Doc: `Client certificates on SSL listeners: required (a client without a certificate the trust store accepts is refused), requested (optional, but verified when sent), none.`},
	{Name: "ssl.principal.mapping.rules", Type: String, Default: "DEFAULT", Doc: `Rules mapping a client certificate's subject (RFC 2253) to the principal name: RULE:pattern/replacement/[LU] entries and DEFAULT (the subject as is), tried in order.`},
	{Name: "ssl.engine.factory.class", Type: Class, Null: true, Doc: `Java SSL engine factory plug-in. Not supported by Runnel.`},
	{Name: "ssl.allow.dn.changes", Type: Boolean, Default: "false", Doc: `Whether a dynamically updated key store may change the certificate's subject. Runnel reads key stores at start only.`},
	{Name: "ssl.allow.san.changes", Type: Boolean, Default: "false", Doc: `Whether a dynamically updated key store may change the certificate's subject alternative names. Runnel reads key stores at start only.`},
}

// listenerPrefix starts a per-listener key: listener.name.<name>.<key>.
const listenerPrefix = "listener.name."

// listenerSSLKey splits listener.name.<name>.ssl.<…> into the listener
// name (upper-cased, as listeners are) and the ssl.* key, if the latter is
// one of sslDefs.
func listenerSSLKey(key string) (listener string, def *Def, ok bool) {
	rest, found := strings.CutPrefix(key, listenerPrefix)
	if !found {
		return "", nil, false
	}
	i := strings.Index(rest, ".ssl.")
	if i <= 0 {
		return "", nil, false
	}
	d, known := brokerIndex[rest[i+1:]]
	if !known || !strings.HasPrefix(d.Name, "ssl.") {
		return "", nil, false
	}
	return strings.ToUpper(rest[:i]), d, true
}

// SSLKeys returns the ssl.* settings of a listener, by plain key name:
// listener.name.<listener>.ssl.* where given, else the broker-wide
// ssl.* value or Kafka's default. Keys with a null default and no value
// are absent.
func (b *Broker) SSLKeys(listener string) map[string]string {
	out := map[string]string{}
	for i := range sslDefs {
		if v, ok := b.Get(sslDefs[i].Name); ok {
			out[sslDefs[i].Name] = v
		}
	}
	for k, v := range b.Raw {
		if l, d, ok := listenerSSLKey(k); ok && l == strings.ToUpper(listener) {
			if c, err := Canonical(d.Type, v); err == nil {
				v = c
			}
			out[d.Name] = v
		}
	}
	return out
}
