package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"
)

// logFiles maps every .log file under dir (partition dirs, strays
// included) to its content.
func logFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == etcdDirName {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".log") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[rel] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameLogs(t *testing.T, before, after map[string][]byte) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf(".log files: %d before, %d after", len(before), len(after))
	}
	for p, b := range before {
		if !bytes.Equal(after[p], b) {
			t.Fatalf("%s changed: %d bytes before, %d after", p, len(b), len(after[p]))
		}
	}
}

func newBrokerOn(t *testing.T, logDir string, overrides ...string) (*Broker, error) {
	t.Helper()
	cfg, _, err := config.Load("", nil, append([]string{"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + logDir, "runnel.admin.listener="}, overrides...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return New(ctx, Options{Config: cfg, Logger: zaptest.NewLogger(t)})
}

// The metadata store is lost (the embedded etcd's directory removed): the
// broker refuses to start, names the recovery key, and changes nothing;
// with runnel.cluster.id.recover=restore it re-creates the cluster under
// the log dir's id and the topics, and a consumer reads every record.
func TestLostMetadataStoreRefusedThenRestored(t *testing.T) {
	tb := startTestBroker(t)
	logDir := tb.cfg.LogDirs[0]
	dataTopic(t, tb, "orders", 3, nil)
	cl := tb.client(t, kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	const n = 30
	for i := range n {
		if err := cl.ProduceSync(testCtx(t), kgo.StringRecord(fmt.Sprint("r", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	// A group's committed offsets live in __consumer_offsets: restored too.
	var commit kadm.Offsets
	commit.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 4, LeaderEpoch: -1})
	if resp, err := tb.admin(t).CommitOffsets(testCtx(t), "restored-group", commit); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	clusterID := tb.ctrl.ClusterID()
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	meta, _ := os.ReadFile(filepath.Join(logDir, storage.MetaPropertiesFile))
	if !strings.Contains(string(meta), "cluster.id="+clusterID+"\n") {
		t.Fatalf("meta.properties without the cluster id:\n%s", meta)
	}
	before := logFiles(t, logDir)
	if len(before) < 3 {
		t.Fatalf("log files %v", before)
	}
	if err := os.RemoveAll(filepath.Join(logDir, etcdDirName)); err != nil {
		t.Fatal(err)
	}

	b, err := newBrokerOn(t, logDir)
	if err == nil {
		b.Close()
		t.Fatal("started on an empty metadata store with a log dir of another cluster")
	}
	for _, want := range []string{"holds no cluster", clusterID, "runnel.cluster.id.recover=restore", "Nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error lacks %q: %v", want, err)
		}
	}
	sameLogs(t, before, logFiles(t, logDir))
	if again, _ := os.ReadFile(filepath.Join(logDir, storage.MetaPropertiesFile)); !bytes.Equal(again, meta) {
		t.Fatalf("meta.properties changed:\n%s", again)
	}
	// Refused again: the refusal created no cluster.
	if b, err := newBrokerOn(t, logDir); err == nil || !strings.Contains(err.Error(), "holds no cluster") {
		if b != nil {
			b.Close()
		}
		t.Fatalf("second start: %v", err)
	}

	b, err = newBrokerOn(t, logDir, "runnel.cluster.id.recover=restore")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.ctrl.ClusterID() != clusterID {
		t.Fatalf("restored cluster id %q, want %q", b.ctrl.ClusterID(), clusterID)
	}
	top := b.ctrl.Snapshot().Topics["orders"]
	if top == nil || len(top.Partitions) != 3 {
		t.Fatalf("restored topic %+v", top)
	}
	rb := &testBroker{Broker: b, addr: b.Addrs()[0].String()}
	cons := rb.client(t, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	ctx := testCtx(t)
	for len(got) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(got), n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch error: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	for i := range n {
		if !got[fmt.Sprint("r", i)] {
			t.Fatalf("record r%d missing", i)
		}
	}
	fetched, err := rb.admin(t).FetchOffsets(ctx, "restored-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("orders", 1); !ok || o.At != 4 {
		t.Fatalf("committed offset after the restore: %+v (%v), want 4", o, ok)
	}
	if top := b.ctrl.Snapshot().Topics["__consumer_offsets"]; top == nil || !top.Internal || top.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("restored __consumer_offsets: %+v", top)
	}
}

// A log dir of cluster A against a store of cluster B is refused with
// Kafka's InconsistentClusterIdException; adopt joins B and keeps A's
// partitions as -stray directories.
func TestInconsistentClusterIDRefusedThenAdopted(t *testing.T) {
	tb := startTestBroker(t)
	logDir := tb.cfg.LogDirs[0]
	dataTopic(t, tb, "a", 1, nil)
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := storage.ReadMetaProperties(logDir)
	if err != nil {
		t.Fatal(err)
	}
	m.ClusterID = "AAAAAAAAAAAAAAAAAAAAAA"
	if _, err := storage.WriteMetaProperties(logDir, m); err != nil {
		t.Fatal(err)
	}
	b, err := newBrokerOn(t, logDir)
	if err == nil {
		b.Close()
		t.Fatal("started against another cluster's store")
	}
	for _, want := range []string{"InconsistentClusterId", "AAAAAAAAAAAAAAAAAAAAAA", "runnel.cluster.id.recover=adopt"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error lacks %q: %v", want, err)
		}
	}
	b, err = newBrokerOn(t, logDir, "runnel.cluster.id.recover=adopt")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, _ := storage.ReadMetaProperties(logDir); got.ClusterID != b.ctrl.ClusterID() {
		t.Fatalf("meta.properties cluster id %q after adopting %q", got.ClusterID, b.ctrl.ClusterID())
	}
	// The store still has "a" (the same etcd): nothing became a stray.
	if b.logs.Strays() != 0 || b.logs.Get("a", 0) == nil {
		t.Fatalf("strays %d, a-0 open: %v", b.logs.Strays(), b.logs.Get("a", 0) != nil)
	}
}

// A topic deleted while the broker was down: at the next start its
// partition directory is renamed <topic>-<p>.<id>-stray with every byte
// kept, counted, and not loaded; the others are untouched.
func TestStraysSetAsideAtStart(t *testing.T) {
	tb := startTestBroker(t)
	logDir := tb.cfg.LogDirs[0]
	dataTopic(t, tb, "keep", 1, nil)
	dataTopic(t, tb, "gone", 1, nil)
	cl := tb.client(t)
	for _, topic := range []string{"keep", "gone"} {
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: topic, Value: []byte("v-" + topic)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	before := logFiles(t, logDir)

	// Deleted with only the metadata store running, as another broker
	// would while this one is down.
	ctrl, err := controller.Open(testCtx(t), controller.Options{DataDir: filepath.Join(logDir, etcdDirName), BrokerID: 2, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.DeleteTopic(testCtx(t), "gone"); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Close(); err != nil {
		t.Fatal(err)
	}

	b, err := newBrokerOn(t, logDir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	strays, _ := filepath.Glob(filepath.Join(logDir, "gone-0.*-stray"))
	if len(strays) != 1 || b.logs.Strays() != 1 || b.logs.Get("gone", 0) != nil || b.logs.Get("keep", 0) == nil {
		t.Fatalf("strays %v, count %d", strays, b.logs.Strays())
	}
	after := logFiles(t, logDir)
	for p, data := range before {
		if strings.HasPrefix(p, "gone-0/") {
			p = filepath.Join(filepath.Base(strays[0]), filepath.Base(p))
		}
		if !bytes.Equal(after[p], data) {
			t.Fatalf("%s not kept intact", p)
		}
	}
}
