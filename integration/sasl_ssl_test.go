package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSASLOverTLS: a SASL_SSL listener is TLS with SASL inside, configured
// the way a compose file configures Kafka (KAFKA_SSL_* and a per-listener
// JAAS line). franz-go (PLAIN) and kcat (SCRAM-SHA-512, a user created
// with kadm) produce and read back over it; a wrong password is refused
// and writes nothing; a client that skips TLS gets nowhere.
func TestSASLOverTLS(t *testing.T) {
	f := testTLSFiles(t)
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="%s" user_admin="%s" user_alice="%s";`,
		adminPassword, adminPassword, alicePassword)
	opts := []brokerOption{
		func(b *broker) {
			b.args = append(b.args, "--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d", b.port, port))
		},
		withEnv("KAFKA_SASL_ENABLED_MECHANISMS", "PLAIN,SCRAM-SHA-512"),
		withEnv("KAFKA_LISTENER_NAME_SASL__SSL_PLAIN_SASL_JAAS_CONFIG", jaas),
		withOverride("auto.create.topics.enable", "false"),
	}
	for k, v := range f.ServerKeys("PEM") {
		opts = append(opts, withEnv("KAFKA_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_")), v))
	}
	b := startBroker(t, opts...)
	b.createTopic(t, "sasl-ssl", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := b.admin(t).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "carol-s3cret"}})
	if err != nil || res.Error() != nil {
		t.Fatalf("AlterUserSCRAMs: %v %v", err, res.Error())
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(clientTLSConfig(t, f, false)),
		kgo.SASL(plain.Auth{User: "alice", Pass: alicePassword}.AsMechanism()), kgo.DefaultProduceTopic("sasl-ssl"),
		kgo.ConsumeTopics("sasl-ssl"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint("franz-", i))).FirstErr(); err != nil {
			t.Fatalf("franz-go over SASL_SSL: %v", err)
		}
	}

	kcatArgs := func(user, pass string, more ...string) []string {
		return append([]string{"-b", addr, "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + f.CA,
			"-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=" + user, "-X", "sasl.password=" + pass,
			"-t", "sasl-ssl", "-p", "0"}, more...)
	}
	kcat(t, "kcat-0\nkcat-1\n", kcatArgs("carol", "carol-s3cret", "-P")...)
	out := kcat(t, "", kcatArgs("carol", "carol-s3cret", "-C", "-o", "beginning", "-e", "-q")...)
	if got := strings.Join(strings.Fields(out), ","); got != "franz-0,franz-1,franz-2,kcat-0,kcat-1" {
		t.Fatalf("kcat over SASL_SSL read %q", got)
	}
	var got []string
	for len(got) < 5 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "franz-0,franz-1,franz-2,kcat-0,kcat-1" {
		t.Fatalf("franz-go over SASL_SSL read %q", got)
	}

	if _, stderr, err := kcatRun("never\n", kcatArgs("carol", "wrong", "-P", "-X", "message.timeout.ms=5000")...); err == nil || !strings.Contains(stderr, "Authentication failed") {
		t.Fatalf("kcat with a wrong password over SASL_SSL: err %v\n%s", err, tail(stderr, 20))
	}
	wrong, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(clientTLSConfig(t, f, false)),
		kgo.SASL(scram.Auth{User: "carol", Pass: "wrong"}.AsSha512Mechanism()), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, wrong)
	wrong.Close()
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("franz-go with a wrong password over SASL_SSL: %v", err)
	}
	noTLS, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(plain.Auth{User: "alice", Pass: alicePassword}.AsMechanism()),
		kgo.RequestRetries(0), kgo.DialTimeout(5*time.Second), kgo.RequestTimeoutOverhead(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, noTLS); err == nil {
		t.Fatal("a client without TLS was answered on the SASL_SSL listener")
	}
	noTLS.Close()

	ends, err := b.admin(t).ListEndOffsets(ctx, "sasl-ssl")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("sasl-ssl", 0); o.Offset != 5 {
		t.Fatalf("end offset %d, want 5", o.Offset)
	}
}
