package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"
)

// testBroker is a real Broker started in-process with an embedded etcd on
// unix sockets and a listener on 127.0.0.1:0.
type testBroker struct {
	*Broker
	addr string
}

// startTestBroker starts a broker whose configuration is Kafka's defaults
// plus the given key=value overrides; it is closed at the end of the test.
func startTestBroker(t *testing.T, overrides ...string) *testBroker {
	t.Helper()
	return startTestBrokerWith(t, Options{}, overrides...)
}

// startTestBrokerWith is startTestBroker with Options beyond the
// configuration (a FileOps, say); its Config and Logger are set here.
func startTestBrokerWith(t *testing.T, o Options, overrides ...string) *testBroker {
	t.Helper()
	// Unix socket paths are limited to ~100 bytes: keep the data dir short.
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ov := append([]string{
		"broker.id=1",
		"listeners=PLAINTEXT://127.0.0.1:0",
		"log.dirs=" + filepath.Join(dir, "logs"),
		"runnel.admin.listener=",
	}, overrides...)
	cfg, _, err := config.Load("", nil, ov)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.Config, o.Logger = cfg, zaptest.NewLogger(t)
	b, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{Broker: b, addr: b.Addrs()[0].String()}
	t.Cleanup(func() {
		// A broker whose log dir failed reports that failure on Close.
		if err := b.Close(); err != nil && b.LogDirError() == nil {
			t.Errorf("closing broker: %v", err)
		}
	})
	return tb
}

// client returns a franz-go client for the broker, closed at test end.
func (tb *testBroker) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client for the broker.
func (tb *testBroker) admin(t *testing.T) *kadm.Client { return kadm.NewClient(tb.client(t)) }

// testCtx is a context that ends with the test or after a minute.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestBrokerStartsAndStops(t *testing.T) {
	tb := startTestBroker(t)
	if tb.ID() != 1 {
		t.Fatalf("id %d", tb.ID())
	}
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testCtx(t), tb.client(t))
	if err != nil || resp.ErrorCode != 0 {
		t.Fatal(err, resp)
	}
}
