package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/IBM/sarama"
	"github.com/runnel/runnel/security/tlsconfig"
	"github.com/runnel/runnel/security/tlsconfig/tlstest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// tlsBroker starts runnel with its PLAINTEXT listener (which the harness
// polls for readiness) and an SSL listener beside it, whose key and trust
// stores are of type typ, given as --override unless opts say otherwise.
// It returns the broker and the SSL listener's address.
func tlsBroker(t *testing.T, f *tlstest.Files, typ string, asOverrides bool, opts ...brokerOption) (*broker, string) {
	t.Helper()
	sslPort := testenv.FreePort(t)
	all := []brokerOption{func(b *broker) {
		b.args = append(b.args, "--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d", b.port, sslPort))
	}}
	if asOverrides {
		for k, v := range f.ServerKeys(typ) {
			all = append(all, withOverride(k, v))
		}
	}
	b := startBroker(t, append(all, opts...)...)
	return b, fmt.Sprintf("127.0.0.1:%d", sslPort)
}

func testTLSFiles(t *testing.T) *tlstest.Files {
	t.Helper()
	f, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// clientTLSConfig trusts the test CA and, when withCert, presents the
// client certificate.
func clientTLSConfig(t *testing.T, f *tlstest.Files, withCert bool) *tls.Config {
	t.Helper()
	keys := tlsconfig.Keys{tlsconfig.TruststoreType: "PEM", tlsconfig.TruststoreLocation: f.CA}
	if withCert {
		keys[tlsconfig.KeystoreLocation], keys[tlsconfig.KeystorePassword] = f.ClientJKS, tlstest.StorePass
	}
	c, err := tlsconfig.Client(keys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// franzRoundTrip produces n records to topic through addr and consumes
// them back, all with franz-go over TLS.
func franzRoundTrip(t *testing.T, addr, topic string, n int, tc *tls.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(tc), kgo.DefaultProduceTopic(topic),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint("franz-", i))).FirstErr(); err != nil {
			t.Fatalf("franz-go produce over TLS: %v", err)
		}
	}
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("franz-go consume over TLS: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if v := string(r.Value); strings.HasPrefix(v, "franz-") {
				got = append(got, v)
			}
		})
	}
	for i, v := range got {
		if v != fmt.Sprint("franz-", i) {
			t.Fatalf("franz-go record %d: %q", i, v)
		}
	}
}

// saramaRoundTrip does the same with sarama.
func saramaRoundTrip(t *testing.T, addr, topic string, n int, tc *tls.Config) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tc
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cl, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama over TLS: %v", err)
	}
	defer cl.Close()
	p, err := sarama.NewSyncProducerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var first int64 = -1
	for i := 0; i < n; i++ {
		_, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(fmt.Sprint("sarama-", i))})
		if err != nil {
			t.Fatalf("sarama produce over TLS: %v", err)
		}
		if first < 0 {
			first = off
		}
	}
	c, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, first)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(60 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != fmt.Sprint("sarama-", i) {
				t.Fatalf("sarama record %d: %q", i, m.Value)
			}
		case err := <-pc.Errors():
			t.Fatalf("sarama consume over TLS: %v", err)
		case <-timeout:
			t.Fatalf("sarama consume over TLS: %d of %d records", i, n)
		}
	}
}

// kcatTLS are kcat's options for the SSL listener.
func kcatTLS(f *tlstest.Files, withCert bool) []string {
	args := []string{"-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + f.CA}
	if withCert {
		args = append(args, "-X", "ssl.certificate.location="+f.ClientCert, "-X", "ssl.key.location="+f.ClientKey)
	}
	return args
}

// kcatRoundTrip produces n lines with kcat over TLS and reads them back.
func kcatRoundTrip(t *testing.T, f *tlstest.Files, addr, topic string, n int, withCert bool) {
	t.Helper()
	var lines []string
	for i := 0; i < n; i++ {
		lines = append(lines, fmt.Sprint("kcat-", i))
	}
	kcat(t, strings.Join(lines, "\n")+"\n", append([]string{"-b", addr, "-P", "-t", topic, "-p", "0"}, kcatTLS(f, withCert)...)...)
	out := kcat(t, "", append([]string{"-b", addr, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"}, kcatTLS(f, withCert)...)...)
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "kcat-") {
			got = append(got, l)
		}
	}
	if strings.Join(got, ",") != strings.Join(lines, ",") {
		t.Fatalf("kcat over TLS read back %d of %d records: %v", len(got), n, got)
	}
}

// pythonTLS runs tls_roundtrip.py with lib over addr.
func pythonTLS(t *testing.T, lib string, f *tlstest.Files, addr, topic string, n int, withCert bool) {
	t.Helper()
	args := []string{lib, addr, topic, fmt.Sprint(n), f.CA}
	if withCert {
		args = append(args, f.ClientCert, f.ClientKey)
	}
	out := python(t, "tls_roundtrip.py", args...)
	var r struct{ Produced, Consumed int }
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil || r.Consumed != n {
		t.Fatalf("%s over TLS: %q (%v)", lib, out, err)
	}
}

// TestTLSKeyStoreTypes: produce and consume over an SSL listener whose key
// store is JKS, PKCS12 (configured through KAFKA_SSL_* environment
// variables, as a docker-compose file would) and PEM, with franz-go,
// sarama and kcat on each, and the two Python clients on PEM.
func TestTLSKeyStoreTypes(t *testing.T) {
	f := testTLSFiles(t)
	for _, typ := range []string{"JKS", "PKCS12", "PEM"} {
		t.Run(typ, func(t *testing.T) {
			var opts []brokerOption
			if typ == "PKCS12" {
				for k, v := range f.ServerKeys(typ) {
					opts = append(opts, withEnv("KAFKA_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_")), v))
				}
			}
			b, addr := tlsBroker(t, f, typ, typ != "PKCS12", opts...)
			b.createTopic(t, "tls", 1)
			tc := clientTLSConfig(t, f, false)
			franzRoundTrip(t, addr, "tls", 20, tc)
			saramaRoundTrip(t, addr, "tls", 20, tc)
			kcatRoundTrip(t, f, addr, "tls", 20, false)
			if typ == "PEM" {
				pythonTLS(t, "confluent", f, addr, "tls", 20, false)
				pythonTLS(t, "kafka-python", f, addr, "tls", 20, false)
			}
			if strings.Contains(b.logs(), "unknown config ssl.") {
				t.Fatalf("ssl keys reported unknown:\n%s", b.logs())
			}
		})
	}
}

