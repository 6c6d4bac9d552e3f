package storage

import (
	"fmt"
	"math"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Per-record checks of the leader path, as Kafka's LogValidator makes them
// on a client's (or a coordinator's) batch before anything is written:
//
//   - on a compacted topic every record needs a key (INVALID_RECORD);
//   - under message.timestamp.type=CreateTime every record's timestamp
//     (firstTimestamp + timestampDelta; -1 means "none" and is not checked)
//     must lie within [now - message.timestamp.before.max.ms,
//     now + message.timestamp.after.max.ms] of the broker's clock (KIP-937,
//     INVALID_TIMESTAMP);
//   - a producer may not mark its batch LogAppendTime (INVALID_TIMESTAMP),
//     unless the topic is CreateTime and the batch's timestamp passes the
//     range check (a LogAppendTime batch's records all carry its
//     maxTimestamp).
//
// Every record of the batch is checked, compressed batches included (they
// are decompressed for it, as Kafka does), and all offending records are
// reported, each by its index within its batch. One offending record
// rejects the whole Append. LogAppendTime topics skip the range check: the
// leader overwrites the timestamps anyway.

// noTimestamp is a record timestamp meaning "none" (RecordBatch.NO_TIMESTAMP).
const noTimestamp = -1

// RecordError is one record a batch was rejected for: its index within the
// batch and why. It is a Produce v8+ response's RecordErrors entry (kmsg's
// ErrorRecords: RelativeOffset, ErrorMessage).
type RecordError struct {
	Index   int32
	Message string
}

// RecordErrors rejects a batch because of some of its records (Kafka's
// RecordValidationException). Err is kerr.InvalidTimestamp when any
// record's timestamp failed, else kerr.InvalidRecord; errors.Is and
// errors.As see it. Error() is the partition-level message Kafka sends.
type RecordErrors struct {
	Err     *kerr.Error
	Records []RecordError
}

func (e *RecordErrors) Unwrap() error { return e.Err }

func (e *RecordErrors) Error() string {
	if e.Err == kerr.InvalidTimestamp {
		return "One or more records have been rejected due to invalid timestamp"
	}
	// Kafka lists at most three, in its RecordError(...) notation.
	shown := e.Records[:min(len(e.Records), 3)]
	parts := make([]string, len(shown))
	for i, r := range shown {
		parts[i] = fmt.Sprintf("RecordError(batchIndex=%d, message='%s')", r.Index, r.Message)
	}
	return fmt.Sprintf("One or more records have been rejected due to %d record errors in total, and only showing the first three errors at most: [%s]",
		len(e.Records), strings.Join(parts, ", "))
}

// recordChecks configures the per-record checks of one Append.
type recordChecks struct {
	topic       string // with partition, named in messages as Kafka does ("topic-N")
	partition   int32
	requireKeys bool  // compacted topic
	timestamps  bool  // check timestamps at all (leader path)
	createTime  bool  // message.timestamp.type=CreateTime: range check
	now         int64 // the broker's clock, ms
	beforeMaxMs int64
	afterMaxMs  int64
	codecs      *decompressors // the log's (nil: one-off readers)
}

func (c *recordChecks) decompressors() *decompressors {
	if c == nil {
		return nil
	}
	return c.codecs
}

// leaderRecordChecks are the checks of a leader-path Append at now.
func (l *Log) leaderRecordChecks(cfg Config, opts AppendOptions, now int64) *recordChecks {
	return &recordChecks{
		topic:       l.topic,
		partition:   l.partition,
		requireKeys: cfg.compacted() && !opts.AllowControl,
		timestamps:  true,
		createTime:  !cfg.logAppendTime(),
		now:         now,
		beforeMaxMs: cfg.MessageTimestampBeforeMaxMs,
		afterMaxMs:  cfg.MessageTimestampAfterMaxMs,
		codecs:      l.codecs,
	}
}

// needRecords reports whether a batch's records must be read to check it;
// for a compressed batch that means decompressing it. Timestamps need it
// unless both bounds are infinite (no int64 difference exceeds MaxInt64).
func (c *recordChecks) needRecords(h *BatchHeader) bool {
	if c == nil {
		return false
	}
	if c.requireKeys {
		return true
	}
	if !c.timestamps {
		return false
	}
	if h.LogAppendTime() {
		return true
	}
	return c.createTime && (c.beforeMaxMs != math.MaxInt64 || c.afterMaxMs != math.MaxInt64)
}

// check returns the error of record r, the index-th of the batch h, if any:
// at most one per record, the key's before the timestamp's (as Kafka).
func (c *recordChecks) check(h *BatchHeader, r *Record, index int32) (RecordError, *kerr.Error, bool) {
	if c.requireKeys && r.Key == nil && !h.IsControl() {
		return RecordError{Index: index, Message: fmt.Sprintf("Compacted topic cannot accept message without key in topic partition %s-%d", c.topic, c.partition)}, kerr.InvalidRecord, true
	}
	if !c.timestamps {
		return RecordError{}, nil, false
	}
	ts := h.BaseTimestamp + r.TimestampDelta
	if h.LogAppendTime() {
		ts = h.MaxTimestamp
	}
	// The offset Kafka names is the record's offset as sent, before the
	// leader assigns real ones: the client's baseOffset (usually 0) plus
	// the record's offset delta.
	offset := h.BaseOffset + int64(r.OffsetDelta)
	if c.createTime && ts != noTimestamp {
		// Wrapping int64 arithmetic, as Java's longs: a bound of
		// MaxInt64 can never be exceeded, and the range printed with it
		// wraps exactly as Kafka prints it.
		diff := c.now - ts
		if diff > c.beforeMaxMs || -diff > c.afterMaxMs {
			return RecordError{Index: index, Message: fmt.Sprintf(
				"Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
				ts, offset, c.now-c.beforeMaxMs, c.now+c.afterMaxMs)}, kerr.InvalidTimestamp, true
		}
	} else if h.LogAppendTime() {
		return RecordError{Index: index, Message: fmt.Sprintf(
			"Invalid timestamp type in message DefaultRecord(offset=%d, timestamp=%d, key=%d bytes, value=%d bytes). Producer should not set timestamp type to LogAppendTime.",
			offset, ts, len(r.Key), len(r.Value))}, kerr.InvalidTimestamp, true
	}
	return RecordError{}, nil, false
}

// recordErrorCollector gathers the record errors of one batch.
type recordErrorCollector struct {
	errs      []RecordError
	timestamp bool // some error is INVALID_TIMESTAMP
}

func (rc *recordErrorCollector) add(e RecordError, code *kerr.Error) {
	rc.errs = append(rc.errs, e)
	if code == kerr.InvalidTimestamp {
		rc.timestamp = true
	}
}

// err is the batch's rejection, or nil if no record failed.
func (rc *recordErrorCollector) err() error {
	if len(rc.errs) == 0 {
		return nil
	}
	code := kerr.InvalidRecord
	if rc.timestamp {
		code = kerr.InvalidTimestamp
	}
	return &RecordErrors{Err: code, Records: rc.errs}
}
