package controller

import (
	"context"
	"testing"
	"time"

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

func openEmbedded(t *testing.T, dir string, id int32) *Controller {
	t.Helper()
	c, err := Open(testCtx(t), Options{DataDir: dir, BrokerID: id, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openExternal(t *testing.T, url string, id int32, ttl time.Duration) *Controller {
	t.Helper()
	c, err := Open(testCtx(t), Options{Endpoints: []string{url}, BrokerID: id, Logger: testLogger(t), SessionTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return c
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
