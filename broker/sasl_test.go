package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/runnel/runnel/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap/zaptest"
)

const plainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`

// SCRAM users created through AlterUserScramCredentials on the PLAINTEXT
// listener authenticate on the SASL listener; the describe and alter
// errors are Kafka's.
func TestSCRAMCredentialsAdmin(t *testing.T) {
	tb := startTestBroker(t,
		"listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512")
	saslAddr := tb.Addrs()[1].String()
	ctx := testCtx(t)
	adm := tb.admin(t)

	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-secret"},
		{User: "dave", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "dave-secret"},
	})
	if err != nil || res.Error() != nil {
		t.Fatalf("alter: %v %v", err, res.Error())
	}
	desc, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(desc) != 2 || desc["dave"].CredInfos[0].Iterations != 8192 || desc["carol"].CredInfos[0].Mechanism != kadm.ScramSha256 {
		t.Fatalf("describe all: %v %+v", err, desc)
	}
	desc, err = adm.DescribeUserSCRAMs(ctx, "carol", "nobody")
	if err != nil || desc["carol"].Err != nil || !errors.Is(desc["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe some: %v %+v", err, desc)
	}

	// Per-user errors, sent raw so the client does not pre-validate.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := func(name string, mech int8, iter int32) {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = name, mech, iter, []byte("salt"), []byte("salted")
		req.Upsertions = append(req.Upsertions, u)
	}
	del := func(name string, mech int8) {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = name, mech
		req.Deletions = append(req.Deletions, d)
	}
	up("few", 1, 100)
	up("many", 1, 20000)
	up("", 1, 4096)
	up("unknown-mech", 3, 4096)
	up("twice", 1, 4096)
	up("twice", 2, 4096)
	del("ghost", 1)
	resp, err := req.RequestWith(ctx, tb.client(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*kerr.Error{
		"few": kerr.UnacceptableCredential, "many": kerr.UnacceptableCredential, "": kerr.UnacceptableCredential,
		"unknown-mech": kerr.UnsupportedSaslMechanism, "twice": kerr.DuplicateResource, "ghost": kerr.ResourceNotFound,
	}
	if len(resp.Results) != len(want) {
		t.Fatalf("results %+v", resp.Results)
	}
	for _, r := range resp.Results {
		if w := want[r.User]; r.ErrorCode != w.Code || r.ErrorMessage == nil {
			t.Errorf("user %q: code %d (%v), want %s", r.User, r.ErrorCode, r.ErrorMessage, w.Message)
		}
	}
	if d, _ := adm.DescribeUserSCRAMs(ctx); len(d) != 2 {
		t.Fatalf("failed alters changed the users: %+v", d)
	}

	produce := func(mech kgo.Opt) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(saslAddr), mech, kgo.DefaultProduceTopic("scram"), kgo.AllowAutoTopicCreation(), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		// A Metadata request first: produce would retry an
		// authentication failure until its deadline.
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
			return err
		}
		return cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr()
	}
	if err := produce(kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha256Mechanism())); err != nil {
		t.Fatalf("carol: %v", err)
	}
	if err := produce(kgo.SASL(scram.Auth{User: "dave", Pass: "dave-secret"}.AsSha512Mechanism())); err != nil {
		t.Fatalf("dave: %v", err)
	}
	if err := produce(kgo.SASL(scram.Auth{User: "dave", Pass: "dave-secret"}.AsSha256Mechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("dave with the wrong mechanism: %v", err)
	}
	if res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha256}}, nil); err != nil || res.Error() != nil {
		t.Fatalf("delete: %v %v", err, res.Error())
	}
	if err := produce(kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha256Mechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted carol: %v", err)
	}
}

// newBrokerErr builds a broker from overrides and returns New's error
// (closing the broker if it started).
func newBrokerErr(t *testing.T, overrides ...string) error {
	t.Helper()
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ov := append([]string{"broker.id=1", "log.dirs=" + filepath.Join(dir, "logs"), "runnel.admin.listener="}, overrides...)
	cfg, _, err := config.Load("", nil, ov)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t)})
	if err == nil {
		b.Close()
	}
	return err
}

// A SASL listener that would let no one, or anyone, in stops the broker.
func TestSASLStartupRefusals(t *testing.T) {
	two := "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
	for _, c := range []struct {
		name string
		ov   []string
		want string
	}{
		{"GSSAPI default", []string{two}, "no supported SASL mechanism"},
		{"PLAIN without JAAS", []string{two, "sasl.enabled.mechanisms=PLAIN"}, "no JAAS configuration"},
		{"PLAIN without users", []string{two, "sasl.enabled.mechanisms=PLAIN",
			`listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";`}, "no user_"},
		{"bad JAAS", []string{two, "sasl.enabled.mechanisms=PLAIN", `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.Foo required username="a"`}, "listener.name.sasl_plaintext.plain.sasl.jaas.config"},
		{"wrong login module", []string{two, "sasl.enabled.mechanisms=PLAIN",
			`listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`}, "does not serve PLAIN"},
		{"inter-broker GSSAPI", []string{"listeners=SASL_PLAINTEXT://127.0.0.1:0", "security.inter.broker.protocol=SASL_PLAINTEXT",
			"sasl.enabled.mechanisms=PLAIN", "sasl.jaas.config=" + plainJAAS}, "sasl.mechanism.inter.broker.protocol is GSSAPI"},
		{"inter-broker mechanism not enabled", []string{"listeners=SASL_PLAINTEXT://127.0.0.1:0", "security.inter.broker.protocol=SASL_PLAINTEXT",
			"sasl.enabled.mechanisms=PLAIN", "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256", "sasl.jaas.config=" + plainJAAS}, "must be enabled"},
		{"inter-broker user not a PLAIN user", []string{"listeners=SASL_PLAINTEXT://127.0.0.1:0", "security.inter.broker.protocol=SASL_PLAINTEXT",
			"sasl.enabled.mechanisms=PLAIN", "sasl.mechanism.inter.broker.protocol=PLAIN",
			`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="x" user_admin="admin-secret";`}, "no matching user_admin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := newBrokerErr(t, c.ov...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "admin-secret") {
				t.Fatalf("error reveals a password: %v", err)
			}
		})
	}
	// GSSAPI next to a served mechanism is dropped, not fatal.
	if err := newBrokerErr(t, two, "sasl.enabled.mechanisms=GSSAPI,PLAIN", "sasl.jaas.config="+plainJAAS); err != nil {
		t.Fatalf("GSSAPI,PLAIN: %v", err)
	}
}

