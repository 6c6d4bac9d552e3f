package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// TestRoundTripEveryClientEveryCodec produces keyed records with each
// client and each compression codec and reads them back, checking that
// every acknowledged record comes back once, in order, per partition.
func TestRoundTripEveryClientEveryCodec(t *testing.T) {
	b := startBroker(t)
	const n = 500
	for _, codec := range codecs {
		codec := codec
		t.Run("franz-go produce, kafka-go consume/"+codec, func(t *testing.T) {
			topic := "rt-franz-" + codec
			b.createTopic(t, topic, 3)
			acked := produceFranz(t, b, topic, n, codec)
			got := consumeKafkaGo(t, b, topic, 3, n)
			assertSamePerPartition(t, acked, got)
		})
		t.Run("sarama/"+codec, func(t *testing.T) {
			topic := "rt-sarama-" + codec
			b.createTopic(t, topic, 3)
			acked := produceSarama(t, b, topic, n, codec)
			got := consumeFranz(t, b, topic, n)
			assertSamePerPartition(t, acked, got)
		})
		t.Run("confluent-kafka-python/"+codec, func(t *testing.T) {
			topic := "rt-confluent-" + codec
			b.createTopic(t, topic, 3)
			out := python(t, "confluent_roundtrip.py", b.addr(), topic, fmt.Sprint(n), codec, "true")
			assertConsumedAll(t, out, n)
		})
		t.Run("kafka-python/"+codec, func(t *testing.T) {
			topic := "rt-kafkapython-" + codec
			b.createTopic(t, topic, 3)
			out := python(t, "kafkapython_roundtrip.py", b.addr(), topic, fmt.Sprint(n), codec)
			assertConsumedAll(t, out, n)
		})
		t.Run("kcat/"+codec, func(t *testing.T) {
			topic := "rt-kcat-" + codec
			b.createTopic(t, topic, 1)
			var lines []string
			for i := 0; i < n; i++ {
				lines = append(lines, fmt.Sprintf("k%d:value-%d", i%5, i))
			}
			kcat(t, strings.Join(lines, "\n")+"\n", "-b", b.addr(), "-P", "-t", topic, "-K", ":", "-z", kcatCodec(codec), "-X", "acks=all")
			out := kcat(t, "", "-b", b.addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k:%s\n")
			got := strings.Split(strings.TrimSpace(out), "\n")
			if len(got) != n {
				t.Fatalf("kcat read %d records, want %d", len(got), n)
			}
			for i, l := range got {
				if l != lines[i] {
					t.Fatalf("record %d: %q, want %q", i, l, lines[i])
				}
			}
		})
	}
}

func kcatCodec(c string) string {
	if c == "none" {
		return "none"
	}
	return c
}

// record is what a test remembers of one record.
type record struct {
	offset     int64
	key, value string
}

func produceFranz(t *testing.T, b *broker, topic string, n int, codec string) map[int32][]record {
	t.Helper()
	cl := b.franz(t, kgo.ProducerBatchCompression(franzCodec(codec)), kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i%7)), Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
	out := map[int32][]record{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], record{r.Offset, string(r.Key), string(r.Value)})
	}
	return out
}

func franzCodec(c string) kgo.CompressionCodec {
	switch c {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func consumeFranz(t *testing.T, b *broker, topic string, n int) map[int32][]record {
	t.Helper()
	cl := b.franz(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[int32][]record{}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("franz-go consumed %d of %d: %v", got, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], record{r.Offset, string(r.Key), string(r.Value)})
			got++
		})
	}
	return out
}

func consumeKafkaGo(t *testing.T, b *broker, topic string, partitions, n int) map[int32][]record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[int32][]record{}
	got := 0
	for p := 0; p < partitions; p++ {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{b.addr()}, Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond})
		if err := r.SetOffset(kafkago.FirstOffset); err != nil {
			t.Fatal(err)
		}
		conn, err := kafkago.DialLeader(ctx, "tcp", b.addr(), topic, p)
		if err != nil {
			t.Fatalf("kafka-go dial: %v", err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatalf("kafka-go last offset: %v", err)
		}
		for int64(len(out[int32(p)])) < last {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("kafka-go read partition %d after %d: %v", p, len(out[int32(p)]), err)
			}
			out[int32(p)] = append(out[int32(p)], record{m.Offset, string(m.Key), string(m.Value)})
			got++
		}
		r.Close()
	}
	if got != n {
		t.Fatalf("kafka-go read %d records, want %d", got, n)
	}
	return out
}

func produceSarama(t *testing.T, b *broker, topic string, n int, codec string) map[int32][]record {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 5
	switch codec {
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	}
	p, err := sarama.NewSyncProducer([]string{b.addr()}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for i := 0; i < n; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i%7)), Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i))})
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("sarama produce: %v", err)
	}
	out := map[int32][]record{}
	for _, m := range msgs {
		k, _ := m.Key.Encode()
		v, _ := m.Value.Encode()
		out[m.Partition] = append(out[m.Partition], record{m.Offset, string(k), string(v)})
	}
	return out
}

// assertSamePerPartition checks that got holds exactly the acknowledged
// records, partition by partition, in offset order.
func assertSamePerPartition(t *testing.T, acked, got map[int32][]record) {
	t.Helper()
	for p, want := range acked {
		sortByOffset(want)
		have := got[p]
		if len(have) != len(want) {
			t.Fatalf("partition %d: read %d records, acknowledged %d", p, len(have), len(want))
		}
		for i := range want {
			if have[i] != want[i] {
				t.Fatalf("partition %d record %d: read %+v, acknowledged %+v", p, i, have[i], want[i])
			}
		}
	}
	for p := range got {
		if _, ok := acked[p]; !ok {
			t.Fatalf("read records from partition %d that nothing was produced to", p)
		}
	}
}

func sortByOffset(rs []record) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].offset < rs[j-1].offset; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

func assertConsumedAll(t *testing.T, out string, n int) {
	t.Helper()
	var res struct{ Produced, Consumed int }
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	if res.Produced != n || res.Consumed != n {
		t.Fatalf("produced %d consumed %d, want %d each", res.Produced, res.Consumed, n)
	}
}
