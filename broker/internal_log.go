package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/replica"
	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// The coordinators keep their state in internal topics (__consumer_offsets,
// __transaction_state). Each sees a partition it leads as a log it appends
// key/value records to and replays on load; these are the two halves,
// shared by groups.go and transactions.go, with the creation of the topic
// on first use. Which partitions to load and unload is
// replica.Manager.LeadershipChanges; every append is
// replica.Partition.AppendAsLeader.

// appendKeyValues writes records as one uncompressed batch on the leader
// path of the local replica r and waits until the high watermark passes it
// (acks=all, honouring min.insync.replicas), or until ctx's deadline, else
// the timeout.
func appendKeyValues(ctx context.Context, r *replica.Partition, keys, values [][]byte, timeout time.Duration) error {
	var bb storage.BatchBuilder
	now := time.Now().UnixMilli()
	for i := range keys {
		bb.Add(now, keys[i], values[i])
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return appendAndAwait(ctx, r, bb.Build(), replica.LeaderAppend{CheckMinISR: true})
}

// appendAndAwait appends batch on the leader path of the local replica r
// and waits until its high watermark passes it (HWWait.Await). Errors are
// *kerr.Error values.
func appendAndAwait(ctx context.Context, r *replica.Partition, batch []byte, o replica.LeaderAppend) error {
	_, w, err := r.AppendAsLeader(batch, o)
	if err != nil {
		return err
	}
	return w.Await(ctx)
}

// replayBatches hands every batch of the local replica r, from the log
// start to the log end, to fn, reading chunk bytes at a time. A new leader
// loads its whole log, not just up to its high watermark, as Kafka's
// coordinators do: a follower learns the HW one fetch late, so state the
// old leader acknowledged can lie above it, and everything in the new
// leader's log stays (followers truncate to it).
func replayBatches(ctx context.Context, r *replica.Partition, chunk int32, fn func(raw []byte, h *storage.BatchHeader) error) error {
	lg := r.Log()
	end := lg.LogEndOffset()
	next := lg.LogStartOffset()
	var buf bytes.Buffer
	for next < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := lg.Read(next, end, chunk, true)
		if err != nil {
			if errors.Is(err, kerr.OffsetOutOfRange) && next < lg.LogStartOffset() {
				next = lg.LogStartOffset() // retention or compaction moved the start
				continue
			}
			return err
		}
		buf.Reset()
		_, err = res.WriteTo(&buf)
		res.Release()
		if err != nil {
			return err
		}
		if buf.Len() == 0 {
			return nil
		}
		data := buf.Bytes()
		for len(data) > 0 {
			h, err := storage.ParseBatchHeader(data)
			if err != nil || h.Size() > int64(len(data)) {
				return fmt.Errorf("broker: replaying %s-%d at %d: bad batch", r.Topic(), r.Index(), next)
			}
			raw := data[:h.Size()]
			data = data[h.Size():]
			next = h.LastOffset() + 1
			if err := fn(raw, &h); err != nil {
				return fmt.Errorf("broker: replaying %s-%d: %w", r.Topic(), r.Index(), err)
			}
		}
	}
	return nil
}

// eachBatchRecord decodes the records of one RecordBatch v2.
func eachBatchRecord(raw []byte, dec kgo.Decompressor, fn func(*kmsg.Record) error) error {
	var batch kmsg.RecordBatch
	if err := batch.ReadFrom(raw); err != nil {
		return err
	}
	recs := batch.Records
	if codec := byte(batch.Attributes & 0x07); codec != 0 {
		var err error
		if recs, err = dec.Decompress(recs, kgo.CompressionCodecType(codec)); err != nil {
			return err
		}
	}
	for i := int32(0); i < batch.NumRecords; i++ {
		n, w := binary.Varint(recs)
		if w <= 0 || n < 0 || int64(len(recs)-w) < n {
			return errors.New("malformed record")
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(recs[:w+int(n)]); err != nil {
			return err
		}
		recs = recs[w+int(n):]
		if err := fn(&rec); err != nil {
			return err
		}
	}
	return nil
}

// ensureInternalTopic creates an internal topic once, under mu, unless it
// exists: spec builds its TopicSpec from the current snapshot (or refuses,
// say for too few brokers). Once the broker's metadata shows the topic,
// the local logs are opened and loaded runs (the coordinator takes the
// partitions it leads).
func (b *Broker) ensureInternalTopic(ctx context.Context, mu *sync.Mutex, name string, spec func(*controller.Snapshot) (controller.TopicSpec, error), loaded func(*controller.Snapshot), lg *zap.Logger) error {
	if b.ctrl.Snapshot().Topics[name] != nil {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	snap := b.ctrl.Snapshot()
	if snap.Topics[name] != nil {
		return nil
	}
	ts, err := spec(snap)
	if err != nil {
		return err
	}
	_, rev, err := b.ctrl.CreateTopic(ctx, ts, false)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	if rev > 0 {
		if err := b.ctrl.WaitRevision(ctx, rev); err != nil {
			return err
		}
		b.replicas.Apply(b.ctrl.Snapshot())
		loaded(b.ctrl.Snapshot())
		lg.Info("created "+name, zap.Int32("partitions", ts.NumPartitions), zap.Int16("replication_factor", ts.ReplicationFactor))
	}
	return nil
}
