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
)

// TestACLAPIsWithoutAuthorizer: admin tools that list or create ACLs get
// Kafka's SECURITY_DISABLED from a broker without an authorizer (here
// kafka-python; franz-go and sarama in broker's unit test), and a broker
// configured with an authorizer class Runnel does not implement refuses to
// start instead of running without the ACLs it was meant to enforce.
func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	b := startBroker(t)
	got := python(t, "kafkapython_acls.py", b.addr())
	if want := "describe: SecurityDisabledError\ncreate: SecurityDisabledError\n"; got != want {
		t.Fatalf("kafka-python printed %q, want %q", got, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	withAuthorizer := exec.CommandContext(ctx, runnelBinary, "serve",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", testenv.FreePort(t)),
		"--override", "log.dirs="+filepath.Join(t.TempDir(), "logs"),
		"--override", "runnel.admin.listener=",
	)
	withAuthorizer.Env = append(withAuthorizer.Environ(), "KAFKA_AUTHORIZER_CLASS_NAME=io.confluent.kafka.security.authorizer.ConfluentServerAuthorizer")
	out, err := withAuthorizer.CombinedOutput()
	if err == nil {
		t.Fatalf("runnel with an authorizer configured exited 0:\n%s", out)
	}
	if !strings.Contains(string(out), "authorizer.class.name") || !strings.Contains(string(out), "implements only") {
		t.Fatalf("runnel's refusal does not name the authorizer (%v):\n%s", err, out)
	}
}