// Three brokers replicate over a SASL_PLAINTEXT inter-broker listener with
// SCRAM-SHA-512; the broker user is created from the JAAS password at
// start. Clients use the PLAINTEXT listener.
func TestSASLInterBrokerReplication(t *testing.T) {
	url := testenv.StartEtcd(t)
	dir := t.TempDir()
	jaas := `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";`
	bs := startClusterBrokers(t, url, 3, dir,
		"listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"sasl.enabled.mechanisms=SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
		"listener.name.internal.scram-sha-512.sasl.jaas.config="+jaas,
		"min.insync.replicas=3")
	t.Cleanup(func() {
		for _, b := range bs {
			if err := b.Close(); err != nil {
				t.Errorf("close %d: %v", b.id, err)
			}
		}
	})
	ctx := testCtx(t)
	if d, err := bs[0].admin(t).DescribeUserSCRAMs(ctx, "broker"); err != nil || d["broker"].Err != nil {
		t.Fatalf("broker user: %v %+v", err, d)
	}
	if _, err := bs[0].admin(t).CreateTopic(ctx, 1, 3, nil, "sasl-rep"); err != nil {
		t.Fatal(err)
	}
	waitLeadersEverywhere(t, bs, "sasl-rep", 1)
	cl := bs[0].client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("sasl-rep"), kgo.RecordRetries(100))
	for i := 0; i < 20; i++ {
		// acks=all with min.insync.replicas=3 succeeds only if both
		// followers fetch, over SASL.
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	for _, b := range bs {
		if r := localReplica(b, "sasl-rep", 0); r.log.LogEndOffset() < 20 && partitionState(b, "sasl-rep", 0).Leader == b.id {
			t.Fatalf("leader %d has %d records", b.id, r.log.LogEndOffset())
		}
	}
	testenv.Eventually(t, "every replica has the records", func() bool {
		for _, b := range bs {
			if localReplica(b, "sasl-rep", 0).log.LogEndOffset() != 20 {
				return false
			}
		}
		return true
	})
	// A transaction over partitions led by different brokers: the
	// coordinator's markers to the other leaders go over SASL too.
	if _, err := bs[0].admin(t).CreateTopic(ctx, 3, 3, nil, "sasl-txn"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "sasl-txn led by more than one broker", func() bool {
		leaders := map[int32]bool{}
		for p := int32(0); p < 3; p++ {
			if l := partitionState(bs[0], "sasl-txn", p).Leader; l >= 0 {
				leaders[l] = true
			}
		}
		return len(leaders) > 1
	})
	var seeds []string
	for _, b := range bs {
		seeds = append(seeds, b.addr)
	}
	txn, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID("sasl-txn"), kgo.DefaultProduceTopic("sasl-txn"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		if err := txn.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("t")}).FirstErr(); err != nil {
			t.Fatalf("transactional produce to %d: %v", p, err)
		}
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	rc := bs[0].client(t, kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("sasl-txn"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < 3; {
		fs := rc.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read_committed consume after %d records: %v", got, err)
		}
		got += fs.NumRecords()
	}

	// A client without credentials cannot use the inter-broker listener.
	internal := bs[0].Addrs()[1].String()
	anon, err := kgo.NewClient(kgo.SeedBrokers(internal), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, anon); err == nil {
		t.Fatal("unauthenticated Metadata on the SASL listener succeeded")
	}
	wrong, err := kgo.NewClient(kgo.SeedBrokers(internal), kgo.SASL(plain.Auth{User: "broker", Pass: "broker-secret"}.AsMechanism()), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, wrong); !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("PLAIN on a SCRAM-only listener: %v", err)
	}
}
