package broker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"
)

// gatedSegmentOpens holds the first open of a segment file of one
// partition until gate is closed, so that a test can look at a broker
// that is still loading its logs.
type gatedSegmentOpens struct {
	dir     string // the partition's directory name
	gate    chan struct{}
	reached chan struct{}
	once    sync.Once
}

func (g *gatedSegmentOpens) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if strings.Contains(name, g.dir+string(filepath.Separator)) && strings.HasSuffix(name, ".log") {
		g.once.Do(func() { close(g.reached) })
		<-g.gate
	}
	return os.OpenFile(name, flag, perm)
}
func (*gatedSegmentOpens) WriteAt(f *os.File, b []byte, off int64) (int, error) {
	return f.WriteAt(b, off)
}
func (*gatedSegmentOpens) Write(f *os.File, b []byte) (int, error) { return f.Write(b) }
func (*gatedSegmentOpens) Sync(f *os.File) error                   { return f.Sync() }
func (*gatedSegmentOpens) Truncate(f *os.File, size int64) error   { return f.Truncate(size) }
func (*gatedSegmentOpens) Rename(oldpath, newpath string) error    { return os.Rename(oldpath, newpath) }
func (*gatedSegmentOpens) Remove(name string) error                { return os.Remove(name) }

// TestReadyzWhileLoading: the admin listener answers from the start of
// New, and /readyz is 503 with what the broker is doing while it loads
// its partition logs; once New returns it is ready. /metrics answers
// meanwhile.
func TestReadyzWhileLoading(t *testing.T) {
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	admin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg, _, err := config.Load("", nil, []string{
		"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0",
		"log.dirs=" + filepath.Join(dir, "logs"), "runnel.admin.listener=" + admin,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{Broker: first, addr: first.Addrs()[0].String()}
	dataTopic(t, tb, "loading", 1, nil)
	// A record, so that loading opens the segment (an empty one is not
	// opened until its first use).
	cl := tb.client(t)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "loading", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	gate := &gatedSegmentOpens{dir: "loading-0", gate: make(chan struct{}), reached: make(chan struct{})}
	type started struct {
		b   *Broker
		err error
	}
	done := make(chan started, 1)
	go func() {
		b, err := New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t), FileOps: gate})
		done <- started{b, err}
	}()
	select {
	case <-gate.reached:
	case s := <-done:
		t.Fatalf("New returned (%v) without opening the partition's segment", s.err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting: loading the partition logs") {
		t.Errorf("/readyz while loading: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics while loading: %d", code)
	}
	close(gate.gate)
	s := <-done
	if s.err != nil {
		t.Fatal(s.err)
	}
	defer s.b.Close()
	if code, body := get("/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz once started: %d %q", code, body)
	}
}
