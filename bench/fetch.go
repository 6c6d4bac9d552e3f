package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch reads the topic like Consume, with the consumer's request sizes
// (50 MiB per response, 1 MiB per partition, one request in flight per
// leader), but sends kmsg Fetch requests itself and does not decode
// records: it walks each response's record batches by their v2 headers,
// checks every batch's CRC-32C and counts its records. It measures what
// the brokers deliver when the client costs little per record, as a
// follower's or a mirror's raw fetch does; consume measures the same
// brokers behind franz-go's full record decoding, which on a small machine
// is the larger share of the CPU.
//
// Bytes counts record-batch bytes as they arrived (headers included), so
// its MB/s is a little above consume's value-only figure.
func Fetch(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Mode: ModeFetch}
	if err := cfg.validate(ModeFetch); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	cl, adm, err := newAdmin(&cfg)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	tds, err := adm.ListTopics(ctx, cfg.Topic)
	if err != nil {
		return res, fmt.Errorf("metadata: %w", err)
	}
	td, ok := tds[cfg.Topic]
	if !ok || td.Err != nil {
		return res, fmt.Errorf("topic %s: %v", cfg.Topic, td.Err)
	}
	starts, ends, avail, err := offsetRange(ctx, adm, cfg.Topic)
	if err != nil {
		return res, err
	}

	// One fetcher per leader, each owning its partitions' positions.
	byLeader := map[int32][]*rawPosition{}
	for _, p := range td.Partitions.Sorted() {
		s, _ := starts.Lookup(cfg.Topic, p.Partition)
		e, _ := ends.Lookup(cfg.Topic, p.Partition)
		if e.Offset > s.Offset {
			byLeader[p.Leader] = append(byLeader[p.Leader], &rawPosition{partition: p.Partition, offset: s.Offset, end: e.Offset})
		}
	}
	target := min(int64(cfg.Records), avail)

	var (
		records, bytes atomic.Int64
		ferr           firstError
		wg             sync.WaitGroup
	)
	fetchCtx, stop := context.WithCancel(ctx)
	defer stop()
	cfg.logf("fetching %d records from %s (raw batches, no record decoding)", target, cfg.Topic)
	cpu := startCPU(&cfg)
	start := time.Now()
	for leader, positions := range byLeader {
		br := cl.Broker(int(leader))
		wg.Go(func() {
			f := rawFetcher{topic: cfg.Topic, topicID: td.ID, positions: positions}
			for fetchCtx.Err() == nil && f.remaining() {
				n, b, err := f.fetchOnce(fetchCtx, br)
				if err != nil {
					if fetchCtx.Err() == nil {
						ferr.set(err)
						stop()
					}
					return
				}
				if records.Add(n) >= target {
					stop()
				}
				bytes.Add(b)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	cpu.stop(&res)
	res.Records = min(records.Load(), target)
	res.Bytes = bytes.Load()
	if res.Records < target {
		err := ctx.Err()
		if ferr.err != nil {
			err = ferr.err
		}
		res.Err = fmt.Errorf("%d of %d records received: %w", res.Records, target, err)
	}
	return res, res.Err
}

// rawPosition is one partition's next offset and the end it reads to.
type rawPosition struct {
	partition int32
	offset    int64
	end       int64
}

// rawFetcher sends full (sessionless) Fetch requests for its partitions to
// one broker.
type rawFetcher struct {
	topic     string
	topicID   [16]byte
	positions []*rawPosition
}

func (f *rawFetcher) remaining() bool {
	for _, p := range f.positions {
		if p.offset < p.end {
			return true
		}
	}
	return false
}

// The consumer's defaults (franz-go and the Java client): 50 MiB per
// response, 1 MiB per partition, 500 ms long poll.
const (
	rawFetchMaxBytes          = 50 << 20
	rawFetchPartitionMaxBytes = 1 << 20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

func (f *rawFetcher) fetchOnce(ctx context.Context, br *kgo.Broker) (records, bytes int64, err error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(fetchMaxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = rawFetchMaxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = f.topic
	rt.TopicID = f.topicID
	byPartition := map[int32]*rawPosition{}
	for _, p := range f.positions {
		if p.offset >= p.end {
			continue
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.partition
		rp.FetchOffset = p.offset
		rp.PartitionMaxBytes = rawFetchPartitionMaxBytes
		rp.CurrentLeaderEpoch = -1
		rp.LogStartOffset = -1
		rt.Partitions = append(rt.Partitions, rp)
		byPartition[p.partition] = p
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, br)
	if err != nil {
		return 0, 0, fmt.Errorf("fetch: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, 0, fmt.Errorf("fetch: %w", err)
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			p := byPartition[rp.Partition]
			if p == nil {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return records, bytes, fmt.Errorf("fetch %s[%d]: %w", f.topic, rp.Partition, err)
			}
			n, b, next, err := walkBatches(rp.RecordBatches, p.offset)
			if err != nil {
				return records, bytes, fmt.Errorf("fetch %s[%d] at %d: %w", f.topic, rp.Partition, p.offset, err)
			}
			records += n
			bytes += b
			p.offset = next
		}
	}
	return records, bytes, nil
}

// walkBatches counts the records of the whole v2 batches in raw, checking
// each CRC, and returns the offset after the last one. Records below from
// (a batch that starts before the fetch offset) are not counted; a partial
// batch at the end, which a broker may send when a batch straddles the byte
// limit, is left for the next fetch.
func walkBatches(raw []byte, from int64) (records, bytes, next int64, err error) {
	const headerLen = 61 // through the record count
	next = from
	for len(raw) >= headerLen {
		baseOffset := int64(binary.BigEndian.Uint64(raw[0:]))
		size := 12 + int(int32(binary.BigEndian.Uint32(raw[8:])))
		if size < headerLen {
			return records, bytes, next, errors.New("batch length below the v2 header")
		}
		if size > len(raw) {
			break
		}
		batch := raw[:size]
		if magic := batch[16]; magic != 2 {
			return records, bytes, next, fmt.Errorf("magic %d, want 2", magic)
		}
		if want, got := binary.BigEndian.Uint32(batch[17:]), crc32.Checksum(batch[21:], crc32c); want != got {
			return records, bytes, next, fmt.Errorf("batch at offset %d: CRC %08x, computed %08x", baseOffset, want, got)
		}
		lastDelta := int64(int32(binary.BigEndian.Uint32(batch[23:])))
		count := int64(int32(binary.BigEndian.Uint32(batch[57:])))
		last := baseOffset + lastDelta
		if last >= from {
			skipped := max(0, from-baseOffset)
			records += max(0, count-skipped)
			bytes += int64(size)
			next = last + 1
		}
		raw = raw[size:]
	}
	return records, bytes, next, nil
}
