package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/security/tlsconfig"
	"github.com/runnel/runnel/security/tlsconfig/tlstest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"
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

// sslOverrides are key=value overrides for the key and trust stores of
// type typ.
func sslOverrides(f *tlstest.Files, typ string) []string {
	var out []string
	for k, v := range f.ServerKeys(typ) {
		out = append(out, k+"="+v)
	}
	return out
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

// checkBatchCRCs walks a record set and checks every batch's CRC-32C
// (over attributes … end, as Kafka's DefaultRecordBatch does); it returns
// the offset after the last batch and the number of batches.
func checkBatchCRCs(t *testing.T, b []byte) (next int64, batches int) {
	t.Helper()
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	for len(b) > 0 {
		if len(b) < 61 {
			t.Fatalf("truncated batch header (%d bytes)", len(b))
		}
		base := int64(binary.BigEndian.Uint64(b[0:]))
		size := int(binary.BigEndian.Uint32(b[8:])) + 12
		if size > len(b) {
			t.Fatalf("batch at %d: size %d past the end (%d)", base, size, len(b))
		}
		crc := binary.BigEndian.Uint32(b[17:])
		if got := crc32.Checksum(b[21:size], castagnoli); got != crc {
			t.Fatalf("batch at %d: CRC %08x, stored %08x", base, got, crc)
		}
		lastDelta := int64(binary.BigEndian.Uint32(b[23:]))
		next = base + lastDelta + 1
		batches++
		b = b[size:]
	}
	return next, batches
}

// TestTLSFetchMultiSegment fetches a range spanning many segments over an
// SSL listener, where Fetch takes the copying path instead of sendfile,
// and checks it byte for byte against the same fetch over PLAINTEXT
// (sendfile), batch CRCs included, then consumes it with franz-go.
func TestTLSFetchMultiSegment(t *testing.T) {
	f := tlsFiles(t)
	tb := startTestBroker(t, append([]string{
		"listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"log.segment.bytes=1048576",
	}, sslOverrides(f, "PEM")...)...)
	tlsAddr := tb.Addrs()[1].String()
	ctx := testCtx(t)

	// ~6 MiB of incompressible values in ~64 KiB batches: six segments
	// or more, and a fetch that crosses segment boundaries.
	created, err := tb.admin(t).CreateTopic(ctx, 1, 1, nil, "big")
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 1500, 4096
	values := make([][]byte, n)
	cl := tb.client(t, kgo.DefaultProduceTopic("big"), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	var recs []*kgo.Record
	for i := range values {
		values[i] = make([]byte, size)
		rand.Read(values[i])
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: values[i]})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	segs, err := filepath.Glob(filepath.Join(tb.cfg.LogDirs[0], "big-0", "*.log"))
	if err != nil || len(segs) < 5 {
		t.Fatalf("want several segments, got %v (%v)", segs, err)
	}

	// The same raw Fetch on both listeners, 2 MiB at a time.
	plain := tb.client(t)
	secure := tb.client(t, kgo.SeedBrokers(tlsAddr), kgo.DialTLSConfig(clientTLS(t, f)))
	fetch := func(cl *kgo.Client, offset int64) []byte {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MaxBytes = 4 << 20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = "big", created.ID // by name up to v12, by id from v13
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = 0, offset, 2<<20
		fp.CurrentLeaderEpoch = -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch at %d: error %d", offset, p.ErrorCode)
		}
		return p.RecordBatches
	}
	var total, batches int
	for off := int64(0); off < n; {
		a, b := fetch(plain, off), fetch(secure, off)
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Fatalf("fetch at %d: PLAINTEXT %d bytes, SSL %d bytes, equal %v", off, len(a), len(b), bytes.Equal(a, b))
		}
		next, nb := checkBatchCRCs(t, b)
		if next <= off {
			t.Fatalf("fetch at %d did not advance", off)
		}
		off, total, batches = next, total+len(b), batches+nb
	}
	if total < n*size {
		t.Fatalf("fetched %d bytes, want at least %d", total, n*size)
	}

	// And a real consumer over TLS (franz-go checks CRCs too).
	cons := tb.client(t, kgo.SeedBrokers(tlsAddr), kgo.DialTLSConfig(clientTLS(t, f)), kgo.ConsumeTopics("big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(got) || !bytes.Equal(r.Value, values[got]) {
				t.Fatalf("record %d: offset %d, value differs: %v", got, r.Offset, !bytes.Equal(r.Value, values[got]))
			}
			got++
		})
	}
}

