package network

import (
	"context"
	"crypto/tls"
	"os"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/tlsconfig"
	"github.com/runnel/runnel/security/tlsconfig/tlstest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// tlsFiles generates certificates and key stores for one test.
func tlsFiles(t testing.TB) *tlstest.Files {
	t.Helper()
	f, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// clientTLS trusts the test CA.
func clientTLS(t testing.TB, f *tlstest.Files) *tls.Config {
	t.Helper()
	c, err := tlsconfig.Client(tlsconfig.Keys{tlsconfig.TruststoreType: "PEM", tlsconfig.TruststoreLocation: f.CA})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitUntil polls cond until it holds; the bound is a guard, not a timing
// assertion.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSServerPrincipal: the Server records each TLS connection's
// principal on its ConnContext (the certificate's subject in RFC 2253,
// else User:ANONYMOUS), and a plaintext client on the TLS port is turned
// away with a log line while the listeners keep serving.
func TestTLSServerPrincipal(t *testing.T) {
	f := tlsFiles(t)
	keys := tlsconfig.Keys(f.ServerKeys("PKCS12"))
	keys[tlsconfig.ClientAuth] = "requested"
	srvTLS, err := tlsconfig.Server(keys)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	principals := make(chan string, 10)
	s, err := NewServer(Config{
		Listeners: []Listener{{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}, {Name: "SSL", Addr: "127.0.0.1:0", TLS: srvTLS}},
		Logger:    zap.New(core),
	}, map[int16]Handler{3: {MaxVersion: 12, Handle: func(_ context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
		select {
		case principals <- cc.Listener + " " + cc.Principal():
		default:
		}
		resp := req.Body.ResponseKind().(*kmsg.MetadataResponse)
		return Response{Msg: resp}, nil
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	plainAddr, tlsAddr := s.Addrs()[0].String(), s.Addrs()[1].String()

	metadata := func(addr string, opts ...kgo.Opt) string {
		t.Helper()
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
			t.Fatal(err)
		}
		return <-principals
	}
	if got := metadata(plainAddr); got != "PLAINTEXT User:ANONYMOUS" {
		t.Errorf("PLAINTEXT: %s", got)
	}
	if got := metadata(tlsAddr, kgo.DialTLSConfig(clientTLS(t, f))); got != "SSL User:ANONYMOUS" {
		t.Errorf("SSL without certificate: %s", got)
	}
	withCert, err := tlsconfig.Client(tlsconfig.Keys{
		tlsconfig.KeystoreType: "PEM", tlsconfig.KeystoreLocation: f.ClientCert,
		tlsconfig.TruststoreType: "PEM", tlsconfig.TruststoreLocation: f.CA,
	})
	if err == nil {
		t.Fatal("a PEM key store file without its key was accepted")
	}
	chain, _ := os.ReadFile(f.ClientCert)
	key, _ := os.ReadFile(f.ClientKey)
	withCert, err = tlsconfig.Client(tlsconfig.Keys{
		tlsconfig.KeystoreType: "PEM", tlsconfig.KeystoreCertificateChain: string(chain), tlsconfig.KeystoreKey: string(key),
		tlsconfig.TruststoreType: "PEM", tlsconfig.TruststoreLocation: f.CA,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := metadata(tlsAddr, kgo.DialTLSConfig(withCert)); got != "SSL User:"+tlstest.ClientDN {
		t.Errorf("SSL with certificate: %s", got)
	}

	// A plaintext Kafka request on the TLS port: the broker closes the
	// connection (the client reads EOF or an alert, never a response).
	c := wiretest.Dial(t, tlsAddr)
	wiretest.Send(t, c, kmsg.NewPtrApiVersionsRequest(), 1)
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	waitUntil(t, "handshake failure logged", func() bool {
		return logs.FilterMessage("closing connection: TLS handshake failed").Len() > 0
	})
	if got := metadata(tlsAddr, kgo.DialTLSConfig(clientTLS(t, f))); got != "SSL User:ANONYMOUS" {
		t.Errorf("SSL after a plaintext client: %s", got)
	}
	if got := metadata(plainAddr); got != "PLAINTEXT User:ANONYMOUS" {
		t.Errorf("PLAINTEXT after a plaintext client on SSL: %s", got)
	}
}