// TestTLSClientAuthRequired: with ssl.client.auth=required a client with
// no certificate is refused and one with a certificate from the trusted
// CA gets in, for every client.
func TestTLSClientAuthRequired(t *testing.T) {
	f := testTLSFiles(t)
	b, addr := tlsBroker(t, f, "JKS", true, withOverride("ssl.client.auth", "required"))
	b.createTopic(t, "mtls", 1)

	// Refused: franz-go and kcat without a certificate.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(clientTLSConfig(t, f, false)), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	cancel()
	cl.Close()
	if err == nil {
		t.Fatal("franz-go without a client certificate got metadata")
	}
	kctx, kcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer kcancel()
	out, err := exec.CommandContext(kctx, "kcat", append([]string{"-b", addr, "-L", "-m", "5"}, kcatTLS(f, false)...)...).CombinedOutput()
	if err == nil {
		t.Fatalf("kcat without a client certificate listed metadata:\n%s", out)
	}

	// Accepted with a certificate.
	tc := clientTLSConfig(t, f, true)
	franzRoundTrip(t, addr, "mtls", 10, tc)
	saramaRoundTrip(t, addr, "mtls", 10, tc)
	kcatRoundTrip(t, f, addr, "mtls", 10, true)
	pythonTLS(t, "confluent", f, addr, "mtls", 10, true)
	pythonTLS(t, "kafka-python", f, addr, "mtls", 10, true)
}

// TestTLSBesidePlaintext: a PLAINTEXT and an SSL listener on one broker
// serve the same data, a plaintext client on the SSL port fails cleanly
// without disturbing the broker, and DescribeConfigs hides the passwords.
func TestTLSBesidePlaintext(t *testing.T) {
	f := testTLSFiles(t)
	b, addr := tlsBroker(t, f, "PKCS12", true)
	b.createTopic(t, "both", 1)

	// Written over PLAINTEXT, read over SSL; then the other way.
	kcat(t, "plain-1\nplain-2\n", "-b", b.addr(), "-P", "-t", "both", "-p", "0")
	kcat(t, "ssl-1\nssl-2\n", append([]string{"-b", addr, "-P", "-t", "both", "-p", "0"}, kcatTLS(f, false)...)...)
	want := "plain-1\nplain-2\nssl-1\nssl-2"
	if got := strings.TrimSpace(kcat(t, "", append([]string{"-b", addr, "-C", "-t", "both", "-p", "0", "-o", "beginning", "-e", "-q"}, kcatTLS(f, false)...)...)); got != want {
		t.Fatalf("over SSL: %q", got)
	}
	if got := strings.TrimSpace(kcat(t, "", "-b", b.addr(), "-C", "-t", "both", "-p", "0", "-o", "beginning", "-e", "-q")); got != want {
		t.Fatalf("over PLAINTEXT: %q", got)
	}

	// Plaintext clients on the SSL port: franz-go and kcat fail.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	cancel()
	cl.Close()
	if err == nil {
		t.Fatal("a plaintext franz-go client got metadata from the SSL port")
	}
	kctx, kcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer kcancel()
	if out, err := exec.CommandContext(kctx, "kcat", "-b", addr, "-L", "-m", "5").CombinedOutput(); err == nil {
		t.Fatalf("a plaintext kcat listed metadata from the SSL port:\n%s", out)
	}
	if !strings.Contains(b.logs(), "TLS handshake failed") {
		t.Fatalf("no log line for the plaintext client on the SSL port:\n%s", tail(b.logs(), 30))
	}

	// The broker still serves both listeners.
	franzRoundTrip(t, addr, "after", 5, clientTLSConfig(t, f, false))
	if got := strings.TrimSpace(kcat(t, "", "-b", b.addr(), "-C", "-t", "both", "-p", "0", "-o", "beginning", "-e", "-q")); got != want {
		t.Fatalf("over PLAINTEXT afterwards: %q", got)
	}

	// DescribeConfigs shows where the key store is but not its password.
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rcs, err := b.admin(t).DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("1", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range rc.Configs {
		switch c.Key {
		case "ssl.keystore.password", "ssl.truststore.password":
			seen++
			if !c.Sensitive || c.Value != nil {
				t.Errorf("%s: sensitive %v, value %v", c.Key, c.Sensitive, c.MaybeValue())
			}
		case "ssl.keystore.location":
			seen++
			if c.MaybeValue() != f.ServerP12 {
				t.Errorf("ssl.keystore.location = %q", c.MaybeValue())
			}
		}
	}
	if seen != 3 {
		t.Fatalf("DescribeConfigs returned %d of the 3 ssl keys looked for", seen)
	}
	if strings.Contains(b.logs(), tlstest.StorePass) || strings.Contains(b.logs(), tlstest.TrustPass) {
		t.Fatal("a password is in the broker's log")
	}
}