// TestSSLListenerNeedsKeyStore: a broker whose SSL listener has no key
// store refuses to start, naming the listener and the key to set.
func TestSSLListenerNeedsKeyStore(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]string{
		"no key store":   nil,
		"missing file":   {"ssl.keystore.location=" + filepath.Join(dir, "nope.jks"), "ssl.keystore.password=x"},
		"wrong password": {"ssl.keystore.location=" + tlsFiles(t).ServerJKS, "ssl.keystore.password=wrong"},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, _, err := config.Load("", nil, append([]string{
				"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
				"log.dirs=" + filepath.Join(dir, "logs"), "runnel.admin.listener=",
			}, extra...))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t)})
			if err == nil {
				b.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), "SSL listener SSL") || !strings.Contains(err.Error(), "ssl.keystore.location") {
				t.Fatalf("error %q", err)
			}
			if strings.Contains(err.Error(), "wrong") && name == "wrong password" {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}

// TestInterBrokerSSL: three brokers whose inter-broker listener is SSL
// with client certificates required replicate an acks=all topic: the
// followers' fetchers dial the leader over TLS with the broker's key store.
func TestInterBrokerSSL(t *testing.T) {
	f := tlsFiles(t)
	url := startEtcd(t)
	ov := append([]string{
		"listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"inter.broker.listener.name=SSL",
		"ssl.client.auth=required",
		"min.insync.replicas=3",
	}, sslOverrides(f, "JKS")...)
	bs := startClusterBrokers(t, url, 3, t.TempDir(), ov...)
	t.Cleanup(func() {
		for _, b := range bs {
			b.Close()
		}
	})
	for _, b := range bs {
		if b.interTLS == nil {
			t.Fatal("inter-broker TLS not configured")
		}
	}
	ctx := testCtx(t)
	if _, err := bs[0].admin(t).CreateTopic(ctx, 2, 3, nil, "rep"); err != nil {
		t.Fatal(err)
	}
	waitLeadersEverywhere(t, bs, "rep", 2)
	cl := bs[0].client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"), kgo.RecordRetries(100))
	for i := 0; i < 100; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint("v", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// min.insync.replicas=3: every acknowledged write is on every broker.
	for p := int32(0); p < 2; p++ {
		st := partitionState(bs[0], "rep", p)
		if len(st.ISR) != 3 {
			t.Fatalf("partition %d ISR %v", p, st.ISR)
		}
		var ends []int64
		for _, b := range bs {
			ends = append(ends, localReplica(b, "rep", p).log.LogEndOffset())
		}
		if ends[0] != ends[1] || ends[1] != ends[2] {
			t.Fatalf("partition %d log ends %v", p, ends)
		}
	}
}

// TestServerListenersTLS: SSL and SASL_SSL listeners get TLS from their
// own listener.name.<l>.ssl.* keys over the global ones; PLAINTEXT and
// SASL_PLAINTEXT stay plaintext.
func TestServerListenersTLS(t *testing.T) {
	f := tlsFiles(t)
	cfg, _, err := config.Load("", nil, append([]string{
		"listeners=PLAINTEXT://:1,SSL://:2,SASL_PLAINTEXT://:3,SASL_SSL://:4,INTERNAL://:5",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,INTERNAL:SSL",
		"inter.broker.listener.name=INTERNAL",
		"ssl.client.auth=requested", // not on SASL_SSL (KIP-684)
		"listener.name.internal.ssl.client.auth=required",
		"listener.name.internal.ssl.principal.mapping.rules=RULE:^CN=([^,]*),.*$/$1/L",
	}, sslOverrides(f, "JKS")...))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := serverListeners(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		wantTLS := l.Name == "SSL" || l.Name == "SASL_SSL" || l.Name == "INTERNAL"
		if (l.TLS != nil) != wantTLS {
			t.Errorf("%s: TLS %v, want %v", l.Name, l.TLS != nil, wantTLS)
		}
		if l.TLS != nil {
			wantAuth := tls.VerifyClientCertIfGiven
			switch l.Name {
			case "INTERNAL":
				wantAuth = tls.RequireAndVerifyClientCert
			case "SASL_SSL":
				wantAuth = tls.NoClientCert
			}
			if l.TLS.ClientAuth != wantAuth {
				t.Errorf("%s: client auth %v, want %v", l.Name, l.TLS.ClientAuth, wantAuth)
			}
		}
	}
	if got, _ := ls[4].PrincipalRules.Map(tlstest.ClientDN); got != "client1" {
		t.Errorf("INTERNAL mapping rules map %s to %q", tlstest.ClientDN, got)
	}
	inter, err := interBrokerTLS(cfg)
	if err != nil || inter == nil || len(inter.Certificates) != 1 {
		t.Fatalf("inter-broker TLS %v, %v", inter, err)
	}

	// The Confluent image's indirections get a hint.
	cfg, _, err = config.Load("", []string{"KAFKA_SSL_KEYSTORE_FILENAME=kafka.keystore.jks"}, []string{"listeners=SSL://:2", "security.inter.broker.protocol=SSL"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serverListeners(cfg); err == nil || !strings.Contains(err.Error(), "KAFKA_SSL_KEYSTORE_LOCATION") {
		t.Fatalf("error %v", err)
	}
}

// TestInterBrokerSASLSSL: with a SASL_SSL inter-broker listener the replica
// fetchers dial TLS and then authenticate (SCRAM-SHA-512) on it; acks=all
// writes with min.insync.replicas=3 reach every broker.
func TestInterBrokerSASLSSL(t *testing.T) {
	f := tlsFiles(t)
	url := startEtcd(t)
	jaas := `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";`
	ov := append([]string{
		"listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL",
		"inter.broker.listener.name=INTERNAL",
		"sasl.enabled.mechanisms=SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
		"listener.name.internal.scram-sha-512.sasl.jaas.config=" + jaas,
		"min.insync.replicas=3",
	}, sslOverrides(f, "PEM")...)
	bs := startClusterBrokers(t, url, 3, t.TempDir(), ov...)
	t.Cleanup(func() {
		for _, b := range bs {
			b.Close()
		}
	})
	for _, b := range bs {
		if b.interTLS == nil || b.interBrokerSASL == nil {
			t.Fatalf("broker %d: inter-broker TLS %v, SASL %v", b.id, b.interTLS != nil, b.interBrokerSASL != nil)
		}
	}
	ctx := testCtx(t)
	if _, err := bs[0].admin(t).CreateTopic(ctx, 1, 3, nil, "rep"); err != nil {
		t.Fatal(err)
	}
	waitLeadersEverywhere(t, bs, "rep", 1)
	cl := bs[0].client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"), kgo.RecordRetries(100))
	for i := 0; i < 50; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint("v", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if st := partitionState(bs[0], "rep", 0); len(st.ISR) != 3 {
		t.Fatalf("ISR %v", st.ISR)
	}
	for _, b := range bs {
		if end := localReplica(b, "rep", 0).log.LogEndOffset(); end != 50 {
			t.Fatalf("broker %d log end %d, want 50", b.id, end)
		}
	}
}
