package controller

import (
	"testing"

	"github.com/runnel/runnel/internal/testenv"
)

func TestEmbeddedClusterIDStable(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	c := openEmbedded(t, dir, 1)
	id := c.ClusterID()
	if len(id) != 22 {
		t.Fatalf("cluster id %q: want 22 chars", id)
	}
	if got := c.Snapshot().ClusterID; got != id {
		t.Fatalf("snapshot cluster id %q, want %q", got, id)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openEmbedded(t, dir, 1)
	defer c.Close()
	if got := c.ClusterID(); got != id {
		t.Fatalf("cluster id after reopen %q, want %q", got, id)
	}
}

// Two embedded instances in different data dirs run side by side.
func TestEmbeddedSideBySide(t *testing.T) {
	a := openEmbedded(t, testenv.ShortTempDir(t), 1)
	defer a.Close()
	b := openEmbedded(t, testenv.ShortTempDir(t), 1)
	defer b.Close()
	if a.ClusterID() == b.ClusterID() {
		t.Fatal("two separate embedded clusters share a cluster id")
	}
	register(t, a, "")
	register(t, b, "")
}
