package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConnectionLimitsWired: the broker passes max.connections.per.ip to
// its connection layer — connections from 127.0.0.1 beyond the limit are
// closed unserved (the broker's own connections, if any, count too, so
// the test asserts only the upper bound).
func TestConnectionLimitsWired(t *testing.T) {
	const perIP = 3
	tb := startTestBroker(t, "max.connections.per.ip=3", "queued.max.request.bytes=104857600",
		"connection.failed.authentication.delay.ms=100")
	served := 0
	for range perIP + 2 {
		c := wiretest.Dial(t, tb.addr)
		r := kmsg.NewPtrApiVersionsRequest()
		r.SetVersion(3)
		r.ClientSoftwareName, r.ClientSoftwareVersion = "raw", "1"
		wiretest.Send(t, c, r, 1)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := protocol.ReadFrame(c, 1<<20, nil); err == nil {
			served++
		}
	}
	if served == 0 || served > perIP {
		t.Fatalf("%d connections from one address served, limit %d", served, perIP)
	}
}

// TestConnectionLimitStartupRefusals: limit keys Runnel cannot honour as
// given are refused at start.
func TestConnectionLimitStartupRefusals(t *testing.T) {
	for _, c := range []struct{ ov, want string }{
		{"max.connections=0", "max.connections=0"},
		{"listener.name.plaintext.max.connections=0", "listener.name.PLAINTEXT.max.connections=0"},
		{"max.connections.per.ip.overrides=127.0.0.1", "not host:count"},
		{"listener.name.plaintext.max.connection.creation.rate=-1", "listener.name.plaintext.max.connection.creation.rate"},
	} {
		err := newBrokerErr(t, c.ov)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.ov, err, c.want)
		}
	}
}

// TestDynamicConnectionLimits: max.connections.per.ip set at run time
// through IncrementalAlterConfigs reaches the connection layer: new
// connections from 127.0.0.1 are then refused (the admin client's own
// connections count too).
func TestDynamicConnectionLimits(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	one := "1"
	resps, err := tb.admin(t).AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.connections.per.ip", Value: &one}}, tb.ID())
	if err != nil || len(resps) != 1 || resps[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, resps)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := wiretest.Dial(t, tb.addr)
		r := kmsg.NewPtrApiVersionsRequest()
		r.SetVersion(3)
		r.ClientSoftwareName, r.ClientSoftwareVersion = "raw", "1"
		wiretest.Send(t, c, r, 1)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := protocol.ReadFrame(c, 1<<20, nil); err != nil {
			return // refused: the dynamic limit holds
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("connections still served after max.connections.per.ip=1")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
