package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestTenantsIsolatedByACLs: one broker with Kafka's authorizer, two
// tenants logging in with SCRAM-SHA-512, each allowed its own prefix
// ("alice." and "bob.") for topics, groups and transactional ids — alice's
// ACLs created with kadm, bob's with sarama's ClusterAdmin. Alice
// (franz-go) produces in a transaction and consumes with a group on her
// topic, sees only it in Metadata, and is refused bob's topic, group and
// transactional id with Kafka's codes; bob (kcat, sarama) likewise the
// other way. The brokers' and the test's own User:ANONYMOUS on PLAINTEXT is
// the super user.
func TestTenantsIsolatedByACLs(t *testing.T) {
	saslPort := testenv.FreePort(t)
	b := startBroker(t,
		func(b *broker) {
			b.args = append(b.args, "--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d", b.port, saslPort))
		},
		withEnv("KAFKA_SASL_ENABLED_MECHANISMS", "SCRAM-SHA-512"),
		withEnv("KAFKA_AUTHORIZER_CLASS_NAME", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		withEnv("KAFKA_SUPER_USERS", "User:ANONYMOUS"),
		withOverride("auto.create.topics.enable", "false"),
	)
	saslAddr := fmt.Sprintf("127.0.0.1:%d", saslPort)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := b.admin(t)
	if res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-pw"},
	}); err != nil || res.Error() != nil {
		t.Fatalf("SCRAM users: %v %v", err, res.Error())
	}
	for _, topic := range []string{"alice.orders", "bob.orders"} {
		b.createTopic(t, topic, 2)
	}

	// alice's ACLs through kadm.
	for _, acl := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").AllowHosts("*").ResourcePatternType(kadm.ACLPatternPrefixed).Topics("alice.").Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:alice").AllowHosts("*").ResourcePatternType(kadm.ACLPatternPrefixed).Groups("alice.").Operations(kadm.OpRead),
		kadm.NewACLs().Allow("User:alice").AllowHosts("*").ResourcePatternType(kadm.ACLPatternPrefixed).TransactionalIDs("alice.").Operations(kadm.OpWrite, kadm.OpDescribe),
	} {
		res, err := adm.CreateACLs(ctx, acl)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("kadm CreateACLs: %v", r.Err)
			}
		}
	}
	// bob's through sarama's ClusterAdmin.
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_6_0_0
	sadm, err := sarama.NewClusterAdmin([]string{b.addr()}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sadm.Close()
	var bobACLs []*sarama.ResourceAcls
	for _, r := range []struct {
		rt  sarama.AclResourceType
		ops []sarama.AclOperation
	}{
		{sarama.AclResourceTopic, []sarama.AclOperation{sarama.AclOperationRead, sarama.AclOperationWrite, sarama.AclOperationDescribe}},
		{sarama.AclResourceGroup, []sarama.AclOperation{sarama.AclOperationRead}},
		{sarama.AclResourceTransactionalID, []sarama.AclOperation{sarama.AclOperationWrite, sarama.AclOperationDescribe}},
	} {
		ra := &sarama.ResourceAcls{Resource: sarama.Resource{ResourceType: r.rt, ResourceName: "bob.", ResourcePatternType: sarama.AclPatternPrefixed}}
		for _, op := range r.ops {
			ra.Acls = append(ra.Acls, &sarama.Acl{Principal: "User:bob", Host: "*", Operation: op, PermissionType: sarama.AclPermissionAllow})
		}
		bobACLs = append(bobACLs, ra)
	}
	if err := sadm.CreateACLs(bobACLs); err != nil {
		t.Fatalf("sarama CreateACLs: %v", err)
	}

	as := func(user string, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(saslAddr),
			kgo.SASL(scram.Auth{User: user, Pass: user + "-pw"}.AsSha512Mechanism())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}

	// alice: a transaction on her topic, then a group consumer that
	// reads it committed.
	txp := as("alice", kgo.TransactionalID("alice.tx"), kgo.DefaultProduceTopic("alice.orders"))
	if err := txp.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := txp.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("a-%d", i))}).FirstErr(); err != nil {
			t.Fatalf("alice produce: %v", err)
		}
	}
	if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("alice commit: %v", err)
	}
	cons := as("alice", kgo.ConsumerGroup("alice.g"), kgo.ConsumeTopics("alice.orders"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 10 && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("alice consume: %v", err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice commits her group's offsets: %v", err)
	}
	topics, err := kadm.NewClient(as("alice")).ListTopics(ctx)
	if err != nil || len(topics) != 1 || !topics.Has("alice.orders") {
		t.Fatalf("alice's Metadata: %v %v", err, topics.Names())
	}

	// alice refused bob's topic, group and transactional id.
	aliceCl := as("alice", kgo.RequestRetries(0), kgo.RecordRetries(0), kgo.ProduceRequestTimeout(5*time.Second))
	if err := aliceCl.ProduceSync(ctx, &kgo.Record{Topic: "bob.orders", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to bob.orders: %v", err)
	}
	if _, err := kadm.NewClient(aliceCl).FetchOffsets(ctx, "bob.g"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("alice fetches bob.g's offsets: %v", err)
	}
	stolen := as("alice", kgo.TransactionalID("bob.tx"), kgo.DefaultProduceTopic("alice.orders"))
	if err := stolen.BeginTransaction(); err == nil {
		err = stolen.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			t.Fatalf("alice uses bob's transactional id: %v", err)
		}
	}

	// bob with kcat: his topic works, alice's does not, Metadata shows his.
	kargs := func(extra ...string) []string {
		return append([]string{"-b", saslAddr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=bob", "-X", "sasl.password=bob-pw"}, extra...)
	}
	kcat(t, "b-1\nb-2\n", kargs("-P", "-t", "bob.orders")...)
	if out := kcat(t, "", kargs("-C", "-t", "bob.orders", "-o", "beginning", "-e", "-q")...); len(strings.Fields(out)) != 2 {
		t.Fatalf("bob reads with kcat: %q", out)
	}
	if out := kcat(t, "", kargs("-L")...); !strings.Contains(out, `"bob.orders"`) || strings.Contains(out, "alice.orders") {
		t.Fatalf("bob's kcat -L:\n%s", out)
	}
	if _, stderr, err := kcatRun("x\n", kargs("-P", "-t", "alice.orders", "-X", "message.timeout.ms=5000")...); err == nil || !strings.Contains(strings.ToLower(stderr), "authorization") {
		t.Fatalf("bob's kcat produces to alice.orders: %v\n%s", err, stderr)
	}

	// bob with sarama: refused alice's topic with Kafka's code.
	bcfg := sarama.NewConfig()
	bcfg.Version = sarama.V3_6_0_0
	bcfg.Net.SASL.Enable, bcfg.Net.SASL.Handshake = true, true
	bcfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	bcfg.Net.SASL.User, bcfg.Net.SASL.Password = "bob", "bob-pw"
	bcfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{sha512: true} }
	bcfg.Producer.Return.Successes = true
	bcfg.Producer.Retry.Max = 0
	bcfg.Metadata.Retry.Max = 0
	sp, err := sarama.NewSyncProducer([]string{saslAddr}, bcfg)
	if err != nil {
		t.Fatalf("sarama as bob: %v", err)
	}
	defer sp.Close()
	if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "bob.orders", Value: sarama.StringEncoder("b-3")}); err != nil {
		t.Fatalf("sarama bob produces to bob.orders: %v", err)
	}
	if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "alice.orders", Value: sarama.StringEncoder("x")}); !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
		t.Fatalf("sarama bob produces to alice.orders: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, "alice.orders")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	// 10 records and one commit marker per partition written to: nothing of bob's.
	if total < 11 || total > 12 {
		t.Fatalf("alice.orders holds %d offsets, want alice's 10 and their commit markers", total)
	}
}
