package controller

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// shortTempDir returns a temp dir short enough for unix socket paths.
func shortTempDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "rnl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func openEmbedded(t *testing.T, dir string, id int32) *Controller {
	t.Helper()
	c, err := Open(testCtx(t), Options{DataDir: dir, BrokerID: id, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// externalEtcd starts /usr/bin/etcd on free 127.0.0.1 ports with a temp
// data dir and returns its client URL. The process is killed at cleanup.
func externalEtcd(t *testing.T) string {
	t.Helper()
	bin := "/usr/bin/etcd"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no /usr/bin/etcd")
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		cport, pport := freePort(t), freePort(t)
		curl := fmt.Sprintf("http://127.0.0.1:%d", cport)
		purl := fmt.Sprintf("http://127.0.0.1:%d", pport)
		data := filepath.Join(dir, fmt.Sprint("data", attempt))
		cmd := exec.Command(bin,
			"--name", "t", "--data-dir", data,
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
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		if err := waitEtcd(curl, exited); err != nil {
			stop()
			lastErr = fmt.Errorf("%v: %s", err, out.String())
			continue
		}
		t.Cleanup(stop)
		return curl
	}
	t.Fatalf("external etcd did not start: %v", lastErr)
	return ""
}

func waitEtcd(url string, exited <-chan struct{}) error {
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

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func openExternal(t *testing.T, url string, id int32, ttl time.Duration) *Controller {
	t.Helper()
	c, err := Open(testCtx(t), Options{Endpoints: []string{url}, BrokerID: id, Logger: testLogger(t), SessionTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls cond until it holds; the test deadline bounds it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func register(t *testing.T, c *Controller, rack string) {
	t.Helper()
	err := c.RegisterBroker(testCtx(t), BrokerInfo{ID: c.o.BrokerID, Rack: rack, Endpoints: []Endpoint{
		{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9092 + c.o.BrokerID, SecurityProtocol: "PLAINTEXT"},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func testCtxCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx, cancel
}
