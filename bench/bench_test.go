package bench

import (
	"context"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCluster starts franz-go's in-memory one-broker cluster on 127.0.0.1.
func fakeCluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func smallConfig(brokers []string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = brokers
	cfg.Records = 3_001
	cfg.Rate = 2_000
	cfg.Duration = 500 * time.Millisecond
	cfg.Timeout = 60 * time.Second
	return cfg
}

func TestRunAllAgainstKfake(t *testing.T) {
	cfg := smallConfig(fakeCluster(t))
	cfg.Concurrency = 2
	cfg.Linger = time.Millisecond
	var logged []string
	cfg.Logf = func(f string, a ...any) { logged = append(logged, f) }

	res, err := Run(context.Background(), cfg, ModeAll)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Log(r)
	}
	if len(res) != 4 || res[0].Mode != ModeProduce || res[1].Mode != ModeConsume || res[2].Mode != ModeFetch || res[3].Mode != ModeE2E {
		t.Fatalf("results %v", res)
	}
	p, c, f, e := res[0], res[1], res[2], res[3]
	if p.Records != 3_001 || p.Bytes != 3_001*1024 || p.Failed != 0 || p.Latency.Count != 3_001 || p.Err != nil {
		t.Errorf("produce %+v", p)
	}
	if p.Latency.P50 <= 0 || p.Latency.P50 > p.Latency.P99 || p.Latency.P99 > p.Latency.P999 || p.Latency.P999 > p.Latency.Max {
		t.Errorf("produce latency not ordered: %+v", p.Latency)
	}
	if p.RecordsPerSec() <= 0 || p.MBPerSec() <= 0 {
		t.Errorf("produce throughput %v rec/s %v MB/s", p.RecordsPerSec(), p.MBPerSec())
	}
	// The topic holds the 3001 records and one warm-up record per client.
	if c.Records != 3_001 || c.Bytes != 3_001*1024 || c.Err != nil {
		t.Errorf("consume %+v", c)
	}
	// Raw fetch reads the same records, counting whole batches' bytes.
	if f.Records != 3_001 || f.Bytes <= 3_001*1024 || f.Err != nil || f.ClientCPU <= 0 {
		t.Errorf("fetch %+v", f)
	}
	if e.Sent == 0 || e.Records != e.Sent || e.Latency.Count != uint64(e.Records) || e.ProduceLatency.Count != uint64(e.Sent) || e.Err != nil {
		t.Errorf("e2e %+v", e)
	}
	if e.Rate != 2_000 || e.Elapsed != cfg.Duration || e.Bytes != e.Records*1024 {
		t.Errorf("e2e %+v", e)
	}
	for _, r := range res {
		if s := r.String(); !strings.HasPrefix(s, string(r.Mode)) || strings.Contains(s, "INCOMPLETE") {
			t.Errorf("String() = %q", s)
		}
	}
	if len(logged) == 0 {
		t.Error("Logf never called")
	}
}

