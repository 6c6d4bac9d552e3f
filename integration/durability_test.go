package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestartKeepsEveryRecord stops the broker cleanly and reads every
// record back after it starts again; producing continues at the next offset.
func TestRestartKeepsEveryRecord(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "restart", 3)
	acked := produceFranz(t, b, "restart", 1000, "lz4")
	b.restart()
	assertSamePerPartition(t, acked, consumeFranz(t, b, "restart", 1000))

	more := produceFranz(t, b, "restart", 10, "none")
	for p, recs := range more {
		if len(acked[p]) > 0 && recs[0].offset != acked[p][len(acked[p])-1].offset+1 {
			t.Fatalf("partition %d: first offset after restart %d, want %d", p, recs[0].offset, acked[p][len(acked[p])-1].offset+1)
		}
	}
}

// TestKill9DuringAcksAllProduce kills the broker with SIGKILL while a
// producer is writing with acks=all and checks, after a restart, that every
// record the broker acknowledged is there, once, in order.
func TestKill9DuringAcksAllProduce(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "crash", 2)

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(0), kgo.RequestRetries(0), kgo.ProduceRequestTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[int32][]record{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			r := &kgo.Record{Topic: "crash", Key: []byte(fmt.Sprintf("k%d", i%4)), Value: []byte(fmt.Sprintf("v%d", i))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					return
				}
				mu.Lock()
				acked[r.Partition] = append(acked[r.Partition], record{r.Offset, string(r.Key), string(r.Value)})
				mu.Unlock()
			})
			if i%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	testenv.EventuallyWithin(t, 30*time.Second, "1000 acknowledged records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked[0])+len(acked[1]) >= 1000
	})
	b.kill9()
	cancel()
	wg.Wait()
	cl.Close()

	b.start()
	want := map[int32]int{}
	for p, recs := range acked {
		want[p] = len(recs)
	}
	got := consumeFranzAtLeast(t, b, "crash", want)
	for p, want := range acked {
		sortByOffset(want)
		have := got[p]
		if len(have) < len(want) {
			t.Fatalf("partition %d: %d records after restart, %d were acknowledged", p, len(have), len(want))
		}
		// Records the broker wrote but could not acknowledge before it died
		// may also be there; every acknowledged one must be, at its offset.
		byOffset := map[int64]record{}
		for _, r := range have {
			byOffset[r.offset] = r
		}
		for _, w := range want {
			if byOffset[w.offset] != w {
				t.Fatalf("partition %d offset %d: have %+v, acknowledged %+v", p, w.offset, byOffset[w.offset], w)
			}
		}
		for i := 1; i < len(have); i++ {
			if have[i].offset != have[i-1].offset+1 {
				t.Fatalf("partition %d: offsets not dense: %d after %d", p, have[i].offset, have[i-1].offset)
			}
		}
	}
}

// consumeFranzAtLeast reads from the start of topic until each partition
// has given at least want[p] records.
func consumeFranzAtLeast(t *testing.T, b *broker, topic string, want map[int32]int) map[int32][]record {
	t.Helper()
	cl := b.franz(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[int32][]record{}
	done := func() bool {
		for p, n := range want {
			if len(out[p]) < n {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v, want at least %v: %v", counts(out), want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], record{r.Offset, string(r.Key), string(r.Value)})
		})
	}
	return out
}

func counts(m map[int32][]record) map[int32]int {
	c := map[int32]int{}
	for p, rs := range m {
		c[p] = len(rs)
	}
	return c
}
