package integration

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecondBrokerOnALogDirInUse: a second runnel pointed at a running
// broker's log dir exits at once with Kafka's lock message, and the first
// broker goes on serving producers and consumers (kcat and franz-go)
// with nothing of its data touched.
func TestSecondBrokerOnALogDirInUse(t *testing.T) {
	b := startBroker(t)
	kcat(t, "before\n", "-P", "-b", b.addr(), "-t", "locked")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, runnelBinary, "serve",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", testenv.FreePort(t)),
		"--override", "log.dirs="+filepath.Join(b.dataDir, "logs"),
		"--override", "broker.id=2",
		"--override", "runnel.admin.listener=",
	)
	out, err := second.CombinedOutput()
	if err == nil {
		t.Fatalf("a second runnel on the same log dir kept running or exited 0:\n%s", out)
	}
	if !strings.Contains(string(out), "failed to acquire lock on file .lock") {
		t.Fatalf("second runnel's output does not name the lock (%v):\n%s", err, out)
	}

	kcat(t, "after\n", "-P", "-b", b.addr(), "-t", "locked")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()), kgo.ConsumeTopics("locked"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "before,after" {
		t.Fatalf("records after the refused second broker: %q", got)
	}
	if got := kcat(t, "", "-C", "-b", b.addr(), "-t", "locked", "-e", "-q", "-f", "%s\n"); got != "before\nafter\n" {
		t.Fatalf("kcat read %q", got)
	}
}
