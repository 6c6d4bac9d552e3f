package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// stampLen is the size of the send time e2e writes at the front of each
// value: nanoseconds since the run's base time, big-endian uint64. Both
// ends are in this process, so the difference is taken on one monotonic
// clock.
const stampLen = 8

// fetchMaxWait matches Kafka's fetch.max.wait.ms default, so a broker that
// answers a long poll only at its deadline shows up as ~500 ms e2e latency.
const fetchMaxWait = 500 * time.Millisecond

// Run runs one workload, or all of them in order for ModeAll (consume and
// fetch then read what produce wrote). It stops at the first workload that returns an
// error and returns the results so far.
func Run(ctx context.Context, cfg Config, m Mode) ([]Result, error) {
	if err := cfg.validate(m); err != nil {
		return nil, err
	}
	modes := []Mode{m}
	if m == ModeAll {
		modes = []Mode{ModeProduce, ModeConsume, ModeFetch, ModeE2E}
	}
	var out []Result
	for _, m := range modes {
		var (
			r   Result
			err error
		)
		switch m {
		case ModeProduce:
			r, err = Produce(ctx, cfg)
		case ModeConsume:
			r, err = Consume(ctx, cfg)
		case ModeFetch:
			r, err = Fetch(ctx, cfg)
		case ModeE2E:
			r, err = E2E(ctx, cfg)
		}
		if r.Mode != "" {
			out = append(out, r)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", m, err)
		}
	}
	return out, nil
}

// firstError keeps the first error reported from any goroutine.
type firstError struct {
	once sync.Once
	err  error
}

func (f *firstError) set(err error) { f.once.Do(func() { f.err = err }) }

func baseOpts(cfg *Config) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("runnel-bench")}
}

// producerOpts: idempotent (franz-go's default, left on), acks=all,
// uncompressed batches.
func producerOpts(cfg *Config, linger time.Duration) []kgo.Opt {
	opts := append(baseOpts(cfg),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(linger),
	)
	if cfg.BatchMaxBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(cfg.BatchMaxBytes))
	}
	if cfg.MaxBufferedRecords > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(cfg.MaxBufferedRecords))
	}
	return opts
}

