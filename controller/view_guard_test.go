package controller

import (
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/testenv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The store is wiped under a running broker (every key under the prefix
// deleted, the cluster id with them): the view is refused — the topics
// stay in the snapshot, MetadataFault says why — until the store holds
// this cluster again, when the store's content is accepted.
func TestWipedStoreViewRefused(t *testing.T) {
	url := testenv.StartEtcd(t)
	ctx := testCtx(t)
	c := openExternal(t, url, 1, longTTL)
	defer c.Close()
	register(t, c, "")
	_, rev, err := c.CreateTopic(ctx, TopicSpec{Name: "kept", NumPartitions: 2, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client().Delete(ctx, c.k.root(), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the view refused", func() bool { return c.MetadataFault() != nil })
	if err := c.MetadataFault(); !strings.Contains(err.Error(), "vanished") {
		t.Fatalf("fault %v", err)
	}
	if c.Snapshot().Topics["kept"] == nil {
		t.Fatal("the wiped view was applied: the topic is gone from the snapshot")
	}

	// The cluster id comes back (an operator restoring the store): the
	// store's view is accepted again, and it is what the store holds.
	if _, err := c.Client().Put(ctx, c.k.clusterID(), c.ClusterID()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the view accepted again", func() bool { return c.MetadataFault() == nil })
	testenv.Eventually(t, "the store's content applied", func() bool { return c.Snapshot().Topics["kept"] == nil })
}

// Another cluster's id, or a store revision below the applied one, is
// refused; the same id at the same or a later revision is not.
func TestCheckView(t *testing.T) {
	c := &Controller{k: keys{pfx: "/runnel"}, clusterID: "A"}
	for _, tc := range []struct {
		id       string
		rev, app int64
		want     string
	}{
		{"A", 10, 10, ""},
		{"A", 11, 10, ""},
		{"", 11, 10, "vanished"},
		{"B", 11, 10, "cluster B"},
		{"A", 9, 10, "went back from revision 10 to 9"},
	} {
		err := c.checkView(tc.id, tc.rev, tc.app)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkView(%q, %d, %d) = %v, want %q", tc.id, tc.rev, tc.app, err, tc.want)
		}
	}
}
