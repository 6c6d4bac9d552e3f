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
//
// BenchmarkFetchTLS reads over an SSL listener, where the record bytes are
// copied through crypto/tls instead of sent with sendfile.

const benchRecordSize = 1024

func benchBroker(b *testing.B, topic string) (addr string) {
	return benchBrokerWith(b, topic)[0]
}

// benchBrokerWith starts a broker with extra config overrides and creates
// topic; it returns the address of each listener, in config order.
func benchBrokerWith(b *testing.B, topic string, overrides ...string) (addrs []string) {
	b.Helper()
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	cfg, _, err := config.Load("", nil, append([]string{
		"broker.id=1",
		"listeners=PLAINTEXT://127.0.0.1:0",
		"log.dirs=" + filepath.Join(dir, "logs"),
		"runnel.admin.listener=",
	}, overrides...))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	br, err := New(ctx, Options{Config: cfg, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	for _, a := range br.Addrs() {
		addrs = append(addrs, a.String())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs[0]))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	return addrs
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
	benchConsume(b, addr, "bench")
}

func BenchmarkFetchTLS(b *testing.B) {
	f := tlsFiles(b)
	addrs := benchBrokerWith(b, "bench", append([]string{"listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"}, sslOverrides(f, "PEM")...)...)
	benchProduce(b, addrs[0], "bench", b.N)
	benchConsume(b, addrs[1], "bench", kgo.DialTLSConfig(clientTLS(b, f)))
}

// benchConsume times reading b.N records of topic from its start.
func benchConsume(b *testing.B, addr, topic string, opts ...kgo.Opt) {
	b.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64 << 20), kgo.FetchMaxPartitionBytes(16 << 20)}, opts...)...)
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
