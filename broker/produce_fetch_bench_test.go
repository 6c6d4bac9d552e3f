package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Produce and fetch throughput through a real in-process broker with
// franz-go: 1 KiB records, one partition, acks=all (idempotent, franz-go's
// default), default batching and no compression.
//
//	go test -run '^$' -bench 'Produce|Fetch' -benchtime 200000x ./broker/

const benchRecordSize = 1024

func benchBroker(b *testing.B, topic string) (addr string) {
	b.Helper()
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	cfg, _, err := config.Load("", nil, []string{
		"broker.id=1",
		"listeners=PLAINTEXT://127.0.0.1:0",
		"log.dirs=" + filepath.Join(dir, "logs"),
		"runnel.admin.listener=",
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	br, err := New(ctx, Options{Config: cfg, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	addr = br.Addrs()[0].String()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	return addr
}

func benchProduce(b *testing.B, addr, topic string, n int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, benchRecordSize)
	ctx := context.Background()
	fail := make(chan error, 1)
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case fail <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-fail:
		b.Fatal(err)
	default:
	}
}

func BenchmarkProduce(b *testing.B) {
	addr := benchBroker(b, "bench")
	b.SetBytes(benchRecordSize)
	b.ResetTimer()
	benchProduce(b, addr, "bench", b.N)
}

func BenchmarkFetch(b *testing.B) {
	addr := benchBroker(b, "bench")
	benchProduce(b, addr, "bench", b.N)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	b.SetBytes(benchRecordSize)
	b.ResetTimer()
	ctx := context.Background()
	for got := 0; got < b.N; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			b.Fatal(err)
		}
		got += fs.NumRecords()
	}
}
