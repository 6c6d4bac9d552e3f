package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A topic deleted and re-created under one name 40 times through kadm,
// alternating a small topic and one whose etcd write is chunked, while
// another franz-go client polls Metadata: every answer shows the topic
// absent or whole, never partial or with 0 partitions, and each admin
// answer is already visible in Metadata from the same broker.
func TestDeleteRecreateNeverPartialFranz(t *testing.T) {
	tb := startTestBroker(t)
	// integration's TestScaleConfluentExternalEtcd runs the 100
	// rounds (confluent-kafka, franz-go polling); 40 here keep this
	// package's run short. A round takes 1–2 s on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	adm := tb.admin(t)
	sizes := map[int]bool{2: true, 101: true}

	pctx, stop := context.WithCancel(ctx)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		bad   []string
		polls int
	)
	poller, asker := tb.client(t), tb.client(t)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for pctx.Err() == nil {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("again")
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(pctx, poller)
			if err != nil {
				continue
			}
			mu.Lock()
			polls++
			for _, rt := range resp.Topics {
				if rt.ErrorCode == 0 && !sizes[len(rt.Partitions)] {
					bad = append(bad, fmt.Sprintf("%d partitions", len(rt.Partitions)))
				}
			}
			mu.Unlock()
		}
	}()

	for i := range 40 {
		n := int32(2)
		if i%2 == 1 {
			n = 101 // over 98: a chunked etcd write
		}
		if r, err := adm.CreateTopic(ctx, n, 1, nil, "again"); err != nil || r.Err != nil {
			t.Fatalf("round %d create: %v %v", i, err, r.Err)
		}
		if got, ok := rawPartitions(ctx, t, asker, "again"); !ok || got != int(n) {
			t.Fatalf("round %d: metadata after create: %v %d", i, ok, got)
		}
		if rs, err := adm.DeleteTopics(ctx, "again"); err != nil || rs["again"].Err != nil {
			t.Fatalf("round %d delete: %v %+v", i, err, rs["again"])
		}
		if got, ok := rawPartitions(ctx, t, asker, "again"); ok {
			t.Fatalf("round %d: metadata after delete shows %d partitions", i, got)
		}
	}
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d Metadata polls", polls)
	if len(bad) > 0 {
		t.Fatalf("partial topic seen %d times: %v", len(bad), bad[:min(5, len(bad))])
	}
}

// rawPartitions asks Metadata for one topic with a raw request (kadm's
// Metadata answers from franz-go's metadata cache, up to 5 s old) and
// returns its partition count and whether it exists.
func rawPartitions(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) (int, bool) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return 0, false
	}
	return len(resp.Topics[0].Partitions), true
}
