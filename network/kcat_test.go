package network

import (
	"context"
	"os/exec"
	"testing"

	"go.uber.org/zap"
)

// kcat (librdkafka) completes ApiVersions against the server; its Metadata
// request then closes the connection, as no handler serves it yet.
func TestKcatAPIVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kcat")
	}
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	ts := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, "-b", ts.addr, "-L", "-m", "2").CombinedOutput()
	if ts.logs.FilterMessage("client software").FilterField(zap.String("name", "librdkafka")).Len() == 0 {
		t.Fatalf("kcat did not complete ApiVersions; kcat said:\n%s", out)
	}
}
