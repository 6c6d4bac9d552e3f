package controller

import (
	"testing"

	"github.com/runnel/runnel/internal/testenv"
)

// A write outside the prefix brings the watch no event; WaitRevision for
// its revision still returns, moved on by the progress marker it writes
// under the prefix, and the snapshot it then shows holds every write of
// ours before it.
func TestWaitRevisionPassesARevisionWithoutEvents(t *testing.T) {
	url := testenv.StartEtcd(t)
	ctx := testCtx(t)
	c := openExternal(t, url, 1, longTTL)
	defer c.Close()
	if err := c.RegisterBroker(ctx, brokerInfo(1, "dir-1")); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		_, created, err := c.CreateTopic(ctx, TopicSpec{Name: "t" + string(rune('a'+i)), NumPartitions: 1, ReplicationFactor: 1}, false)
		if err != nil {
			t.Fatal(err)
		}
		elsewhere, err := c.Client().Put(ctx, "/not-runnel/key", "x")
		if err != nil {
			t.Fatal(err)
		}
		if elsewhere.Header.Revision <= created {
			t.Fatalf("the outside write at %d is not after the topic's %d", elsewhere.Header.Revision, created)
		}
		if err := c.WaitRevision(ctx, elsewhere.Header.Revision); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Snapshot().Topics["t"+string(rune('a'+i))]; !ok {
			t.Fatalf("snapshot at revision %d misses the topic created at %d", c.Snapshot().Revision, created)
		}
	}
}
