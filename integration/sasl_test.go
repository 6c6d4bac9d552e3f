package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// saslBroker is a runnel with the PLAINTEXT listener the harness needs and
// a SASL_PLAINTEXT listener beside it, configured the way a compose file
// configures Kafka: KAFKA_* variables with a JAAS line for PLAIN users.
type saslBroker struct {
	*broker
	saslPort int
}

const (
	alicePassword = "alice-s3cret"
	adminPassword = "admin-s3cret"
)

func startSASLBroker(t *testing.T) *saslBroker {
	t.Helper()
	saslPort := testenv.FreePort(t)
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="%s" user_admin="%s" user_alice="%s";`,
		adminPassword, adminPassword, alicePassword)
	b := startBroker(t,
		func(b *broker) {
			b.args = append(b.args, "--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d", b.port, saslPort))
		},
		withEnv("KAFKA_SASL_ENABLED_MECHANISMS", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
		withEnv("KAFKA_LISTENER_NAME_SASL__PLAINTEXT_PLAIN_SASL_JAAS_CONFIG", jaas),
		withOverride("auto.create.topics.enable", "false"),
	)
	t.Cleanup(func() {
		// Passwords never reach the log.
		for _, p := range []string{alicePassword, adminPassword, "carol-s3cret", "dave-s3cret"} {
			if strings.Contains(b.logs(), p) {
				t.Errorf("runnel's log contains the password %q", p)
			}
		}
	})
	return &saslBroker{broker: b, saslPort: saslPort}
}

func (b *saslBroker) saslAddr() string { return fmt.Sprintf("127.0.0.1:%d", b.saslPort) }

// endOffset is the topic's partition-0 end offset, read on PLAINTEXT.
func (b *saslBroker) endOffset(t *testing.T, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := b.admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ends.Lookup(topic, 0)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	return o.Offset
}

// addSCRAMUsers creates SCRAM users through AlterUserScramCredentials with
// kadm, on the PLAINTEXT listener.
func (b *saslBroker) addSCRAMUsers(t *testing.T, users ...kadm.UpsertSCRAM) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := b.admin(t).AlterUserSCRAMs(ctx, nil, users)
	if err != nil || res.Error() != nil {
		t.Fatalf("AlterUserSCRAMs: %v %v", err, res.Error())
	}
}

func TestSASLFranzGo(t *testing.T) {
	b := startSASLBroker(t)
	b.createTopic(t, "sasl-franz", 1)
	b.addSCRAMUsers(t, kadm.UpsertSCRAM{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "carol-s3cret"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, c := range []struct {
		name string
		mech fsasl.Mechanism
	}{
		{"PLAIN", plain.Auth{User: "alice", Pass: alicePassword}.AsMechanism()},
		{"SCRAM-SHA-512", scram.Auth{User: "carol", Pass: "carol-s3cret"}.AsSha512Mechanism()},
	} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.saslAddr()), kgo.SASL(c.mech), kgo.DefaultProduceTopic("sasl-franz"),
			kgo.ConsumeTopics("sasl-franz"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, kgo.StringRecord(c.name)).FirstErr(); err != nil {
			t.Fatalf("%s produce: %v", c.name, err)
		}
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil || fs.NumRecords() == 0 {
			t.Fatalf("%s consume: %v (%d records)", c.name, err, fs.NumRecords())
		}
		cl.Close()
	}

	for _, mech := range []fsasl.Mechanism{
		plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism(),
		scram.Auth{User: "carol", Pass: "wrong"}.AsSha512Mechanism(),
	} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.saslAddr()), kgo.SASL(mech), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		cl.Close()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("%s with a wrong password: %v", mech.Name(), err)
		}
	}
	if n := b.endOffset(t, "sasl-franz"); n != 2 {
		t.Fatalf("end offset %d, want 2", n)
	}
}

// saramaSCRAM adapts franz-go's SCRAM client to sarama's SCRAMClient
// interface (sarama ships none; its examples use xdg-go/scram).
type saramaSCRAM struct {
	sha512  bool
	session fsasl.Session
	done    bool
	user    string
	pass    string
}

func (s *saramaSCRAM) Begin(user, pass, _ string) error {
	s.user, s.pass = user, pass
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) {
	if s.session == nil {
		a := scram.Auth{User: s.user, Pass: s.pass}
		m := a.AsSha256Mechanism()
		if s.sha512 {
			m = a.AsSha512Mechanism()
		}
		sess, first, err := m.Authenticate(context.Background(), "")
		if err != nil {
			return "", err
		}
		s.session = sess
		return string(first), nil
	}
	done, resp, err := s.session.Challenge([]byte(challenge))
	s.done = done
	return string(resp), err
}

func (s *saramaSCRAM) Done() bool { return s.done }

func TestSASLSarama(t *testing.T) {
	b := startSASLBroker(t)
	b.createTopic(t, "sasl-sarama", 1)
	b.addSCRAMUsers(t, kadm.UpsertSCRAM{User: "dave", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "dave-s3cret"})

	// sarama's default is SaslHandshake v0 with bare tokens; v1 wraps
	// them in SaslAuthenticate. Both are tested.
	for _, hv := range []int16{sarama.SASLHandshakeV0, sarama.SASLHandshakeV1} {
		t.Run(fmt.Sprintf("handshake-v%d", hv), func(t *testing.T) { saramaSASL(t, b, hv) })
	}
	if n := b.endOffset(t, "sasl-sarama"); n != 4 {
		t.Fatalf("end offset %d, want 4", n)
	}
}

func saramaSASL(t *testing.T, b *saslBroker, handshakeVersion int16) {
	config := func(mech sarama.SASLMechanism, user, pass string) *sarama.Config {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = mech
		cfg.Net.SASL.User, cfg.Net.SASL.Password = user, pass
		cfg.Net.SASL.Handshake = true
		cfg.Net.SASL.Version = handshakeVersion
		// sarama refuses ApiVersions before a v0 handshake.
		cfg.ApiVersionsRequest = handshakeVersion != sarama.SASLHandshakeV0
		if mech == sarama.SASLTypeSCRAMSHA256 {
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{} }
		}
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Metadata.Retry.Max = 0
		return cfg
	}
	for _, c := range []struct {
		mech       sarama.SASLMechanism
		user, pass string
	}{
		{sarama.SASLTypePlaintext, "alice", alicePassword},
		{sarama.SASLTypeSCRAMSHA256, "dave", "dave-s3cret"},
	} {
		p, err := sarama.NewSyncProducer([]string{b.saslAddr()}, config(c.mech, c.user, c.pass))
		if err != nil {
			t.Fatalf("sarama %s: %v", c.mech, err)
		}
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sasl-sarama", Value: sarama.StringEncoder(string(c.mech))}); err != nil {
			t.Fatalf("sarama %s produce: %v", c.mech, err)
		}
		p.Close()
		cons, err := sarama.NewConsumer([]string{b.saslAddr()}, config(c.mech, c.user, c.pass))
		if err != nil {
			t.Fatal(err)
		}
		pc, err := cons.ConsumePartition("sasl-sarama", 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-pc.Messages():
			if string(m.Value) != string(sarama.SASLTypePlaintext) {
				t.Fatalf("first record %q", m.Value)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("sarama %s consumed nothing", c.mech)
		}
		pc.Close()
		cons.Close()
	}
	for _, c := range []struct {
		mech sarama.SASLMechanism
		user string
	}{{sarama.SASLTypePlaintext, "alice"}, {sarama.SASLTypeSCRAMSHA256, "dave"}} {
		_, err := sarama.NewSyncProducer([]string{b.saslAddr()}, config(c.mech, c.user, "wrong"))
		if err == nil {
			t.Fatalf("sarama %s accepted a wrong password", c.mech)
		}
		// v0 bare tokens cannot carry an error: Kafka, and Runnel, close
		// the connection, so only v1 clients see the reason.
		if handshakeVersion == sarama.SASLHandshakeV1 && !errors.Is(err, sarama.ErrSASLAuthenticationFailed) && !strings.Contains(err.Error(), "SASL Authentication failed") {
			t.Fatalf("sarama %s with a wrong password: %v", c.mech, err)
		}
	}
}

// kcatRun runs kcat and returns its output and error instead of failing.
func kcatRun(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// kcat (librdkafka) with PLAIN and with a SCRAM user created through kadm.
func TestSASLKcat(t *testing.T) {
	b := startSASLBroker(t)
	b.createTopic(t, "sasl-kcat", 1)
	b.addSCRAMUsers(t, kadm.UpsertSCRAM{User: "erin", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "erin-s3cret"})
	args := func(mech, user, pass string, more ...string) []string {
		return append([]string{"-b", b.saslAddr(), "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=" + user, "-X", "sasl.password=" + pass, "-t", "sasl-kcat"}, more...)
	}
	kcat(t, "plain-1\nplain-2\n", args("PLAIN", "alice", alicePassword, "-P")...)
	kcat(t, "scram-1\n", args("SCRAM-SHA-256", "erin", "erin-s3cret", "-P")...)
	out := kcat(t, "", args("SCRAM-SHA-256", "erin", "erin-s3cret", "-C", "-o", "beginning", "-e", "-q")...)
	if got := strings.Fields(out); strings.Join(got, ",") != "plain-1,plain-2,scram-1" {
		t.Fatalf("kcat consumed %q", out)
	}
	for _, a := range [][]string{
		args("PLAIN", "alice", "wrong", "-P", "-X", "message.timeout.ms=5000"),
		args("SCRAM-SHA-256", "erin", "wrong", "-P", "-X", "message.timeout.ms=5000"),
	} {
		_, stderr, err := kcatRun("never\n", a...)
		if err == nil || !strings.Contains(stderr, "Authentication failed") {
			t.Fatalf("kcat with a wrong password: err %v\n%s", err, tail(stderr, 20))
		}
	}
	if n := b.endOffset(t, "sasl-kcat"); n != 3 {
		t.Fatalf("end offset %d, want 3", n)
	}
}

// confluent-kafka-python (librdkafka) and kafka-python (SaslHandshake v0
// with bare tokens).
func TestSASLPython(t *testing.T) {
	b := startSASLBroker(t)
	b.addSCRAMUsers(t, kadm.UpsertSCRAM{User: "frank", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "frank-s3cret"})
	for _, c := range []struct {
		client, mech, user, pass, expect string
	}{
		{"confluent", "PLAIN", "alice", alicePassword, "ok"},
		{"confluent", "SCRAM-SHA-512", "frank", "frank-s3cret", "ok"},
		{"confluent", "PLAIN", "alice", "wrong", "authfail"},
		{"kafka-python", "PLAIN", "alice", alicePassword, "ok"},
		{"kafka-python", "SCRAM-SHA-512", "frank", "frank-s3cret", "ok"},
		{"kafka-python", "PLAIN", "alice", "wrong", "authfail"},
		{"kafka-python", "SCRAM-SHA-512", "frank", "wrong", "authfail"},
	} {
		topic := fmt.Sprintf("sasl-py-%s-%s-%s", c.client, strings.ToLower(c.mech), c.expect)
		b.createTopic(t, topic, 1)
		out := python(t, "sasl_clients.py", c.client, b.saslAddr(), c.mech, c.user, c.pass, topic, c.expect)
		if !strings.Contains(out, `"result": "`+c.expect+`"`) {
			t.Fatalf("%+v: %s", c, out)
		}
		want := int64(5)
		if c.expect == "authfail" {
			want = 0
		}
		if n := b.endOffset(t, topic); n != want {
			t.Fatalf("%+v: end offset %d, want %d", c, n, want)
		}
	}
}

// A request other than ApiVersions/SaslHandshake before authentication
// closes the connection; the PLAINTEXT listener beside it needs no
// authentication.
func TestSASLRequestBeforeAuthentication(t *testing.T) {
	b := startSASLBroker(t)
	c, err := net.Dial("tcp", b.saslAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 4
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.Version))
	body = binary.BigEndian.AppendUint32(body, 7)
	body = binary.BigEndian.AppendUint16(body, 0xffff) // null client id
	body = req.AppendTo(body)
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || n != 0 {
		t.Fatalf("connection not closed without an answer: %d bytes, %v", n, err)
	}
	// PLAINTEXT: anonymous clients work as before.
	b.createTopic(t, "plain-side", 1)
	kcat(t, "x\n", "-b", b.addr(), "-t", "plain-side", "-P")
	if got := b.endOffset(t, "plain-side"); got != 1 {
		t.Fatalf("PLAINTEXT end offset %d", got)
	}
}
