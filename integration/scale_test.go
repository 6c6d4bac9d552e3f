package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataPoller asks one broker for the named topics' Metadata in a loop
// (franz-go, raw requests) and records every answer that shows a topic
// partially: present without error but with a partition count it was
// never created or grown to.
type metadataPoller struct {
	mu     sync.Mutex
	polls  int
	bad    []string
	cancel context.CancelFunc
	done   chan struct{}
}

func pollMetadata(t *testing.T, addr string, want map[string]map[int]bool) *metadataPoller {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &metadataPoller{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer cl.Close()
		for ctx.Err() == nil {
			req := kmsg.NewPtrMetadataRequest()
			for name := range want {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				req.Topics = append(req.Topics, rt)
			}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				continue // the poller's own shutdown, or a reconnect
			}
			p.mu.Lock()
			p.polls++
			for _, rt := range resp.Topics {
				if rt.ErrorCode != 0 || rt.Topic == nil {
					continue
				}
				if !want[*rt.Topic][len(rt.Partitions)] {
					p.bad = append(p.bad, fmt.Sprintf("%s with %d partitions", *rt.Topic, len(rt.Partitions)))
				}
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *metadataPoller) check(t *testing.T) {
	t.Helper()
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Logf("%d Metadata polls", p.polls)
	if len(p.bad) > 0 {
		t.Fatalf("Metadata showed partial topics %d times, first %v", len(p.bad), p.bad[:min(5, len(p.bad))])
	}
}

// confluentScale runs testdata/confluent_scale.py and decodes its report.
func confluentScale(t *testing.T, addr string, args ...string) map[string]any {
	t.Helper()
	out := python(t, "confluent_scale.py", append([]string{addr}, args...)...)
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	return m
}

// Issue 14 against an external etcd with its default limits (128
// operations per transaction): confluent-kafka creates a 10,000-partition
// topic, grows one from 1 to 5,000, is refused 10,001, and deletes and
// re-creates one name 100 times — each change visible to Metadata when
// its answer arrives — while franz-go polls Metadata and never sees any of
// these topics partially.
func TestScaleConfluentExternalEtcd(t *testing.T) {
	url := testenv.StartEtcd(t)
	b := startBroker(t, withOverride("etcd.endpoints", url))
	p := pollMetadata(t, b.addr(), map[string]map[int]bool{
		"big":  {10_000: true},
		"grow": {1: true, 5000: true},
		"loop": {3: true},
	})
	start := time.Now()
	// The loop first, while the broker is small: the python helper allows
	// a script two minutes.
	t.Logf("loop: %v", confluentScale(t, b.addr(), "loop", "loop", "3", "100"))
	t.Logf("create 10000: %v", confluentScale(t, b.addr(), "create", "big", "10000"))
	t.Logf("cap: %v", confluentScale(t, b.addr(), "cap", "big2", "10001"))
	confluentScale(t, b.addr(), "create", "grow", "1")
	t.Logf("grow to 5000: %v", confluentScale(t, b.addr(), "grow", "grow", "5000"))
	t.Logf("all in %v", time.Since(start))
	p.check(t)

	// franz-go (kadm) sees the same topics whole.
	adm := b.admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	md, err := adm.Metadata(ctx, "big", "grow")
	if err != nil || len(md.Topics["big"].Partitions) != 10_000 || len(md.Topics["grow"].Partitions) != 5000 {
		t.Fatalf("kadm metadata: %v big=%d grow=%d", err, len(md.Topics["big"].Partitions), len(md.Topics["grow"].Partitions))
	}
	if r, err := adm.CreateTopic(ctx, 1<<31-1, 1, nil, "huge"); !strings.Contains(fmt.Sprint(err, r.Err), kerr.PolicyViolation.Message) {
		t.Fatalf("2^31-1 partitions: %v %v", err, r.Err)
	}
	// Remove the 15,000 local logs before the broker stops, so that its
	// shutdown stays within the harness's 30 s.
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer dcancel()
	adm.SetTimeoutMillis(300_000)
	if rs, err := adm.DeleteTopics(dctx, "big", "grow"); err != nil || rs.Error() != nil {
		t.Fatalf("delete: %v %v", err, rs.Error())
	}
}
