package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// describedProducers lists the active producer ids of partition 0 of topic.
func describedProducers(t *testing.T, adm *kadm.Client, topic string) []int64 {
	t.Helper()
	ds, err := adm.DescribeProducers(testCtx(t), kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	ds.EachPartition(func(p kadm.DescribedProducersPartition) {
		if p.Err != nil {
			t.Fatalf("describe producers: %v", p.Err)
		}
		p.ActiveProducers.Each(func(ap kadm.DescribedProducer) { ids = append(ids, ap.ProducerID) })
	})
	return ids
}

// producer.id.expiration.ms is dynamic: lowered at run time, an idle
// idempotent producer's state goes at the next check (KIP-854) and
// DescribeProducers stops listing it; the producer's next batch is then
// accepted as an unknown producer's.
func TestProducerIDExpirationDynamic(t *testing.T) {
	tb := startTestBroker(t, "producer.id.expiration.check.interval.ms=100")
	dataTopic(t, tb, "idem", 1, nil)
	cl := tb.client(t, kgo.DefaultProduceTopic("idem"))
	adm := kadm.NewClient(cl)
	if err := cl.ProduceSync(testCtx(t), kgo.StringRecord("a")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if ids := describedProducers(t, adm, "idem"); len(ids) != 1 {
		t.Fatalf("producers before expiry: %v", ids)
	}
	if expiration := producerIDExpiration(tb.cfg, tb.ctrl.Snapshot(), 1); expiration != 24*time.Hour {
		t.Fatalf("static default %v", expiration)
	}

	alter := kadm.AlterConfig{Op: kadm.SetConfig, Name: "producer.id.expiration.ms", Value: kadm.StringPtr("500")}
	rs, err := adm.AlterBrokerConfigs(testCtx(t), []kadm.AlterConfig{alter}, 1)
	if err == nil {
		for _, r := range rs {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for len(describedProducers(t, adm, "idem")) > 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the idle producer was never expired")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := cl.ProduceSync(testCtx(t), kgo.StringRecord("b")).FirstErr(); err != nil {
		t.Fatalf("produce after expiry: %v", err)
	}
	if ids := describedProducers(t, adm, "idem"); len(ids) != 1 {
		t.Fatalf("producers after the next write: %v", ids)
	}
}
