package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupConsumersFromEveryClientShareATopic runs group consumers of
// librdkafka (confluent-kafka-python), kafka-python and franz-go in one
// group on one topic while records are produced; members come and go. With
// commit-after-processing every record must be processed at least once and
// the group's committed offsets must end at the log end.
func TestGroupConsumersFromEveryClientShareATopic(t *testing.T) {
	b := startBroker(t)
	const topic, group, n = "shared", "mixed-group", 600
	b.createTopic(t, topic, 6)
	out := filepath.Join(t.TempDir(), "processed")

	// Two Python members for the whole test, a franz-go member that joins
	// late and leaves early, and a third Python member that joins midway.
	var wg sync.WaitGroup
	startPy := func(client string, seconds int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("/usr/bin/python3", filepath.Join("testdata", "group_consume.py"), client, b.addr(), topic, group, fmt.Sprint(seconds), out)
			if o, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s member: %v\n%s", client, err, tail(string(o), 30))
			}
		}()
	}
	startPy("confluent", 30)
	startPy("kafkapython", 30)

	produce := func(from, to int) {
		cl := b.franz(t, kgo.DefaultProduceTopic(topic))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 13)), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
		}
	}
	produce(0, n/3)

	time.Sleep(4 * time.Second)
	franzDone := make(chan struct{})
	go func() {
		defer close(franzDone)
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond))
		if err != nil {
			t.Error(err)
			return
		}
		defer cl.Close()
		f, err := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				fmt.Fprintf(f, "%d %d %s\n", r.Partition, r.Offset, r.Value)
			})
			if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
				t.Logf("franz-go commit (may race a rebalance): %v", err)
			}
		}
	}()
	produce(n/3, 2*n/3)
	startPy("confluent", 18)
	<-franzDone
	produce(2*n/3, n)
	wg.Wait()

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			seen[f[2]] = true
		}
	}
	var missing []int
	for i := 0; i < n; i++ {
		if !seen[fmt.Sprint(i)] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d records never processed (first few %v)", len(missing), n, missing[:min(10, len(missing))])
	}

	// Committed offsets reach the end of every partition.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.admin(t)
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.At != o.Offset {
			t.Errorf("partition %d: committed %v, log end %d", o.Partition, c.At, o.Offset)
		}
	})
}
