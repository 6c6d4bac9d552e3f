package tlsconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/security/tlsconfig/tlstest"
)

var (
	filesOnce sync.Once
	files     *tlstest.Files
	filesErr  error
	filesDir  string
)

// testFiles generates the key stores once for the package's tests.
func testFiles(t *testing.T) *tlstest.Files {
	t.Helper()
	filesOnce.Do(func() {
		filesDir, filesErr = os.MkdirTemp("", "tlsconfig-test-")
		if filesErr == nil {
			files, filesErr = tlstest.Generate(filesDir)
		}
	})
	if filesErr != nil {
		t.Fatal(filesErr)
	}
	return files
}

func TestMain(m *testing.M) {
	code := m.Run()
	if filesDir != "" {
		os.RemoveAll(filesDir)
	}
	os.Exit(code)
}

// handshake runs a TLS handshake over loopback and returns the server's
// view of it and each side's error.
func handshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		cs  tls.ConnectionState
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3 reports a refused client certificate to the
			// client on its first read; write so it gets there.
			_, err = tc.Write([]byte("x"))
		}
		done <- result{tc.ConnectionState(), err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, ForAddr(client, ln.Addr().String()))
	c.SetDeadline(time.Now().Add(20 * time.Second))
	cerr := tc.Handshake()
	if cerr == nil {
		buf := make([]byte, 1)
		_, cerr = tc.Read(buf)
	}
	tc.Close()
	r := <-done
	return r.cs, r.err, cerr
}