// ensureTopic creates the topic when it is missing and waits until every
// partition has a leader.
func ensureTopic(ctx context.Context, cfg *Config, adm *kadm.Client) error {
	created := false
	for {
		tds, err := adm.ListTopics(ctx, cfg.Topic)
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		td, ok := tds[cfg.Topic]
		switch {
		case (!ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition)) && !created:
			resp, err := adm.CreateTopic(ctx, cfg.Partitions, cfg.ReplicationFactor, nil, cfg.Topic)
			if err == nil {
				err = resp.Err
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", cfg.Topic, err)
			}
			cfg.logf("created topic %s with %d partitions", cfg.Topic, cfg.Partitions)
			created = true
			continue
		case ok && td.Err == nil && len(td.Partitions) > 0 && allLed(td):
			return nil
		case ok && td.Err != nil && !kerr.IsRetriable(td.Err) && !errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			return fmt.Errorf("topic %s: %w", cfg.Topic, td.Err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not ready: %w", cfg.Topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func allLed(td kadm.TopicDetail) bool {
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

func randomPayload(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{'r', 'u', 'n', 'n', 'e', 'l'})
	_, _ = r.Read(b)
	return b
}

// newAdmin returns an admin client; closing the kgo client closes both.
// kgo answers metadata requests from a cache younger than MetadataMinAge
// (5 s by default), which would hide a topic created a moment ago.
func newAdmin(cfg *Config) (*kgo.Client, *kadm.Client, error) {
	cl, err := kgo.NewClient(append(baseOpts(cfg), kgo.MetadataMinAge(10*time.Millisecond))...)
	if err != nil {
		return nil, nil, err
	}
	return cl, kadm.NewClient(cl), nil
}

// Produce sends cfg.Records records of cfg.RecordSize bytes, split over
// cfg.Concurrency clients, and measures throughput and the time from each
// Produce call to its promise. Each client first sends one record
// synchronously (connection, metadata, producer id) outside the measured
// window. Bounded by cfg.Timeout.
func Produce(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Mode: ModeProduce}
	if err := cfg.validate(ModeProduce); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	admCl, adm, err := newAdmin(&cfg)
	if err != nil {
		return res, err
	}
	defer admCl.Close()
	if err := ensureTopic(ctx, &cfg, adm); err != nil {
		return res, err
	}

	clients := make([]*kgo.Client, cfg.Concurrency)
	for i := range clients {
		cl, err := kgo.NewClient(producerOpts(&cfg, cfg.Linger)...)
		if err != nil {
			return res, err
		}
		defer cl.Close()
		clients[i] = cl
	}
	payload := randomPayload(cfg.RecordSize)
	for _, cl := range clients {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: payload}).FirstErr(); err != nil {
			return res, fmt.Errorf("warm-up produce: %w", err)
		}
	}

	hist := NewHistogram()
	var (
		acked, failed atomic.Int64
		ferr          firstError
		wg            sync.WaitGroup
	)
	cfg.logf("producing %d records of %d bytes to %s with %d client(s)", cfg.Records, cfg.RecordSize, cfg.Topic, cfg.Concurrency)
	cpu := startCPU(&cfg)
	start := time.Now()
	for i, cl := range clients {
		n := cfg.Records / cfg.Concurrency
		if i < cfg.Records%cfg.Concurrency {
			n++
		}
		wg.Go(func() {
			var inner sync.WaitGroup
			for range n {
				if ctx.Err() != nil {
					break
				}
				inner.Add(1)
				t0 := time.Now()
				cl.Produce(ctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
					if err != nil {
						failed.Add(1)
						ferr.set(err)
					} else {
						hist.Record(time.Since(t0))
						acked.Add(1)
					}
					inner.Done()
				})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	cpu.stop(&res)
	res.Records = acked.Load()
	res.Bytes = res.Records * int64(cfg.RecordSize)
	res.Failed = failed.Load()
	res.Latency = hist.Summary()
	switch {
	case ferr.err != nil:
		res.Err = fmt.Errorf("%d of %d produces failed, first: %w", res.Failed, cfg.Records, ferr.err)
	case res.Records < int64(cfg.Records):
		res.Err = fmt.Errorf("%d of %d records acknowledged: %w", res.Records, cfg.Records, ctx.Err())
	}
	return res, res.Err
}

// Consume reads the topic from its log start until cfg.Records records, or
// every record the topic held when it began if that is fewer, have arrived.
// The clock starts at the first poll. Bounded by cfg.Timeout.
func Consume(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Mode: ModeConsume}
	if err := cfg.validate(ModeConsume); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	admCl, adm, err := newAdmin(&cfg)
	if err != nil {
		return res, err
	}
	defer admCl.Close()
	_, _, avail, err := offsetRange(ctx, adm, cfg.Topic)
	if err != nil {
		return res, err
	}
	target := min(int64(cfg.Records), avail)

	cl, err := kgo.NewClient(append(baseOpts(&cfg),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(fetchMaxWait),
	)...)
	if err != nil {
		return res, err
	}
	defer cl.Close()

	cfg.logf("consuming %d records from %s", target, cfg.Topic)
	var ferr firstError
	cpu := startCPU(&cfg)
	start := time.Now()
	for res.Records < target && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				ferr.set(fmt.Errorf("fetch %s[%d]: %w", t, p, err))
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if res.Records < target {
				res.Records++
				res.Bytes += int64(len(r.Key) + len(r.Value))
			}
		})
	}
	res.Elapsed = time.Since(start)
	cpu.stop(&res)
	if res.Records < target {
		err := ctx.Err()
		if ferr.err != nil {
			err = ferr.err
		}
		res.Err = fmt.Errorf("%d of %d records received: %w", res.Records, target, err)
	}
	return res, res.Err
}

// offsetRange lists topic's start and end offsets and the records between
// them; a topic that holds none is an error (consume and fetch need data).
func offsetRange(ctx context.Context, adm *kadm.Client, topic string) (starts, ends kadm.ListedOffsets, avail int64, err error) {
	starts, err = adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err = adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list end offsets: %w", err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset {
			avail += o.Offset - s.Offset
		}
	})
	if avail == 0 {
		return nil, nil, 0, fmt.Errorf("topic %s holds no records; produce first", topic)
	}
	return starts, ends, avail, nil
}

