package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cluster is a real etcd and several runnel processes pointed at it. Each
// broker sits behind two TCP proxies of its own: one in front of its
// listener (it advertises the proxy, so clients and the other brokers'
// replica fetchers reach it only through it) and one in front of etcd
// (its etcd.endpoints). Cutting both isolates the broker from the cluster
// and from etcd, while the test can still reach its real listener.
type cluster struct {
	t       *testing.T
	etcdURL string
	nodes   []*clusterNode
}

type clusterNode struct {
	id     int32
	b      *broker
	front  *tcpProxy // in front of the broker's listener
	etcdPx *tcpProxy // between the broker and etcd
	// adminAddr is the broker's admin HTTP listener (/metrics).
	adminAddr string
}

// startCluster starts etcd and n brokers (ids 1..n) with extra overrides;
// "{id}" in an override stands for each broker's id.
func startCluster(t *testing.T, n int, overrides ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, etcdURL: testenv.StartEtcd(t)}
	etcdHostPort := strings.TrimPrefix(c.etcdURL, "http://")
	for i := 1; i <= n; i++ {
		nd := &clusterNode{id: int32(i), adminAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
		b := &broker{t: t, dataDir: t.TempDir(), port: testenv.FreePort(t)}
		nd.front = newTCPProxy(t, b.addr())
		nd.etcdPx = newTCPProxy(t, etcdHostPort)
		b.args = append(b.args,
			"--override", fmt.Sprintf("broker.id=%d", i),
			"--override", fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", nd.front.port()),
			"--override", "etcd.endpoints=http://"+nd.etcdPx.addr(),
			"--override", "replica.fetch.wait.max.ms=200",
			"--override", "replica.fetch.backoff.ms=200",
			"--override", "replica.lag.time.max.ms=5000",
			"--override", "runnel.admin.listener="+nd.adminAddr,
		)
		for _, o := range overrides {
			b.args = append(b.args, "--override", strings.ReplaceAll(o, "{id}", fmt.Sprint(i)))
		}
		nd.b = b
		c.nodes = append(c.nodes, nd)
	}
	// Start them together: each waits for Metadata, which needs only
	// itself registered.
	for _, nd := range c.nodes {
		nd.b.start()
		t.Cleanup(nd.b.stop)
	}
	c.waitAllRegistered()
	return c
}

// waitAllRegistered waits until every broker's Metadata lists all the
// brokers. A broker creates topics from its own view of the registrations,
// so a CreateTopics with replication factor n sent to a broker that has not
// yet seen the last registration would fail with INVALID_REPLICATION_FACTOR.
func (c *cluster) waitAllRegistered() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, nd := range c.nodes {
		cl, err := kgo.NewClient(kgo.SeedBrokers(nd.front.addr()))
		if err != nil {
			c.t.Fatal(err)
		}
		seed := cl.SeedBrokers()[0]
		for {
			resp, err := seed.Request(ctx, kmsg.NewPtrMetadataRequest())
			if err == nil && len(resp.(*kmsg.MetadataResponse).Brokers) == len(c.nodes) {
				break
			}
			if ctx.Err() != nil {
				cl.Close()
				c.t.Fatalf("broker %d does not see all %d brokers registered: %v", nd.id, len(c.nodes), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
}

func (c *cluster) node(id int32) *clusterNode { return c.nodes[id-1] }

// metric reads a metric without labels from the node's /metrics.
func (nd *clusterNode) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + nd.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("broker %d has no metric %s", nd.id, name)
	return 0
}

// seeds are the advertised (proxied) addresses of every broker.
func (c *cluster) seeds() []string {
	var s []string
	for _, nd := range c.nodes {
		s = append(s, nd.front.addr())
	}
	return s
}

// client is a franz-go client on the advertised addresses.
func (c *cluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// replicatedTopic creates topic with three replicas and
// min.insync.replicas=2, waits until every replica is in sync, and returns
// the admin client it used (metadata at most 100 ms old).
func (c *cluster) replicatedTopic(ctx context.Context, topic string, partitions int32) *kadm.Client {
	c.t.Helper()
	adm := kadm.NewClient(c.client(kgo.MetadataMinAge(100 * time.Millisecond)))
	two := "2"
	resp, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &two}, topic)
	if err != nil || resp.Err != nil {
		c.t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	c.waitFullISR(ctx, adm, topic)
	return adm
}

// failoverProducer is a franz-go producer (idempotent, acks=all, records
// placed by their Partition field) that retries quickly through leader
// changes. A cut-off broker blackholes connections: without short dial and
// request timeouts the unavailability measured would be the client's
// defaults, not the cluster's failover.
func (c *cluster) failoverProducer() *kgo.Client {
	return c.client(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.DialTimeout(2*time.Second),
		kgo.RequestTimeoutOverhead(2*time.Second),
	)
}

// metadata returns the topic's partitions as some reachable broker sees
// them, and the controller id.
func (c *cluster) metadata(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicDetail, int32, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}, -1, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return kadm.TopicDetail{}, md.Controller, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	return td, md.Controller, nil
}

// waitFullISR waits until every partition of topic has a leader and an ISR
// of all its replicas.
func (c *cluster) waitFullISR(ctx context.Context, adm *kadm.Client, topic string) {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		td, _, err := c.metadata(ctx, adm, topic)
		if err == nil && len(td.Partitions) > 0 {
			ok := true
			for _, p := range td.Partitions {
				if p.Leader < 0 || len(p.ISR) != len(p.Replicas) || p.Err != nil {
					ok = false
				}
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			for _, nd := range c.nodes {
				c.t.Logf("broker %d log tail:\n%s", nd.id, tail(nd.b.logs(), 60))
			}
			c.t.Fatalf("ISR of %s not full after 90s: %+v %v", topic, td.Partitions, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// produceDirect sends one single-record batch per partition of values to
// br in one Produce request with the given acks, bypassing any client
// routing (a write sent straight to a broker that may no longer lead).
// It returns the partitions' answers, or the request's error.
func produceDirect(br *kgo.Broker, topic string, topicID [16]byte, acks int16, values map[int32]string) ([]kmsg.ProduceResponseTopicPartition, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 1500
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	for p, v := range values {
		var bb storage.BatchBuilder
		bb.Add(time.Now().UnixMilli(), nil, []byte(v))
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p
		rp.Records = bb.Build()
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, br)
	if err != nil {
		return nil, err
	}
	var out []kmsg.ProduceResponseTopicPartition
	for _, t := range resp.Topics {
		out = append(out, t.Partitions...)
	}
	return out, nil
}
