package integration

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// logBytes maps every .log file of the broker's log dir (outside the
// embedded etcd) to its content.
func logBytes(t *testing.T, b *broker) map[string][]byte {
	t.Helper()
	root := filepath.Join(b.dataDir, "logs")
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "etcd" {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".log") {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out[rel] = data
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// serveOnce runs the broker's command line (as start does) and expects it
// to exit by itself; it returns the exit error and the output.
func (b *broker) serveOnce(t *testing.T) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"serve",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", b.port),
		"--override", "log.dirs=" + filepath.Join(b.dataDir, "logs"),
		"--override", "broker.id=1", "--override", "runnel.admin.listener=127.0.0.1:0",
	}
	cmd := exec.CommandContext(ctx, runnelBinary, append(args, b.args...)...)
	cmd.Dir = b.dataDir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("runnel did not exit by itself:\n%s", tail(string(out), 40))
	}
	return string(out), err
}

// TestLostMetadataStoreRefusedThenRestored: records produced with franz-go
// and kcat; the broker stops and its embedded etcd directory is removed
// (the metadata store lost). The next start exits non-zero, says why and
// names the recovery key, and every .log byte is still there. Started
// once with runnel.cluster.id.recover=restore, the broker re-creates the
// topics and both clients read every record; it then starts normally
// without the key.
func TestLostMetadataStoreRefusedThenRestored(t *testing.T) {
	const topic = "survivor"
	b := startBroker(t)
	b.createTopic(t, topic, 3)
	want := map[string]bool{}
	for _, recs := range produceFranz(t, b, topic, 60, "lz4") {
		for _, r := range recs {
			want[r.value] = true
		}
	}
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf("kcat-%d", i))
		want[lines[i]] = true
	}
	kcat(t, strings.Join(lines, "\n")+"\n", "-P", "-b", b.addr(), "-t", topic, "-X", "acks=all")
	b.stop()

	before := logBytes(t, b)
	if len(before) != 3 {
		t.Fatalf(".log files before: %v", len(before))
	}
	meta, err := os.ReadFile(filepath.Join(b.dataDir, "logs", "meta.properties"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(b.dataDir, "logs", "etcd")); err != nil {
		t.Fatal(err)
	}

	out, exitErr := b.serveOnce(t)
	if exitErr == nil {
		t.Fatalf("runnel exited 0 on a lost metadata store:\n%s", out)
	}
	for _, w := range []string{"refusing to start", "holds no cluster", "runnel.cluster.id.recover=restore", "Nothing was changed"} {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q (%v):\n%s", w, exitErr, tail(out, 20))
		}
	}
	t.Logf("refusal: %v: %s", exitErr, strings.TrimSpace(tail(strings.TrimSpace(out), 1)))
	after := logBytes(t, b)
	if len(after) != len(before) {
		t.Fatalf(".log files: %d before, %d after the refusal", len(before), len(after))
	}
	for p, data := range before {
		if !bytes.Equal(after[p], data) {
			t.Fatalf("%s changed by the refused start", p)
		}
	}
	if again, _ := os.ReadFile(filepath.Join(b.dataDir, "logs", "meta.properties")); !bytes.Equal(again, meta) {
		t.Fatalf("meta.properties changed by the refused start:\n%s", again)
	}

	b.args = append(b.args, "--override", "runnel.cluster.id.recover=restore")
	b.start()
	if !strings.Contains(b.logs(), "restored topic from the log dir") {
		t.Fatalf("no restore logged:\n%s", tail(b.logs(), 30))
	}
	check := func(who string, values []string) {
		t.Helper()
		sort.Strings(values)
		if len(values) != len(want) {
			t.Fatalf("%s read %d records, want %d", who, len(values), len(want))
		}
		for i, v := range values {
			if !want[v] || (i > 0 && values[i-1] == v) {
				t.Fatalf("%s read %q unexpectedly (or twice)", who, v)
			}
		}
	}
	var franz []string
	for _, recs := range consumeFranz(t, b, topic, len(want)) {
		for _, r := range recs {
			franz = append(franz, r.value)
		}
	}
	check("franz-go", franz)
	got := kcat(t, "", "-C", "-b", b.addr(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
	check("kcat", strings.Split(strings.TrimSuffix(got, "\n"), "\n"))

	// Restored for good: a start without the key is a normal one.
	b.args = b.args[:len(b.args)-2]
	b.restart()
	got = kcat(t, "", "-C", "-b", b.addr(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
	check("kcat after a normal restart", strings.Split(strings.TrimSuffix(got, "\n"), "\n"))
}

// TestDeletedTopicDirRemovedAfterDelay: DeleteTopics renames the
// partition's directory to <topic>-<p>.<id>-delete at once (the name is
// free for a new topic) and the directory disappears only after
// file.delete.delay.ms (log.segment.delete.delay.ms here).
func TestDeletedTopicDirRemovedAfterDelay(t *testing.T) {
	const topic = "doomed"
	b := startBroker(t, withOverride("log.segment.delete.delay.ms", "3000"))
	kcat(t, "a\nb\n", "-P", "-b", b.addr(), "-t", topic)
	logDir := filepath.Join(b.dataDir, "logs")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := b.admin(t).DeleteTopics(ctx, topic)
	if err != nil || resp[topic].Err != nil {
		t.Fatalf("delete: %v %v", err, resp)
	}
	deleteDirs := func() []string {
		m, _ := filepath.Glob(filepath.Join(logDir, topic+"-0.*-delete"))
		return m
	}
	// Polled, not timed: the rename comes once the broker sees the
	// deletion, the removal after the delay.
	for len(deleteDirs()) == 0 {
		if ctx.Err() != nil {
			t.Fatalf("no -delete directory after the topic was deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := deleteDirs()[0]
	if _, err := os.Stat(filepath.Join(d, "00000000000000000000.log")); err != nil {
		t.Fatalf("the -delete directory lacks the log: %v", err)
	}
	if _, err := os.Stat(filepath.Join(logDir, topic+"-0")); !os.IsNotExist(err) {
		t.Fatalf("the partition's own name is still taken: %v", err)
	}
	for len(deleteDirs()) != 0 {
		if ctx.Err() != nil {
			t.Fatalf("the -delete directory is still there long after file.delete.delay.ms")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(b.logs(), "removed deleted partition directory") {
		t.Fatalf("removal not logged")
	}
}

// TestAdoptKeepsStrays: the embedded etcd is lost and the operator chooses
// a new cluster (runnel.cluster.id.recover=adopt): the broker serves a new
// cluster and every old partition directory is renamed -stray with every
// .log byte kept, and still there after another restart.
func TestAdoptKeepsStrays(t *testing.T) {
	b := startBroker(t)
	kcat(t, "one\ntwo\n", "-P", "-b", b.addr(), "-t", "old-data")
	b.stop()
	before := logBytes(t, b)
	if err := os.RemoveAll(filepath.Join(b.dataDir, "logs", "etcd")); err != nil {
		t.Fatal(err)
	}
	b.args = append(b.args, "--override", "runnel.cluster.id.recover=adopt")
	b.start()
	b.args = b.args[:len(b.args)-2]
	b.restart()
	strays, _ := filepath.Glob(filepath.Join(b.dataDir, "logs", "old-data-0.*-stray"))
	if len(strays) != 1 {
		t.Fatalf("stray directories %v\n%s", strays, tail(b.logs(), 30))
	}
	after := logBytes(t, b)
	for p, data := range before {
		p = filepath.Join(filepath.Base(strays[0]), filepath.Base(p))
		if !bytes.Equal(after[p], data) {
			t.Fatalf("%s not kept intact", p)
		}
	}
	if out := kcat(t, "", "-L", "-b", b.addr()); strings.Contains(out, "old-data") {
		t.Fatalf("the adopted cluster lists the old topic:\n%s", out)
	}
}
