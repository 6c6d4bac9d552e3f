package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The coordinators keep their state in internal topics (__consumer_offsets,
// __transaction_state). Each sees a partition it leads as a log it appends
// key/value records to and replays on load; these are the two halves,
// shared by groups.go and transactions.go.

// appendKeyValues writes records as one uncompressed batch on the leader
// path of the local replica r and waits until the high watermark passes it
// (acks=all, honouring min.insync.replicas), or until ctx's deadline, else
// the timeout.
func (b *Broker) appendKeyValues(ctx context.Context, r *replica, keys, values [][]byte, timeout time.Duration) error {
	_, epoch := r.state()
	if isr, minISR := r.isrState(); int32(isr) < minISR {
		return kerr.NotEnoughReplicas
	}
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
	return b.appendAndAwait(ctx, r, bb.Build(), storage.AppendOptions{AssignOffsets: true, LeaderEpoch: epoch})
}

// appendAndAwait appends batch to the local leader replica r and waits
// until its high watermark passes it. Errors are *kerr.Error values.
func (b *Broker) appendAndAwait(ctx context.Context, r *replica, batch []byte, opts storage.AppendOptions) error {
	r.appendMu.Lock()
	if leader, _ := r.state(); leader != b.id {
		r.appendMu.Unlock()
		return kerr.NotLeaderForPartition
	}
	res, err := r.log.Append(batch, opts)
	if err == nil {
		r.advanceHWLocked(b.id)
	}
	r.appendMu.Unlock()
	if err != nil {
		return err
	}
	var code int16
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := awaitHW(ctx, b.id, []hwWait{{r: r, need: res.LastOffset + 1, errCode: &code}}, deadline); err != nil {
		return kerr.RequestTimedOut
	}
	if code != 0 {
		return kerr.ErrorForCode(code)
	}
	return nil
}

// replayBatches hands every batch of the local replica r, from the log
// start to the log end, to fn, reading chunk bytes at a time. A new leader
// loads its whole log, not just up to its high watermark, as Kafka's
// coordinators do: a follower learns the HW one fetch late, so state the
// old leader acknowledged can lie above it, and everything in the new
// leader's log stays (followers truncate to it).
func replayBatches(ctx context.Context, r *replica, chunk int32, fn func(raw []byte, h *storage.BatchHeader) error) error {
	lg := r.log
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
				return fmt.Errorf("broker: replaying %s-%d at %d: bad batch", r.topic, r.index, next)
			}
			raw := data[:h.Size()]
			data = data[h.Size():]
			next = h.LastOffset() + 1
			if err := fn(raw, &h); err != nil {
				return fmt.Errorf("broker: replaying %s-%d: %w", r.topic, r.index, err)
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
