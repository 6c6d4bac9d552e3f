package tlsconfig

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// loadKeyStore returns the certificates (with their keys) of the key store
// the keys describe, or none when no key store is configured. As in
// Kafka, ssl.keystore.certificate.chain and ssl.keystore.key give a PEM
// key store inline, and need ssl.keystore.type=PEM; otherwise
// ssl.keystore.location names a JKS, PKCS12 or PEM file.
func loadKeyStore(keys Keys) ([]tls.Certificate, error) {
	typ := strings.ToUpper(keys.get(KeystoreType))
	loc := keys.get(KeystoreLocation)
	storePass, hasStorePass := keys.password(KeystorePassword)
	keyPass, hasKeyPass := keys.password(KeyPassword)
	chain, hasChain := keys.password(KeystoreCertificateChain)
	key, hasKey := keys.password(KeystoreKey)

	if hasChain || hasKey {
		switch {
		case typ != "PEM":
			return nil, fmt.Errorf("%s and %s need %s=PEM (it is %s)", KeystoreCertificateChain, KeystoreKey, KeystoreType, typ)
		case !hasChain || !hasKey:
			return nil, fmt.Errorf("%s and %s must be given together", KeystoreCertificateChain, KeystoreKey)
		case loc != "":
			return nil, fmt.Errorf("%s cannot be combined with %s and %s", KeystoreLocation, KeystoreCertificateChain, KeystoreKey)
		case hasStorePass:
			return nil, fmt.Errorf("%s cannot be set for a PEM key store; only %s may be", KeystorePassword, KeyPassword)
		}
		c, err := pemKeyPair([]byte(chain), []byte(key), keyPass, hasKeyPass)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", KeystoreCertificateChain, KeystoreKey, err)
		}
		return []tls.Certificate{c}, nil
	}
	if loc == "" {
		return nil, nil
	}
	data, err := os.ReadFile(loc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeystoreLocation, err)
	}
	wrap := func(err error) error {
		return fmt.Errorf("%s %s (%s %s): %w", KeystoreLocation, loc, KeystoreType, typ, err)
	}
	switch typ {
	case "PEM":
		if hasStorePass {
			return nil, wrap(fmt.Errorf("%s cannot be set for a PEM key store; only %s may be", KeystorePassword, KeyPassword))
		}
		c, err := pemKeyPair(data, data, keyPass, hasKeyPass)
		if err != nil {
			return nil, wrap(err)
		}
		return []tls.Certificate{c}, nil
	case "JKS":
		if !hasStorePass {
			return nil, wrap(fmt.Errorf("%s is required to read a JKS key store", KeystorePassword))
		}
		// Java's KeyManagerFactory uses the key password, else the store's.
		if !hasKeyPass {
			keyPass = storePass
		}
		certs, err := jksKeyPairs(data, storePass, keyPass)
		if err != nil {
			return nil, wrap(err)
		}
		return certs, nil
	case "PKCS12":
		if !hasStorePass {
			return nil, wrap(fmt.Errorf("%s is required to read a PKCS12 key store", KeystorePassword))
		}
		k, leaf, cas, err := pkcs12.DecodeChain(data, storePass)
		if err != nil {
			return nil, wrap(err)
		}
		c := tls.Certificate{PrivateKey: k, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
		for _, ca := range cas {
			c.Certificate = append(c.Certificate, ca.Raw)
		}
		return []tls.Certificate{c}, nil
	}
	return nil, fmt.Errorf("%s %s is not one of JKS, PKCS12, PEM", KeystoreType, typ)
}

// jksKeyPairs returns every private-key entry of a JKS store; Java's key
// manager likewise chooses among all of them per handshake.
func jksKeyPairs(data []byte, storePass, keyPass string) ([]tls.Certificate, error) {
	ks := keystore.New()
	if err := ks.Load(bytes.NewReader(data), []byte(storePass)); err != nil {
		return nil, err
	}
	var out []tls.Certificate
	for _, alias := range ks.Aliases() {
		if !ks.IsPrivateKeyEntry(alias) {
			continue
		}
		e, err := ks.GetPrivateKeyEntry(alias, []byte(keyPass))
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w (is %s right?)", alias, err, KeyPassword)
		}
		k, err := x509.ParsePKCS8PrivateKey(e.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", alias, err)
		}
		c := tls.Certificate{PrivateKey: k}
		for _, cc := range e.CertificateChain {
			c.Certificate = append(c.Certificate, cc.Content)
		}
		if len(c.Certificate) == 0 {
			return nil, fmt.Errorf("entry %s has no certificate", alias)
		}
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("entry %s: %w", alias, err)
		}
		if err := matches(c.Leaf, k); err != nil {
			return nil, fmt.Errorf("entry %s: %w", alias, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("the key store holds no private key entry")
	}
	return out, nil
}

