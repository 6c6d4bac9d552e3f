package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStartEtcd: the etcd StartEtcd returns takes a write and a read.
func TestStartEtcd(t *testing.T) {
	url := StartEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get: %v %v", resp, err)
	}
}

// TestEventually: a condition that comes true is waited for.
func TestEventually(t *testing.T) {
	start := time.Now()
	Eventually(t, "a short delay", func() bool { return time.Since(start) > 50*time.Millisecond })
}

// TestStartKafka: a single-node Apache Kafka takes records from franz-go
// and gives them back, and stops cleanly (Stop reports a node it had to
// kill or that failed).
func TestStartKafka(t *testing.T) {
	k := StartKafka(t, KafkaConfig{})
	produceConsumeKafka(t, k, 1)
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestStartKafkaThreeNodes: three combined nodes form one quorum, list one
// another, replicate a topic three ways, and all stop cleanly. Three JVMs
// take 40–70 s to start and stop on a loaded 2-core machine, so it runs
// in `make conformance` (RUNNEL_CONFORMANCE_FULL=1), not `make test`.
func TestStartKafkaThreeNodes(t *testing.T) {
	if os.Getenv("RUNNEL_CONFORMANCE_FULL") == "" {
		t.Skip("three Kafka JVMs: run by `make conformance` (RUNNEL_CONFORMANCE_FULL=1)")
	}
	k := StartKafka(t, KafkaConfig{Nodes: 3})
	produceConsumeKafka(t, k, 3)
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
}

func produceConsumeKafka(t *testing.T, k *Kafka, replicas int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	created, err := adm.CreateTopic(ctx, 3, replicas, nil, "t")
	if err != nil || created.Err != nil {
		t.Fatalf("create topic: %v %v", err, created.Err)
	}
	meta, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Brokers) != len(k.Nodes) {
		t.Fatalf("metadata lists %d brokers, want %d", len(meta.Brokers), len(k.Nodes))
	}
	const records = 100
	for i := 0; i < records; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: "t", Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < records {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(seen), records, err)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}
