// Package tlsconfig builds crypto/tls configurations from Kafka's ssl.*
// keys, as Kafka's DefaultSslEngineFactory builds SSLContexts: the key
// store (JKS, PKCS12 or PEM, from a file or inline PEM, KIP-651), the trust
// store, client authentication, enabled protocols and cipher suites, and
// endpoint identification for the client side. It also derives the Kafka
// principal of a TLS peer (principal.go).
//
// Keys are passed as a map from the key's plain name (ssl.keystore.type …)
// to its value; a missing key takes Kafka's default. Resolving the
// per-listener form listener.name.<name>.ssl.* is the caller's job
// (config.Broker.SSLKeys).
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Kafka's ssl.* key names.
const (
	KeystoreType             = "ssl.keystore.type"
	KeystoreLocation         = "ssl.keystore.location"
	KeystorePassword         = "ssl.keystore.password"
	KeyPassword              = "ssl.key.password"
	KeystoreCertificateChain = "ssl.keystore.certificate.chain"
	KeystoreKey              = "ssl.keystore.key"
	TruststoreType           = "ssl.truststore.type"
	TruststoreLocation       = "ssl.truststore.location"
	TruststorePassword       = "ssl.truststore.password"
	TruststoreCertificates   = "ssl.truststore.certificates"
	ClientAuth               = "ssl.client.auth"
	EnabledProtocols         = "ssl.enabled.protocols"
	Protocol                 = "ssl.protocol"
	CipherSuites             = "ssl.cipher.suites"
	EndpointIdentification   = "ssl.endpoint.identification.algorithm"
	PrincipalMappingRules    = "ssl.principal.mapping.rules"
)

// Kafka's defaults for the keys above that have one.
var defaults = map[string]string{
	KeystoreType:           "JKS",
	TruststoreType:         "JKS",
	ClientAuth:             "none",
	EnabledProtocols:       "TLSv1.2,TLSv1.3",
	Protocol:               "TLSv1.3",
	EndpointIdentification: "https",
	PrincipalMappingRules:  "DEFAULT",
}

// Default returns Kafka's default for an ssl.* key ("" when it has none).
func Default(key string) string { return defaults[key] }

// Keys are ssl.* settings by plain key name.
type Keys map[string]string

func (k Keys) get(key string) string {
	if v, ok := k[key]; ok {
		return strings.TrimSpace(v)
	}
	return defaults[key]
}

// password returns a password key's value untrimmed (spaces may matter).
func (k Keys) password(key string) (string, bool) {
	v, ok := k[key]
	return v, ok && v != ""
}

func (k Keys) list(key string) []string {
	var out []string
	for _, s := range strings.Split(k.get(key), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Server builds the configuration of a TLS listener. It fails when no key
// store is configured or it cannot be loaded, when ssl.client.auth asks
// for client certificates but there is nothing to verify them with… with
// an error that names the key at fault.
func Server(keys Keys) (*tls.Config, error) {
	certs, err := loadKeyStore(keys)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("a TLS listener needs a key store: set %s (with %s) or, for PEM, %s and %s", KeystoreLocation, KeystorePassword, KeystoreCertificateChain, KeystoreKey)
	}
	cfg := &tls.Config{Certificates: certs}
	if err := applyProtocols(cfg, keys, false); err != nil {
		return nil, err
	}
	pool, err := loadTrustStore(keys)
	if err != nil {
		return nil, err
	}
	switch auth := strings.ToLower(keys.get(ClientAuth)); auth {
	case "none":
		cfg.ClientAuth = tls.NoClientCert
	case "requested":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("%s must be one of none, requested, required; got %q", ClientAuth, auth)
	}
	if cfg.ClientAuth != tls.NoClientCert {
		// Java falls back to the JVM's cacerts; Runnel falls back to the
		// system roots, the same idea.
		if pool == nil {
			pool, err = x509.SystemCertPool()
			if err != nil {
				return nil, fmt.Errorf("%s=%s without %s, and the system roots are unavailable: %w", ClientAuth, keys.get(ClientAuth), TruststoreLocation, err)
			}
		}
		cfg.ClientCAs = pool
	}
	if _, err := ParseMappingRules(keys.get(PrincipalMappingRules)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Client builds the configuration for this broker's own connections to a
// TLS listener of another broker. With ssl.endpoint.identification.algorithm
// "https" (Kafka's default) the server's certificate must name the host
// dialed; with "" only its chain is checked. The key store, when given,
// answers a server that asks for a client certificate.
func Client(keys Keys) (*tls.Config, error) {
	certs, err := loadKeyStore(keys)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: certs}
	if err := applyProtocols(cfg, keys, true); err != nil {
		return nil, err
	}
	pool, err := loadTrustStore(keys)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = pool // nil: the system roots
	switch alg := strings.ToLower(keys.get(EndpointIdentification)); alg {
	case "https":
	case "":
		// Verify the chain ourselves, without the host name.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	default:
		return nil, fmt.Errorf("%s must be https or empty; got %q", EndpointIdentification, alg)
	}
	return cfg, nil
}

// ForAddr returns a copy of a Client configuration set up to dial addr
// (host:port): the host goes into ServerName for SNI and for endpoint
// identification.
func ForAddr(cfg *tls.Config, addr string) *tls.Config {
	c := cfg.Clone()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		c.ServerName = host
	} else {
		c.ServerName = addr
	}
	return c
}