func readFile(t *testing.T, name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEveryKeyStoreType(t *testing.T) {
	f := testFiles(t)
	inline := Keys{
		KeystoreType: "PEM", TruststoreType: "PEM",
		KeystoreCertificateChain: readFile(t, f.ServerCert) + readFile(t, f.CA),
		KeystoreKey:              readFile(t, f.ServerKey),
		TruststoreCertificates:   readFile(t, f.CA),
	}
	cases := map[string]Keys{"JKS": f.ServerKeys("JKS"), "PKCS12": f.ServerKeys("PKCS12"), "PEM": f.ServerKeys("PEM"), "PEM inline": inline}
	for name, keys := range cases {
		t.Run(name, func(t *testing.T) {
			srv, err := Server(keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(srv.Certificates) != 1 || len(srv.Certificates[0].Certificate) != 2 {
				t.Fatalf("want one certificate with its chain of 2, got %d", len(srv.Certificates))
			}
			cli, err := Client(keys) // the same trust store trusts the CA
			if err != nil {
				t.Fatal(err)
			}
			cs, serr, cerr := handshake(t, srv, cli)
			if serr != nil || cerr != nil {
				t.Fatalf("server: %v, client: %v", serr, cerr)
			}
			if cs.Version != tls.VersionTLS13 {
				t.Errorf("version %x, want TLS 1.3", cs.Version)
			}
			p, err := Principal(cs, nil)
			if err != nil || p != Anonymous {
				// the client presented the server's key store (no
				// client auth asked, so no certificate is sent)
				t.Errorf("principal %q, %v; want %s", p, err, Anonymous)
			}
		})
	}
}

func TestClientAuth(t *testing.T) {
	f := testFiles(t)
	serverKeys := f.ServerKeys("JKS")
	serverKeys[ClientAuth] = "required"
	srv, err := Server(serverKeys)
	if err != nil {
		t.Fatal(err)
	}
	noCert, err := Client(Keys{TruststoreType: "PEM", TruststoreLocation: f.CA})
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := Client(Keys{
		KeystoreLocation: f.ClientJKS, KeystorePassword: tlstest.StorePass,
		TruststoreLocation: f.TrustJKS, TruststorePassword: tlstest.TrustPass,
	})
	if err != nil {
		t.Fatal(err)
	}
	intruder, err := Client(Keys{
		KeystoreType: "PEM", KeystoreCertificateChain: readFile(t, f.OtherClientCert), KeystoreKey: readFile(t, f.OtherClientKey),
		TruststoreType: "PEM", TruststoreLocation: f.CA,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Go's client would send no certificate at all when its issuer is
	// not among the CAs the server names; make it send it anyway.
	intruderCert := intruder.Certificates[0]
	intruder.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &intruderCert, nil }

	if _, serr, cerr := handshake(t, srv, noCert); serr == nil || cerr == nil {
		t.Fatalf("required: a client without a certificate got in (server %v, client %v)", serr, cerr)
	}
	if _, serr, cerr := handshake(t, srv, intruder); serr == nil || cerr == nil {
		t.Fatalf("required: a certificate of another CA got in (server %v, client %v)", serr, cerr)
	}
	cs, serr, cerr := handshake(t, srv, withCert)
	if serr != nil || cerr != nil {
		t.Fatalf("required, with certificate: server %v, client %v", serr, cerr)
	}
	if p, err := Principal(cs, nil); err != nil || p != "User:"+tlstest.ClientDN {
		t.Fatalf("principal %q, %v; want User:%s", p, err, tlstest.ClientDN)
	}

	serverKeys[ClientAuth] = "requested"
	srv, err = Server(serverKeys)
	if err != nil {
		t.Fatal(err)
	}
	cs, serr, cerr = handshake(t, srv, noCert)
	if serr != nil || cerr != nil {
		t.Fatalf("requested, no certificate: server %v, client %v", serr, cerr)
	}
	if p, _ := Principal(cs, nil); p != Anonymous {
		t.Fatalf("requested, no certificate: principal %q", p)
	}
	if _, serr, cerr := handshake(t, srv, intruder); serr == nil || cerr == nil {
		t.Fatal("requested: a certificate of another CA got in")
	}
	cs, serr, cerr = handshake(t, srv, withCert)
	if serr != nil || cerr != nil {
		t.Fatalf("requested, with certificate: server %v, client %v", serr, cerr)
	}
	if p, _ := Principal(cs, nil); p != "User:"+tlstest.ClientDN {
		t.Fatalf("requested, with certificate: principal %q", p)
	}
}

func TestEndpointIdentification(t *testing.T) {
	f := testFiles(t)
	srv, err := Server(f.ServerKeys("PKCS12"))
	if err != nil {
		t.Fatal(err)
	}
	trust := Keys{TruststoreType: "PKCS12", TruststoreLocation: f.TrustP12, TruststorePassword: tlstest.TrustPass}
	cli, err := Client(trust)
	if err != nil {
		t.Fatal(err)
	}
	// ForAddr names 127.0.0.1, which the certificate carries.
	if _, serr, cerr := handshake(t, srv, cli); serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
	wrongHost := cli.Clone()
	wrongHost.VerifyConnection = func(cs tls.ConnectionState) error {
		return cs.PeerCertificates[0].VerifyHostname("kafka.example.com")
	}
	if _, _, cerr := handshake(t, srv, wrongHost); cerr == nil {
		t.Fatal("host name check did not run")
	}

	// With identification off the chain is still checked.
	trust[EndpointIdentification] = ""
	off, err := Client(trust)
	if err != nil {
		t.Fatal(err)
	}
	if !off.InsecureSkipVerify || off.VerifyConnection == nil {
		t.Fatal("identification off must verify the chain itself")
	}
	if _, serr, cerr := handshake(t, srv, off); serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
	otherTrust, err := Client(Keys{TruststoreType: "PEM", TruststoreLocation: f.OtherCA, EndpointIdentification: ""})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, cerr := handshake(t, srv, otherTrust); cerr == nil {
		t.Fatal("a server certificate from an untrusted CA was accepted with identification off")
	}
}

func TestJKSTrustStoreWithoutPassword(t *testing.T) {
	f := testFiles(t)
	pool, err := loadTrustStore(Keys{TruststoreLocation: f.TrustJKS})
	if err != nil {
		t.Fatal(err)
	}
	if pool == nil {
		t.Fatal("no pool")
	}
	if _, err := loadTrustStore(Keys{TruststoreLocation: f.TrustJKS, TruststorePassword: "wrong"}); err == nil {
		t.Fatal("a wrong trust store password was accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	f := testFiles(t)
	with := func(typ string, kv ...string) Keys {
		k := Keys(f.ServerKeys(typ))
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(k, kv[i])
			} else {
				k[kv[i]] = kv[i+1]
			}
		}
		return k
	}
	cases := []struct {
		name string
		keys Keys
		want string
	}{
		{"no key store", Keys{}, "ssl.keystore.location"},
		{"missing file", with("JKS", KeystoreLocation, "/nonexistent/ks.jks"), "no such file"},
		{"wrong store password", with("JKS", KeystorePassword, "nope"), "ssl.keystore.location"},
		{"wrong key password", with("JKS", KeyPassword, "nope"), "ssl.key.password"},
		{"no store password", with("PKCS12", KeystorePassword, "<unset>"), "ssl.keystore.password is required"},
		{"wrong pkcs12 password", with("PKCS12", KeystorePassword, "nope"), "ssl.keystore.location"},
		{"wrong type", with("JKS", KeystoreType, "PKCS12"), "PKCS12"},
		{"unknown type", with("JKS", KeystoreType, "BKS"), "not one of JKS, PKCS12, PEM"},
		{"pem with store password", with("PEM", KeystorePassword, "x"), "cannot be set for a PEM key store"},
		{"pem encrypted without key password", with("PEM", KeyPassword, "<unset>"), "set ssl.key.password"},
		{"pem wrong key password", with("PEM", KeyPassword, "nope"), "ssl.key.password"},
		{"inline chain without PEM type", with("JKS", KeystoreCertificateChain, "x", KeystoreKey, "y"), "need ssl.keystore.type=PEM"},
		{"bad client auth", with("JKS", ClientAuth, "always"), "none, requested, required"},
		{"bad protocol", with("JKS", EnabledProtocols, "SSLv3"), "SSLv3"},
		{"empty protocols", with("JKS", EnabledProtocols, ""), "is empty"},
		{"unknown cipher", with("JKS", CipherSuites, "TLS_RSA_WITH_NULL_MD5"), "TLS_RSA_WITH_NULL_MD5 is not a cipher suite"},
		{"bad mapping rule", with("JKS", PrincipalMappingRules, "RULE:x"), "ssl.principal.mapping.rules"},
		{"wrong trust store password", with("PKCS12", TruststorePassword, "nope"), "ssl.truststore.location"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Server(c.keys)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
			for _, secret := range []string{tlstest.StorePass, tlstest.KeyPass, tlstest.TrustPass} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q shows a password", err)
				}
			}
		})
	}
}