// E2E sends records at cfg.Rate for cfg.Duration with a consumer reading
// concurrently from the partitions' end offsets, and measures the time from
// send to receipt. Each value starts with its send time. One record is
// sent synchronously first, then a warm-up tenth of the duration (at most a
// second) runs at the same rate and is not measured. After the last send, the consumer has up to cfg.Timeout to
// receive every acknowledged record.
func E2E(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Mode: ModeE2E, Rate: cfg.Rate}
	if err := cfg.validate(ModeE2E); err != nil {
		return res, err
	}
	warmup := min(cfg.Duration/10, time.Second)
	ctx, cancel := context.WithTimeout(ctx, warmup+cfg.Duration+cfg.Timeout)
	defer cancel()

	admCl, adm, err := newAdmin(&cfg)
	if err != nil {
		return res, err
	}
	defer admCl.Close()
	if err := ensureTopic(ctx, &cfg, adm); err != nil {
		return res, err
	}
	ends, err := adm.ListEndOffsets(ctx, cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return res, fmt.Errorf("list end offsets: %w", err)
	}
	from := map[string]map[int32]kgo.Offset{cfg.Topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		from[cfg.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})

	prod, err := kgo.NewClient(producerOpts(&cfg, 0)...)
	if err != nil {
		return res, err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(append(baseOpts(&cfg),
		kgo.ConsumePartitions(from),
		kgo.FetchMaxWait(fetchMaxWait),
	)...)
	if err != nil {
		return res, err
	}
	defer cons.Close()
	// Connection, metadata and producer id before the clock starts. The
	// empty value is too short to carry a stamp; the consumer skips it.
	if err := prod.ProduceSync(ctx, &kgo.Record{}).FirstErr(); err != nil {
		return res, fmt.Errorf("warm-up produce: %w", err)
	}

	base := time.Now()
	stamp := func() uint64 { return uint64(time.Since(base)) }
	measureFrom := uint64(warmup)

	e2eHist, prodHist := NewHistogram(), NewHistogram()
	var (
		received, receivedMeasured, bytesMeasured atomic.Int64
		ferr                                      firstError
	)
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for pollCtx.Err() == nil {
			fs := cons.PollFetches(pollCtx)
			now := stamp()
			fs.EachError(func(t string, p int32, err error) {
				if pollCtx.Err() == nil {
					ferr.set(fmt.Errorf("fetch %s[%d]: %w", t, p, err))
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) < stampLen {
					return // the warm-up record
				}
				received.Add(1)
				sent := binary.BigEndian.Uint64(r.Value)
				if sent < measureFrom {
					return
				}
				e2eHist.Record(time.Duration(now - sent))
				receivedMeasured.Add(1)
				bytesMeasured.Add(int64(len(r.Key) + len(r.Value)))
			})
		}
	}()

	cfg.logf("e2e: %d rec/s for %s (+%s warm-up) on %s", cfg.Rate, cfg.Duration, warmup, cfg.Topic)
	payload := randomPayload(cfg.RecordSize)
	var (
		sent, sentMeasured, acked atomic.Int64
		failed                    atomic.Int64
		pending                   sync.WaitGroup
	)
	end := warmup + cfg.Duration
	interval := float64(time.Second) / float64(cfg.Rate)
	for ctx.Err() == nil {
		now := time.Since(base)
		if now >= end {
			break
		}
		due := int64(float64(now)/interval) + 1
		for sent.Load() < due && ctx.Err() == nil {
			v := make([]byte, len(payload))
			copy(v, payload)
			st := stamp()
			binary.BigEndian.PutUint64(v, st)
			measured := st >= measureFrom
			if measured {
				sentMeasured.Add(1)
			}
			sent.Add(1)
			pending.Add(1)
			t0 := time.Now()
			prod.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					ferr.set(fmt.Errorf("produce: %w", err))
				} else {
					acked.Add(1)
					if measured {
						prodHist.Record(time.Since(t0))
					}
				}
				pending.Done()
			})
		}
		next := time.Duration(float64(sent.Load()) * interval)
		if wait := next - time.Since(base); wait > 0 {
			time.Sleep(wait)
		}
	}
	pending.Wait()

	// Drain: every acknowledged record should reach the consumer.
	want := acked.Load()
	for received.Load() < want && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	stopPolling()
	<-consumerDone

	res.Elapsed = cfg.Duration
	res.Sent = sentMeasured.Load()
	res.Records = receivedMeasured.Load()
	res.Bytes = bytesMeasured.Load()
	res.Failed = failed.Load()
	res.Latency = e2eHist.Summary()
	res.ProduceLatency = prodHist.Summary()
	switch {
	case res.Failed > 0:
		res.Err = fmt.Errorf("%d produces failed, first: %w", res.Failed, ferr.err)
	case received.Load() < want:
		err := ctx.Err()
		if ferr.err != nil {
			err = ferr.err
		}
		res.Err = fmt.Errorf("%d of %d acknowledged records received: %w", received.Load(), want, err)
	}
	return res, res.Err
}
