package controller

import (
	"testing"

	"github.com/runnel/runnel/internal/testenv"
)

// When the lease is lost (revoked here from outside, as an expiry would),
// the Controller takes a new lease, registers again with a new epoch and
// campaigns again.
func TestSessionLossReregistersAndRecampaigns(t *testing.T) {
	c := openEmbedded(t, testenv.ShortTempDir(t), 3)
	defer c.Close()
	register(t, c, "r1")
	c.Campaign(testCtx(t))
	testenv.Eventually(t, "elected", c.IsController)
	testenv.Eventually(t, "controller id in snapshot", func() bool { return c.Snapshot().ControllerID == 3 })
	epoch := c.Snapshot().Brokers[3].Epoch

	c.smu.Lock()
	lease := c.sess.Lease()
	c.smu.Unlock()
	if _, err := c.Client().Revoke(testCtx(t), lease); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "registered again with a new epoch", func() bool {
		b, ok := c.Snapshot().Brokers[3]
		return ok && b.Epoch > epoch && b.Rack == "r1"
	})
	testenv.Eventually(t, "elected again", func() bool {
		return c.IsController() && c.Snapshot().ControllerID == 3
	})
}

// Cancelling the Campaign context resigns.
func TestCampaignCancelResigns(t *testing.T) {
	c := openEmbedded(t, testenv.ShortTempDir(t), 4)
	defer c.Close()
	ctx, cancel := testCtxCancel(t)
	c.Campaign(ctx)
	testenv.Eventually(t, "elected", c.IsController)
	cancel()
	testenv.Eventually(t, "resigned", func() bool { return !c.IsController() && c.Snapshot().ControllerID == -1 })
	// A new campaign works.
	ctx, cancel = testCtxCancel(t)
	c.Campaign(ctx)
	testenv.Eventually(t, "elected again", c.IsController)
	// And so does one started right after cancelling, before the old
	// attempt has wound down.
	cancel()
	c.Campaign(testCtx(t))
	testenv.Eventually(t, "elected a third time", func() bool { return c.IsController() && c.Snapshot().ControllerID == 4 })
}