func TestProtocolsAndCiphers(t *testing.T) {
	f := testFiles(t)
	k := Keys(f.ServerKeys("PEM"))
	k[EnabledProtocols] = "TLSv1.2"
	k[CipherSuites] = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, SSL_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
	srv, err := Server(k)
	if err != nil {
		t.Fatal(err)
	}
	if srv.MinVersion != tls.VersionTLS12 || srv.MaxVersion != tls.VersionTLS12 {
		t.Fatalf("versions %x..%x", srv.MinVersion, srv.MaxVersion)
	}
	if len(srv.CipherSuites) != 2 || srv.CipherSuites[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 || srv.CipherSuites[1] != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("suites %x", srv.CipherSuites)
	}
	cli, err := Client(Keys{TruststoreType: "PEM", TruststoreLocation: f.CA})
	if err != nil {
		t.Fatal(err)
	}
	cs, serr, cerr := handshake(t, srv, cli)
	if serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
	if cs.Version != tls.VersionTLS12 || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("negotiated %x / %s", cs.Version, tls.CipherSuiteName(cs.CipherSuite))
	}

	// A TLS 1.3-only server refuses a TLS 1.2-only client.
	k[EnabledProtocols] = "TLSv1.3"
	delete(k, CipherSuites)
	srv13, err := Server(k)
	if err != nil {
		t.Fatal(err)
	}
	cli12, err := Client(Keys{TruststoreType: "PEM", TruststoreLocation: f.CA, EnabledProtocols: "TLSv1.2,TLSv1.3", Protocol: "TLSv1.2"})
	if err != nil {
		t.Fatal(err)
	}
	if cli12.MaxVersion != tls.VersionTLS12 {
		t.Fatalf("client ssl.protocol=TLSv1.2 left max version %x", cli12.MaxVersion)
	}
	if _, serr, _ := handshake(t, srv13, cli12); serr == nil {
		t.Fatal("TLS 1.3-only server accepted TLS 1.2")
	}

	// Only TLS 1.3 suites named: TLS 1.2 is off.
	k[EnabledProtocols] = "TLSv1.2,TLSv1.3"
	k[CipherSuites] = "TLS_AES_128_GCM_SHA256"
	only13, err := Server(k)
	if err != nil {
		t.Fatal(err)
	}
	if only13.MinVersion != tls.VersionTLS13 {
		t.Fatalf("only TLS 1.3 suites: min version %x", only13.MinVersion)
	}
}

