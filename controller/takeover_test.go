package controller

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// longTTL is far longer than any eventually() here waits: a test that
// passes did not wait for a lease of this length to expire.
const longTTL = 120 * time.Second

func brokerInfo(id int32, dir string) BrokerInfo {
	return BrokerInfo{ID: id, DirectoryID: dir, Host: "host-1", BootID: "boot-1", Endpoints: []Endpoint{
		{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9092 + id, SecurityProtocol: "PLAINTEXT"},
	}}
}

// crash stops c as a killed process stops: its keepalives end but nothing
// revokes its lease (the client is closed before Close could revoke), so
// its registration and election key stay until the lease expires.
func crash(c *Controller) {
	c.cli.Close()
	c.Close()
}

func leaseAlive(t *testing.T, cli *clientv3.Client, lease int64) bool {
	t.Helper()
	r, err := cli.TimeToLive(testCtx(t), clientv3.LeaseID(lease))
	if err != nil {
		t.Fatal(err)
	}
	return r.TTL > 0
}

// A single node with the embedded etcd is killed while it is the
// controller and reopened on the same data dir: the embedded etcd comes
// back with the old lease renewed for its whole TTL, and the new process,
// registering with the same directory id, takes the registration over at
// once (a new epoch, the old lease revoked) and is elected controller
// without waiting for the old election key to expire.
func TestReopenedBrokerTakesOverItsDeadRegistration(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	open := func() *Controller {
		c, err := Open(testCtx(t), Options{DataDir: dir, BrokerID: 1, Logger: testLogger(t), SessionTTL: longTTL})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := open()
	if err := c1.RegisterBroker(testCtx(t), brokerInfo(1, "dir-A")); err != nil {
		t.Fatal(err)
	}
	c1.Campaign(testCtx(t))
	testenv.Eventually(t, "first process elected", func() bool { return c1.IsController() && c1.Snapshot().ControllerID == 1 })
	old := c1.Snapshot().Brokers[1]
	crash(c1)

	c2 := open()
	defer c2.Close()
	if s := c2.Snapshot(); s.Brokers[1].Lease != old.Lease || s.ControllerID != 1 {
		t.Fatalf("the restarted etcd does not hold the dead process's keys: %+v, controller %d", s.Brokers[1], s.ControllerID)
	}
	if !leaseAlive(t, c2.Client(), old.Lease) {
		t.Fatal("the dead process's lease expired already; the test proves nothing")
	}
	if err := c2.RegisterBroker(testCtx(t), brokerInfo(1, "dir-A")); err != nil {
		t.Fatalf("registering over the dead process's registration: %v", err)
	}
	now := c2.Snapshot().Brokers[1]
	if now.Epoch <= old.Epoch || now.Lease == old.Lease || now.DirectoryID != "dir-A" {
		t.Fatalf("registration after the takeover %+v, before %+v", now, old)
	}
	if got := c2.OwnEpoch(c2.Snapshot()); got != now.Epoch {
		t.Fatalf("OwnEpoch %d, registered at %d", got, now.Epoch)
	}
	if leaseAlive(t, c2.Client(), old.Lease) {
		t.Fatal("the dead process's lease still lives")
	}
	c2.Campaign(testCtx(t))
	testenv.Eventually(t, "restarted process elected", func() bool { return c2.IsController() && c2.Snapshot().ControllerID == 1 })
}

// In a cluster the takeover is a bounce: broker 2, the controller and the
// leader of a partition, is killed and its next process registers at once
// under the same directory id. Broker 1 sees a new epoch for broker 2, is
// elected controller without waiting for the dead one's election key to
// expire, and moves the leadership off the bounced broker. A broker with
// the same id but another log dir can take over neither the live
// registration nor a dead one: it is told the id is in use, and the
// registration stays as it was.
func TestTakeoverIsABounceAndNeedsTheSameDirectory(t *testing.T) {
	url := testenv.StartEtcd(t)
	ctx := testCtx(t)
	b2 := openExternal(t, url, 2, longTTL)
	if err := b2.RegisterBroker(ctx, brokerInfo(2, "dir-2")); err != nil {
		t.Fatal(err)
	}
	b2.Campaign(ctx)
	testenv.Eventually(t, "broker 2 elected", b2.IsController)
	c1 := openExternal(t, url, 1, longTTL)
	defer c1.Close()
	if err := c1.RegisterBroker(ctx, brokerInfo(1, "dir-1")); err != nil {
		t.Fatal(err)
	}
	c1.Campaign(ctx)
	_, rev, err := c1.CreateTopic(ctx, TopicSpec{Name: "t", Assignments: map[int32][]int32{0: {2, 1}}, NumPartitions: -1, ReplicationFactor: -1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	old := c1.Snapshot().Brokers[2]
	if p := c1.Snapshot().Topics["t"].Partitions[0]; p.Leader != 2 || p.LeaderBrokerEpoch != old.Epoch {
		t.Fatalf("created: %+v", p)
	}
	crash(b2)

	// Another log dir, same id: refused while the dead process's
	// registration lasts, though its owner is gone.
	other := openExternal(t, url, 2, longTTL)
	defer other.Close()
	if err := other.RegisterBroker(ctx, brokerInfo(2, "dir-elsewhere")); !errors.Is(err, ErrBrokerIDInUse) {
		t.Fatalf("a broker with another log dir registered over a dead one's registration: %v", err)
	}
	if b := c1.Snapshot().Brokers[2]; b.Epoch != old.Epoch || !leaseAlive(t, c1.Client(), old.Lease) {
		t.Fatalf("registration disturbed by the refused broker: %+v", b)
	}

	b2 = openExternal(t, url, 2, longTTL)
	defer b2.Close()
	if err := b2.RegisterBroker(ctx, brokerInfo(2, "dir-2")); err != nil {
		t.Fatalf("registering over the dead process's registration: %v", err)
	}
	testenv.Eventually(t, "broker 1 sees broker 2's new epoch", func() bool {
		b, ok := c1.Snapshot().Brokers[2]
		return ok && b.Epoch > old.Epoch
	})
	e1 := c1.Snapshot().Brokers[1].Epoch
	testenv.Eventually(t, "broker 1 elected in place of the dead controller", func() bool {
		return c1.IsController() && c1.Snapshot().ControllerID == 1
	})
	testenv.Eventually(t, "leadership moved off the bounced broker", func() bool {
		p := c1.Snapshot().Topics["t"].Partitions[0]
		return p.Leader == 1 && p.LeaderEpoch == 1 && p.LeaderBrokerEpoch == e1 && slices.Equal(p.ISR, []int32{1})
	})

	// The live registration is not taken over by another log dir either.
	now := c1.Snapshot().Brokers[2]
	if err := other.RegisterBroker(ctx, brokerInfo(2, "dir-elsewhere")); !errors.Is(err, ErrBrokerIDInUse) {
		t.Fatalf("a broker with another log dir registered over a live one: %v", err)
	}
	if err := other.RegisterBroker(ctx, brokerInfo(2, "")); !errors.Is(err, ErrBrokerIDInUse) {
		t.Fatalf("a broker without a log dir id registered over a live one: %v", err)
	}
	if b := c1.Snapshot().Brokers[2]; b.Epoch != now.Epoch || b.Lease != now.Lease || b2.OwnEpoch(b2.Snapshot()) != now.Epoch {
		t.Fatalf("live registration disturbed: %+v, was %+v", b, now)
	}
	if !leaseAlive(t, c1.Client(), now.Lease) {
		t.Fatal("the live broker's lease was revoked")
	}
}

// The same log dir id from another host or another boot (a copied or
// restored log dir) is not proof that the registration's owner is dead:
// it waits for the lease. Neither is a registration without host and boot
// (an older Runnel). The same host and boot takes over.
func TestTakeoverNeedsTheSameHostAndBoot(t *testing.T) {
	url := testenv.StartEtcd(t)
	ctx := testCtx(t)
	b1 := openExternal(t, url, 1, longTTL)
	if err := b1.RegisterBroker(ctx, brokerInfo(1, "dir-1")); err != nil {
		t.Fatal(err)
	}
	old := b1.Snapshot().Brokers[1]
	if old.Host != "host-1" || old.BootID != "boot-1" {
		t.Fatalf("registration %+v", old)
	}
	crash(b1)

	for _, change := range []func(*BrokerInfo){
		func(b *BrokerInfo) { b.Host = "host-2" },
		func(b *BrokerInfo) { b.BootID = "boot-2" },
		func(b *BrokerInfo) { b.Host, b.BootID = "", "" },
	} {
		c := openExternal(t, url, 1, longTTL)
		info := brokerInfo(1, "dir-1")
		change(&info)
		if err := c.RegisterBroker(ctx, info); !errors.Is(err, ErrBrokerIDInUse) {
			c.Close()
			t.Fatalf("%+v registered over a dead registration from another host or boot: %v", info, err)
		}
		c.Close()
	}
	c := openExternal(t, url, 1, longTTL)
	defer c.Close()
	if !leaseAlive(t, c.Client(), old.Lease) {
		t.Fatal("the dead process's lease was revoked")
	}
	if err := c.RegisterBroker(ctx, brokerInfo(1, "dir-1")); err != nil {
		t.Fatalf("the same host and boot did not take over: %v", err)
	}
}
