package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EtcdBinary is Debian's etcd-server, which `make test-deps` installs.
const EtcdBinary = "/usr/bin/etcd"

// StartEtcd starts a single-member etcd process with its default limits
// (--max-txn-ops 128, 1.5 MiB requests: what an operator's etcd has) on
// free loopback ports and returns its client URL. The process is killed
// when the test ends. The test is skipped where etcd-server is not
// installed.
func StartEtcd(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(EtcdBinary); err != nil {
		t.Skipf("no %s (make test-deps installs etcd-server)", EtcdBinary)
	}
	dir := t.TempDir()
	var lastErr error
	// A free port can be taken between FreePort and etcd's bind: retry.
	for attempt := 0; attempt < 3; attempt++ {
		curl := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		purl := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		cmd := exec.Command(EtcdBinary,
			"--name", "t", "--data-dir", filepath.Join(dir, fmt.Sprint("data", attempt)),
			"--listen-client-urls", curl, "--advertise-client-urls", curl,
			"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
			"--initial-cluster", "t="+purl, "--log-level", "error", "--logger", "zap")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() { cmd.Process.Kill(); <-exited }
		if err := waitEtcdReady(curl, exited); err != nil {
			stop()
			lastErr = fmt.Errorf("%v: %s", err, out.String())
			continue
		}
		t.Cleanup(stop)
		return curl
	}
	t.Fatalf("etcd did not start: %v", lastErr)
	return ""
}

// waitEtcdReady returns once etcd at url answers a read, or an error when
// the process exits or does not answer within 30 s.
func waitEtcdReady(url string, exited <-chan struct{}) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("etcd exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("etcd not ready: %v", err)
}
