// Package tlstest makes the certificates and key stores that TLS tests
// need, with the tools a Kafka user makes them with: openssl for the CA and
// the certificates, keytool (Java's) for JKS and PKCS12 stores. Everything
// is made fresh in a directory the caller gives, valid for a century so
// that no test ever meets an expired certificate.
package tlstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Passwords of the stores Generate writes.
const (
	StorePass = "storepass1"
	KeyPass   = "keypass1"
	TrustPass = "trustpass1"
)

// ClientDN is the client certificate's subject as Kafka prints it (RFC
// 2253), so the principal a broker gives it is "User:" + ClientDN.
const ClientDN = "CN=client1,OU=Test,O=Runnel,C=US"

// Files are the paths Generate wrote.
type Files struct {
	Dir string

	CA, CAKey string // PEM: the CA that signs every certificate below

	// Server certificate for localhost and 127.0.0.1, in every key store
	// format Kafka reads. ServerJKS and ServerP12 are protected with
	// StorePass (key too); ServerPEM holds the key encrypted with
	// KeyPass (PKCS#8), then the chain.
	ServerCert, ServerKey string // PEM, key unencrypted
	ServerJKS, ServerP12  string
	ServerPEM             string

	// Client certificate (subject ClientDN), for mutual TLS.
	ClientCert, ClientKey string // PEM, key unencrypted
	ClientJKS             string // StorePass

	// Trust stores holding CA: JKS and PKCS12 protected with TrustPass.
	TrustJKS, TrustP12 string

	// OtherCA signs OtherClient*, a client certificate the brokers must
	// refuse.
	OtherCA, OtherClientCert, OtherClientKey string
}

// Generate writes the files into dir. It needs openssl and keytool on the
// PATH.
func Generate(dir string) (*Files, error) {
	f := &Files{Dir: dir}
	p := func(name string) string { return filepath.Join(dir, name) }
	f.CA, f.CAKey = p("ca.pem"), p("ca.key")
	f.ServerCert, f.ServerKey = p("server.pem"), p("server.key")
	f.ServerJKS, f.ServerP12, f.ServerPEM = p("server.keystore.jks"), p("server.keystore.p12"), p("server.keystore.pem")
	f.ClientCert, f.ClientKey, f.ClientJKS = p("client.pem"), p("client.key"), p("client.keystore.jks")
	f.TrustJKS, f.TrustP12 = p("truststore.jks"), p("truststore.p12")
	f.OtherCA, f.OtherClientCert, f.OtherClientKey = p("other-ca.pem"), p("other-client.pem"), p("other-client.key")

	const days = "36500"
	ec := []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}
	steps := [][]string{
		// CAs.
		append(append([]string{"openssl", "req", "-x509"}, ec...), "-keyout", f.CAKey, "-out", f.CA, "-days", days, "-subj", "/CN=Runnel Test CA"),
		append(append([]string{"openssl", "req", "-x509"}, ec...), "-keyout", p("other-ca.key"), "-out", f.OtherCA, "-days", days, "-subj", "/CN=Other CA"),
		// Server: localhost and 127.0.0.1, signed by the CA.
		append(append([]string{"openssl", "req", "-x509"}, ec...), "-keyout", f.ServerKey, "-out", f.ServerCert, "-days", days,
			"-subj", "/O=Runnel/CN=localhost", "-CA", f.CA, "-CAkey", f.CAKey,
			"-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"),
		// Client: subject C=US, O=Runnel, OU=Test, CN=client1 (RFC 2253
		// prints it last RDN first).
		append(append([]string{"openssl", "req", "-x509"}, ec...), "-keyout", f.ClientKey, "-out", f.ClientCert, "-days", days,
			"-subj", "/C=US/O=Runnel/OU=Test/CN=client1", "-CA", f.CA, "-CAkey", f.CAKey,
			"-addext", "basicConstraints=critical,CA:FALSE"),
		append(append([]string{"openssl", "req", "-x509"}, ec...), "-keyout", f.OtherClientKey, "-out", f.OtherClientCert, "-days", days,
			"-subj", "/CN=intruder", "-CA", f.OtherCA, "-CAkey", p("other-ca.key"),
			"-addext", "basicConstraints=critical,CA:FALSE"),
		// PKCS12 key store of the server, chain included.
		{"openssl", "pkcs12", "-export", "-in", f.ServerCert, "-inkey", f.ServerKey, "-certfile", f.CA,
			"-name", "server", "-passout", "pass:" + StorePass, "-out", f.ServerP12},
		{"openssl", "pkcs12", "-export", "-in", f.ClientCert, "-inkey", f.ClientKey, "-certfile", f.CA,
			"-name", "client", "-passout", "pass:" + StorePass, "-out", p("client.keystore.p12")},
		// JKS key stores, converted by keytool.
		{"keytool", "-importkeystore", "-noprompt", "-srckeystore", f.ServerP12, "-srcstoretype", "PKCS12", "-srcstorepass", StorePass,
			"-destkeystore", f.ServerJKS, "-deststoretype", "JKS", "-deststorepass", StorePass, "-destkeypass", StorePass},
		{"keytool", "-importkeystore", "-noprompt", "-srckeystore", p("client.keystore.p12"), "-srcstoretype", "PKCS12", "-srcstorepass", StorePass,
			"-destkeystore", f.ClientJKS, "-deststoretype", "JKS", "-deststorepass", StorePass, "-destkeypass", StorePass},
		// Trust stores.
		{"keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", f.CA, "-keystore", f.TrustJKS, "-storetype", "JKS", "-storepass", TrustPass},
		{"keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", f.CA, "-keystore", f.TrustP12, "-storetype", "PKCS12", "-storepass", TrustPass},
		// PEM key store: encrypted PKCS#8 key.
		{"openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", f.ServerKey, "-passout", "pass:" + KeyPass, "-out", p("server.key.enc")},
	}
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("tlstest: %s: %w\n%s", strings.Join(s, " "), err, out)
		}
	}
	var pemStore []byte
	for _, name := range []string{p("server.key.enc"), f.ServerCert, f.CA} {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		pemStore = append(pemStore, b...)
	}
	if err := os.WriteFile(f.ServerPEM, pemStore, 0o600); err != nil {
		return nil, err
	}
	return f, nil
}

// ServerKeys are the ssl.* settings of a listener using key store type
// typ (JKS, PKCS12 or PEM) and the trust store of the same type (PEM: the
// CA file).
func (f *Files) ServerKeys(typ string) map[string]string {
	m := map[string]string{"ssl.keystore.type": typ, "ssl.truststore.type": typ}
	switch typ {
	case "JKS":
		m["ssl.keystore.location"], m["ssl.keystore.password"], m["ssl.key.password"] = f.ServerJKS, StorePass, StorePass
		m["ssl.truststore.location"], m["ssl.truststore.password"] = f.TrustJKS, TrustPass
	case "PKCS12":
		m["ssl.keystore.location"], m["ssl.keystore.password"] = f.ServerP12, StorePass
		m["ssl.truststore.location"], m["ssl.truststore.password"] = f.TrustP12, TrustPass
	case "PEM":
		m["ssl.keystore.location"], m["ssl.key.password"] = f.ServerPEM, KeyPass
		m["ssl.truststore.location"] = f.CA
	}
	return m
}
