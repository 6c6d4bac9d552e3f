package integration

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProducerIDExpiration checks KIP-854 end to end: with a short
// producer.id.expiration.ms given as --override, the idempotent producers
// of franz-go and sarama show in DescribeProducers after writing, are gone
// once idle past the expiration, stay gone across a clean restart (under
// the default one-day expiration), and both clients go on producing, now
// as unknown producers.
func TestProducerIDExpiration(t *testing.T) {
	expiry := []brokerOption{
		withOverride("producer.id.expiration.ms", "3000"),
		withOverride("producer.id.expiration.check.interval.ms", "500"),
	}
	b := startBroker(t, expiry...)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	b.createTopic(t, "pids", 1)
	adm := b.admin(t)

	bc, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := bc.On("1", nil)
	if err != nil {
		t.Fatal(err)
	}
	described := false
	for _, c := range cfgs.Configs {
		if c.Key == "producer.id.expiration.ms" {
			described = c.MaybeValue() == "3000" && c.Source == kmsg.ConfigSourceStaticBrokerConfig
		}
	}
	if !described {
		t.Fatal("DescribeConfigs does not show producer.id.expiration.ms=3000 from the static config")
	}

	franz := b.franz(t, kgo.DefaultProduceTopic("pids")) // idempotent by default
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_6_0_0
	scfg.Producer.Idempotent = true
	scfg.Producer.RequiredAcks = sarama.WaitForAll
	scfg.Producer.Return.Successes = true
	scfg.Net.MaxOpenRequests = 1
	sp, err := sarama.NewSyncProducer([]string{b.addr()}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sp.Close() }()
	produceBoth := func(value string) {
		t.Helper()
		if err := franz.ProduceSync(ctx, kgo.StringRecord(value)).FirstErr(); err != nil {
			t.Fatalf("franz-go %s: %v", value, err)
		}
		if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "pids", Value: sarama.StringEncoder(value)}); err != nil {
			t.Fatalf("sarama %s: %v", value, err)
		}
	}

	produceBoth("first")
	ids := activeProducers(ctx, t, adm)
	if len(ids) != 2 {
		t.Fatalf("DescribeProducers after the first writes: %v, want two producers", ids)
	}
	t.Logf("active producers %v", ids)
	testenv.Eventually(t, "the idle producers to expire", func() bool { return len(activeProducers(ctx, t, adm)) == 0 })

	// A clean restart with the default expiration (one day) does not
	// bring them back from snapshots or the log.
	b.stop()
	b.args = nil
	b.start()
	adm = b.admin(t)
	if got := activeProducers(ctx, t, adm); len(got) != 0 {
		t.Fatalf("expired producers back after restart: %v", got)
	}

	// Both clients keep their producer ids and sequences; the broker takes
	// them as unknown producers and starts tracking them again.
	produceBoth("second")
	if got := activeProducers(ctx, t, adm); len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] {
		t.Fatalf("DescribeProducers after writing again: %v, want %v", got, ids)
	}
	ends, err := adm.ListEndOffsets(ctx, "pids")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("pids", 0); o.Offset != 4 {
		t.Fatalf("end offset %d, want 4 (no write lost or duplicated)", o.Offset)
	}
}

// activeProducers lists, sorted, the producer ids DescribeProducers
// reports for partition 0 of "pids".
func activeProducers(ctx context.Context, t *testing.T, adm *kadm.Client) []int64 {
	t.Helper()
	ds, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"pids": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	ds.EachPartition(func(p kadm.DescribedProducersPartition) {
		if p.Err != nil {
			t.Fatalf("DescribeProducers: %v", p.Err)
		}
		p.ActiveProducers.Each(func(d kadm.DescribedProducer) { ids = append(ids, d.ProducerID) })
	})
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
