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
	return StartEtcdProcess(t).URL
}

// Etcd is an etcd process started by StartEtcdProcess.
type Etcd struct {
	// URL is the client URL; it stays the same across Wipe.
	URL string

	t          testing.TB
	dir, peer  string
	generation int // data dirs used so far
	stop       func()
}

// StartEtcdProcess is StartEtcd for a test that also wipes the store.
func StartEtcdProcess(t testing.TB) *Etcd {
	t.Helper()
	if _, err := os.Stat(EtcdBinary); err != nil {
		t.Skipf("no %s (make test-deps installs etcd-server)", EtcdBinary)
	}
	e := &Etcd{t: t, dir: t.TempDir()}
	var lastErr error
	// A free port can be taken between FreePort and etcd's bind: retry.
	for attempt := 0; attempt < 3; attempt++ {
		e.URL = fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		e.peer = fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		if lastErr = e.start(); lastErr == nil {
			t.Cleanup(func() { e.stop() })
			return e
		}
	}
	t.Fatalf("etcd did not start: %v", lastErr)
	return nil
}

// Wipe replaces the store under the running clients, as an operator who
// lost or replaced etcd's data would: the process is killed and a new
// one, with an empty data dir, serves the same URL. Its revisions start
// again from 1.
func (e *Etcd) Wipe() {
	e.t.Helper()
	e.stop()
	var err error
	for attempt := 0; attempt < 3; attempt++ { // the ports are ours, but their release can lag
		if err = e.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("etcd did not start again: %v", err)
}

func (e *Etcd) start() error {
	e.generation++
	cmd := exec.Command(EtcdBinary,
		"--name", "t", "--data-dir", filepath.Join(e.dir, fmt.Sprint("data", e.generation)),
		"--listen-client-urls", e.URL, "--advertise-client-urls", e.URL,
		"--listen-peer-urls", e.peer, "--initial-advertise-peer-urls", e.peer,
		"--initial-cluster", "t="+e.peer, "--log-level", "error", "--logger", "zap")
	DieWithTest(cmd)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	e.stop = func() { cmd.Process.Kill(); <-exited }
	if err := waitEtcdReady(e.URL, exited); err != nil {
		e.stop()
		return fmt.Errorf("%v: %s", err, out.String())
	}
	return nil
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
