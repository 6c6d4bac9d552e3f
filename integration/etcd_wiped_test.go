package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
)

// TestExternalEtcdWipedUnderARunningBroker: a broker on Debian's
// etcd-server holds records produced with franz-go and kcat; etcd is
// killed and started again with an empty data dir at the same address (a
// lost or replaced store). The running broker refuses the new view: /readyz
// says why, Metadata still shows the topic, and every .log byte stays. A
// restart against the empty store refuses to start and names the recovery
// key; with it the topic comes back and kcat reads every record.
func TestExternalEtcdWipedUnderARunningBroker(t *testing.T) {
	const topic = "kept"
	etcd := testenv.StartEtcdProcess(t)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	b := startBroker(t,
		withOverride("etcd.endpoints", etcd.URL),
		withOverride("runnel.admin.listener", adminAddr))
	b.createTopic(t, topic, 2)
	want := 0
	for _, recs := range produceFranz(t, b, topic, 40, "snappy") {
		want += len(recs)
	}
	kcat(t, "k1\nk2\nk3\n", "-P", "-b", b.addr(), "-t", topic, "-X", "acks=all")
	want += 3
	waitReadyz(t, adminAddr)
	before := logBytes(t, b)

	etcd.Wipe()
	testenv.Eventually(t, "/readyz refuses the wiped store's view", func() bool {
		code, body, err := readyz(adminAddr)
		return err == nil && code == http.StatusServiceUnavailable && strings.Contains(body, "metadata")
	})
	_, body, _ := readyz(adminAddr)
	t.Logf("/readyz: %s", body)
	if out := kcat(t, "", "-L", "-b", b.addr(), "-t", topic); !strings.Contains(out, `topic "`+topic+`" with 2 partitions`) {
		t.Fatalf("the broker dropped the topic with the wiped view:\n%s", out)
	}
	time.Sleep(2 * time.Second) // long enough for a wrongly applied view to have deleted something
	assertLogBytesKept(t, b, before)

	b.stop()
	out, exitErr := b.serveOnce(t)
	if exitErr == nil || !strings.Contains(out, "runnel.cluster.id.recover") {
		t.Fatalf("restart on the wiped store: %v\n%s", exitErr, tail(out, 20))
	}
	assertLogBytesKept(t, b, before)

	b.args = append(b.args, "--override", "runnel.cluster.id.recover=restore")
	b.start()
	got := kcat(t, "", "-C", "-b", b.addr(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
	if n := strings.Count(got, "\n"); n != want {
		t.Fatalf("kcat read %d records after the restore, want %d", n, want)
	}
}

// assertLogBytesKept fails unless every .log file of before is still there
// with at least its content (a running broker may have appended nothing
// here, but an equal prefix is what must hold).
func assertLogBytesKept(t *testing.T, b *broker, before map[string][]byte) {
	t.Helper()
	after := logBytes(t, b)
	for p, data := range before {
		if !bytes.HasPrefix(after[p], data) {
			t.Fatalf("%s lost bytes: %d before, %d now", p, len(data), len(after[p]))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(b.dataDir, "logs"))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "-delete") || strings.HasSuffix(e.Name(), "-stray") {
			t.Fatalf("%s renamed away", e.Name())
		}
	}
}