func TestExistingTopicIsUsedAsIs(t *testing.T) {
	cfg := smallConfig(fakeCluster(t, kfake.SeedTopics(2, "seeded")))
	cfg.Topic = "seeded"
	cfg.Records = 10
	cfg.RecordSize = 1
	if _, err := Produce(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// Asked for more than there is: consume reads the 11 records present.
	cfg.Records = 1_000
	r, err := Consume(context.Background(), cfg)
	if err != nil || r.Records != 11 || r.Bytes != 11 {
		t.Fatalf("consume %+v, %v", r, err)
	}
}

func TestConsumeEmptyTopic(t *testing.T) {
	cfg := smallConfig(fakeCluster(t, kfake.SeedTopics(1, "empty")))
	cfg.Topic = "empty"
	if _, err := Consume(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no records") {
		t.Fatalf("consume of an empty topic: %v", err)
	}
}

func TestProduceTimesOut(t *testing.T) {
	cfg := smallConfig(fakeCluster(t))
	cfg.Records = 1_000_000
	cfg.RecordSize = 64
	cfg.Timeout = 300 * time.Millisecond
	r, err := Produce(context.Background(), cfg)
	if err == nil || r.Err == nil || !strings.Contains(r.String(), "INCOMPLETE") {
		t.Fatalf("want an incomplete result, got %v / %v", r, err)
	}
	if r.Records >= 1_000_000 {
		t.Fatalf("produced everything in 300ms? %v", r)
	}
}

func TestValidate(t *testing.T) {
	good := DefaultConfig()
	good.Brokers = []string{"127.0.0.1:1"}
	for name, c := range map[string]struct {
		mut  func(*Config)
		mode Mode
	}{
		"no brokers":     {func(c *Config) { c.Brokers = nil }, ModeProduce},
		"no topic":       {func(c *Config) { c.Topic = "" }, ModeConsume},
		"partitions":     {func(c *Config) { c.Partitions = 0 }, ModeE2E},
		"records":        {func(c *Config) { c.Records = 0 }, ModeProduce},
		"concurrency":    {func(c *Config) { c.Concurrency = 0 }, ModeAll},
		"rate":           {func(c *Config) { c.Rate = 0 }, ModeE2E},
		"duration":       {func(c *Config) { c.Duration = 0 }, ModeE2E},
		"e2e small size": {func(c *Config) { c.RecordSize = 4 }, ModeE2E},
		"timeout":        {func(c *Config) { c.Timeout = 0 }, ModeConsume},
		"linger":         {func(c *Config) { c.Linger = -1 }, ModeProduce},
	} {
		cfg := good
		c.mut(&cfg)
		if _, err := Run(context.Background(), cfg, c.mode); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ParseMode("consumer"); err == nil {
		t.Error("ParseMode accepted consumer")
	}
	for _, m := range []string{"produce", "consume", "fetch", "e2e", "all"} {
		if _, err := ParseMode(m); err != nil {
			t.Errorf("ParseMode(%q): %v", m, err)
		}
	}
}

// TestWalkBatches checks the raw fetch's batch walk against batches that
// franz-go's own encoder built: counts, the next offset, a partial batch
// left for the next fetch, a fetch offset inside a batch, and a bad CRC.
func TestWalkBatches(t *testing.T) {
	batch := func(base int64, n int) []byte {
		b := kmsg.RecordBatch{FirstOffset: base, Magic: 2, LastOffsetDelta: int32(n - 1), NumRecords: int32(n), ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
		var recs []byte
		for i := range n {
			r := kmsg.Record{OffsetDelta: int32(i), Value: []byte("value")}
			r.Length = int32(len(r.AppendTo(nil)) - 1)
			recs = r.AppendTo(recs)
		}
		b.Records = recs
		raw := b.AppendTo(nil)
		b.Length = int32(len(raw) - 12)
		raw = b.AppendTo(nil)
		b.CRC = int32(crc32.Checksum(raw[21:], crc32c))
		return b.AppendTo(nil)
	}
	a, b := batch(10, 3), batch(13, 4)
	raw := append(append([]byte{}, a...), b...)

	n, size, next, err := walkBatches(raw, 10)
	if err != nil || n != 7 || size != int64(len(raw)) || next != 17 {
		t.Errorf("whole: %d records %d bytes next %d err %v", n, size, next, err)
	}
	n, _, next, err = walkBatches(raw[:len(raw)-5], 10)
	if err != nil || n != 3 || next != 13 {
		t.Errorf("partial tail: %d records next %d err %v", n, next, err)
	}
	n, _, next, err = walkBatches(raw, 11)
	if err != nil || n != 6 || next != 17 {
		t.Errorf("from inside the first batch: %d records next %d err %v", n, next, err)
	}
	bad := append([]byte{}, raw...)
	bad[len(a)-1] ^= 0xff
	if _, _, _, err := walkBatches(bad, 10); err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Errorf("bad CRC: %v", err)
	}
}