// certWithSubject makes a self-signed certificate with a raw subject.
func certWithSubject(t *testing.T, subject pkix.RDNSequence) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := asn1.Marshal(subject)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), RawSubject: raw, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSubjectDN(t *testing.T) {
	oid := func(s ...int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier(s) }
	cn, o, c, dc, email := oid(2, 5, 4, 3), oid(2, 5, 4, 10), oid(2, 5, 4, 6), oid(0, 9, 2342, 19200300, 100, 1, 25), oid(1, 2, 840, 113549, 1, 9, 1)
	ia5 := func(s string) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagIA5String, Bytes: []byte(s)}
	}
	cases := []struct {
		subject pkix.RDNSequence
		want    string
	}{
		{pkix.RDNSequence{{{Type: c, Value: "US"}}, {{Type: o, Value: "Runnel"}}, {{Type: cn, Value: "alice"}}}, "CN=alice,O=Runnel,C=US"},
		// Escapes: comma, plus, quote, leading '#' and space, trailing space.
		{pkix.RDNSequence{{{Type: cn, Value: `a,b+c"d`}}}, `CN=a\,b\+c\"d`},
		{pkix.RDNSequence{{{Type: cn, Value: "#lead "}}}, `CN=\#lead\ `},
		// Multi-valued RDN, DC keyword, and an attribute without an RFC
		// 2253 keyword printed as OID=#hex of its DER.
		{pkix.RDNSequence{{{Type: dc, Value: ia5("com")}}, {{Type: cn, Value: "bob"}, {Type: email, Value: ia5("b@x")}}}, "CN=bob+1.2.840.113549.1.9.1=#1603624078,DC=com"},
	}
	for _, tc := range cases {
		got, err := SubjectDN(certWithSubject(t, tc.subject))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestMappingRules(t *testing.T) {
	rules, err := ParseMappingRules(`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, RULE:^CN=([a-z]+)\/x,(.*)$/$1@$2/U,DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=Kafka-Svc,OU=ServiceUsers,O=Corp": "kafka-svc",
		"CN=bob/x,O=Corp":                     "BOB@O=CORP",
		"CN=carol,O=Corp":                     "CN=carol,O=Corp",
	} {
		got, err := rules.Map(dn)
		if err != nil || got != want {
			t.Errorf("%s → %q, %v; want %q", dn, got, err, want)
		}
	}
	strict, err := ParseMappingRules(`RULE:^CN=(.*),O=Corp$/$1/`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Map("CN=x,O=Other"); err == nil {
		t.Fatal("a subject no rule maps was accepted")
	}
	for _, bad := range []string{"RULE:x", "NOPE", "RULE:(/x/"} {
		if _, err := ParseMappingRules(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if r, err := ParseMappingRules(""); err != nil {
		t.Fatal(err)
	} else if got, _ := r.Map("CN=a"); got != "CN=a" {
		t.Fatal("empty rules are not DEFAULT")
	}
	var nilRules *MappingRules
	if got, err := nilRules.Map("CN=a"); err != nil || got != "CN=a" {
		t.Fatal("nil rules are not DEFAULT")
	}
}
