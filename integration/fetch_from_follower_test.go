package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFetchFromFollower: three runnel processes in three racks with
// Kafka's rack-aware replica selector (KIP-392). kcat (librdkafka's
// client.rack) and franz-go (kgo.Rack) consumers in a follower's rack read
// every record, and that follower's runnel_fetch_follower_reads_total
// shows it served them.
func TestFetchFromFollower(t *testing.T) {
	c := startCluster(t, 3, "broker.rack=rack-{id}", "replica.selector.class="+config.RackAwareReplicaSelector)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := c.replicatedTopic(ctx, "ffr", 1)
	td, _, err := c.metadata(ctx, adm, "ffr")
	if err != nil {
		t.Fatal(err)
	}
	p := td.Partitions[0]
	var follower *clusterNode
	for _, id := range p.Replicas {
		if id != p.Leader {
			follower = c.node(id)
			break
		}
	}
	rack := fmt.Sprint("rack-", follower.id)
	seeds := strings.Join(c.seeds(), ",")

	const n = 200
	var in strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "v%d\n", i)
	}
	kcat(t, in.String(), "-P", "-b", seeds, "-t", "ffr", "-p", "0", "-X", "request.required.acks=-1")

	const metric = "runnel_fetch_follower_reads_total"
	before := follower.metric(t, metric)
	got := kcat(t, "", "-C", "-b", seeds, "-t", "ffr", "-p", "0", "-o", "beginning", "-c", fmt.Sprint(n), "-q", "-f", "%s\n", "-X", "client.rack="+rack)
	if got != in.String() {
		t.Fatalf("kcat in %s read %d bytes, want the %d records produced", rack, len(got), n)
	}
	after := follower.metric(t, metric)
	if after <= before {
		t.Fatalf("kcat in %s: follower %d served no fetch (%s %v → %v)", rack, follower.id, metric, before, after)
	}

	cl := c.client(kgo.Rack(rack), kgo.ConsumeTopics("ffr"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var vals []string
	for len(vals) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)+"\n") })
	}
	if strings.Join(vals, "") != in.String() {
		t.Fatalf("franz-go in %s read %d records, not the %d produced in order", rack, len(vals), n)
	}
	if m := follower.metric(t, metric); m <= after {
		t.Fatalf("franz-go in %s: follower %d served no fetch (%s %v → %v)", rack, follower.id, metric, after, m)
	}
}