// matches checks that a certificate is for a private key.
func matches(cert *x509.Certificate, k crypto.PrivateKey) error {
	s, ok := k.(crypto.Signer)
	if !ok {
		return fmt.Errorf("unsupported private key type %T", k)
	}
	pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return errors.New("the certificate does not match the private key")
	}
	return nil
}

// loadTrustStore returns the certificates the trust store describes, or
// nil when none is configured (the caller then uses the system roots).
func loadTrustStore(keys Keys) (*x509.CertPool, error) {
	typ := strings.ToUpper(keys.get(TruststoreType))
	loc := keys.get(TruststoreLocation)
	pass, hasPass := keys.password(TruststorePassword)
	inline, hasInline := keys.password(TruststoreCertificates)
	if hasInline {
		switch {
		case typ != "PEM":
			return nil, fmt.Errorf("%s needs %s=PEM (it is %s)", TruststoreCertificates, TruststoreType, typ)
		case loc != "":
			return nil, fmt.Errorf("%s cannot be combined with %s", TruststoreLocation, TruststoreCertificates)
		case hasPass:
			return nil, fmt.Errorf("%s cannot be set for a PEM trust store", TruststorePassword)
		}
		certs, err := pemCertificates([]byte(inline))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", TruststoreCertificates, err)
		}
		return poolOf(certs), nil
	}
	if loc == "" {
		return nil, nil
	}
	data, err := os.ReadFile(loc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TruststoreLocation, err)
	}
	wrap := func(err error) error {
		return fmt.Errorf("%s %s (%s %s): %w", TruststoreLocation, loc, TruststoreType, typ, err)
	}
	var certs []*x509.Certificate
	switch typ {
	case "PEM":
		if hasPass {
			return nil, wrap(fmt.Errorf("%s cannot be set for a PEM trust store", TruststorePassword))
		}
		certs, err = pemCertificates(data)
	case "JKS":
		certs, err = jksTrusted(data, pass)
	case "PKCS12":
		certs, err = pkcs12.DecodeTrustStore(data, pass)
	default:
		return nil, fmt.Errorf("%s %s is not one of JKS, PKCS12, PEM", TruststoreType, typ)
	}
	if err != nil {
		return nil, wrap(err)
	}
	if len(certs) == 0 {
		return nil, wrap(errors.New("the trust store holds no certificate"))
	}
	return poolOf(certs), nil
}

// jksTrusted returns the certificates of a JKS trust store: its trusted
// certificate entries and the chains of its key entries, as Java's trust
// manager takes both. Java reads a store without a password by skipping
// the integrity check, and so does this.
func jksTrusted(data []byte, pass string) ([]*x509.Certificate, error) {
	ks := keystore.New()
	if err := ks.Load(bytes.NewReader(data), []byte(pass)); err != nil {
		// keystore-go checks the digest after reading every entry, so
		// with no password the entries are there despite the error.
		if pass != "" || !strings.Contains(err.Error(), "invalid digest") {
			return nil, err
		}
	}
	var out []*x509.Certificate
	add := func(der []byte) error {
		c, err := x509.ParseCertificate(der)
		if err == nil {
			out = append(out, c)
		}
		return err
	}
	for _, alias := range ks.Aliases() {
		switch {
		case ks.IsTrustedCertificateEntry(alias):
			e, err := ks.GetTrustedCertificateEntry(alias)
			if err != nil {
				return nil, err
			}
			if err := add(e.Certificate.Content); err != nil {
				return nil, fmt.Errorf("entry %s: %w", alias, err)
			}
		case ks.IsPrivateKeyEntry(alias):
			chain, err := ks.GetPrivateKeyEntryCertificateChain(alias)
			if err != nil {
				return nil, err
			}
			if len(chain) > 0 {
				if err := add(chain[0].Content); err != nil {
					return nil, fmt.Errorf("entry %s: %w", alias, err)
				}
			}
		}
	}
	return out, nil
}

func poolOf(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
