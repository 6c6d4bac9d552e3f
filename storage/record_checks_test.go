package storage

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// tsLog is a log "ts-3" at a fixed clock (nowMs) with cfg changed by mod.
func tsLog(t *testing.T, nowMs int64, mod func(*Config)) *Log {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	clock := &testClock{t: time.UnixMilli(nowMs)}
	m := openTestManager(t, t.TempDir(), clock.now)
	t.Cleanup(func() { m.Close() })
	l, err := m.GetOrCreate("ts", 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tsBatch builds a batch with one record per timestamp (keys present).
func tsBatch(codec int8, tss ...int64) []byte {
	b := BatchBuilder{Codec: codec}
	for _, ts := range tss {
		b.Add(ts, []byte("k"), []byte("v"))
	}
	return b.Build()
}

var allCodecs = []int8{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

func TestTimestampRangeRejectsBatch(t *testing.T) {
	const now = 1_700_000_000_000
	const hour = 3_600_000
	for _, codec := range allCodecs {
		l := tsLog(t, now, func(c *Config) {
			c.MessageTimestampBeforeMaxMs = hour
			c.MessageTimestampAfterMaxMs = hour
		})
		// Records 1 (too old) and 3 (too new) fail; the boundaries pass.
		_, err := l.Append(tsBatch(codec, now, now-2*hour, now-hour, now+2*hour, now+hour), leader)
		var re *RecordErrors
		if !errors.As(err, &re) || !errors.Is(err, kerr.InvalidTimestamp) {
			t.Fatalf("codec %d: got %v, want *RecordErrors wrapping INVALID_TIMESTAMP", codec, err)
		}
		want := []RecordError{
			{Index: 1, Message: "Timestamp 1699992800000 of message with offset 1 is out of range. The timestamp should be within [1699996400000, 1700003600000]"},
			{Index: 3, Message: "Timestamp 1700007200000 of message with offset 3 is out of range. The timestamp should be within [1699996400000, 1700003600000]"},
		}
		if !reflect.DeepEqual(re.Records, want) {
			t.Fatalf("codec %d: record errors\n got %+v\nwant %+v", codec, re.Records, want)
		}
		if got := err.Error(); got != "One or more records have been rejected due to invalid timestamp" {
			t.Fatalf("message %q", got)
		}
		if l.LogEndOffset() != 0 || l.Size() != 0 {
			t.Fatalf("codec %d: a rejected batch wrote something", codec)
		}
		// One past each boundary fails; the boundaries themselves pass.
		for _, ts := range []int64{now - hour - 1, now + hour + 1} {
			if _, err := l.Append(tsBatch(codec, ts), leader); !errors.Is(err, kerr.InvalidTimestamp) {
				t.Fatalf("codec %d ts %d: %v", codec, ts, err)
			}
		}
		if _, err := l.Append(tsBatch(codec, now-hour, now, now+hour), leader); err != nil {
			t.Fatalf("codec %d: valid batch: %v", codec, err)
		}
		if l.LogEndOffset() != 3 {
			t.Fatalf("codec %d: LEO %d", codec, l.LogEndOffset())
		}
	}
}

func TestTimestampDefaultsAreKafka4s(t *testing.T) {
	const now = 1_700_000_000_000
	l := tsLog(t, now, nil)
	// before.max.ms is unbounded: the epoch itself is fine.
	if _, err := l.Append(tsBatch(CodecNone, 0, 1), leader); err != nil {
		t.Fatal(err)
	}
	// after.max.ms is one hour (KIP-1030).
	if _, err := l.Append(tsBatch(CodecNone, now+3_600_000), leader); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(tsBatch(CodecZstd, now+3_600_001), leader)
	var re *RecordErrors
	if !errors.As(err, &re) || len(re.Records) != 1 {
		t.Fatalf("got %v", err)
	}
	// With both sides unbounded (math.MaxInt64, Kafka's before default),
	// the message still prints Kafka's wrapped range.
	l2 := tsLog(t, now, func(c *Config) { c.MessageTimestampAfterMaxMs = 0 })
	_, err = l2.Append(tsBatch(CodecNone, now+1), leader)
	if !errors.As(err, &re) || re.Records[0].Message != "Timestamp 1700000000001 of message with offset 0 is out of range. The timestamp should be within [-9223370336854775807, 1700000000000]" {
		t.Fatalf("got %v %+v", err, re)
	}
}

func TestTimestampChecksSkipped(t *testing.T) {
	const now = 1_700_000_000_000
	strict := func(c *Config) { c.MessageTimestampBeforeMaxMs, c.MessageTimestampAfterMaxMs = 0, 0 }

	// LogAppendTime topics overwrite timestamps and skip the range.
	l := tsLog(t, now, func(c *Config) { strict(c); c.MessageTimestampType = "LogAppendTime" })
	if _, err := l.Append(tsBatch(CodecGzip, 5, now+1e9), leader); err != nil {
		t.Fatal(err)
	}
	// A record without a timestamp (-1) is not range checked.
	l = tsLog(t, now, strict)
	if _, err := l.Append(tsBatch(CodecNone, noTimestamp, now), leader); err != nil {
		t.Fatal(err)
	}
	// Replication appends what the leader accepted.
	rep := tsBatch(CodecNone, 1)
	if _, err := l.Append(rep, AppendOptions{}); err == nil {
		// (offset 0 is below the LEO: any error but a timestamp one)
		t.Fatal("replicated batch below the log end accepted")
	} else if errors.Is(err, kerr.InvalidTimestamp) {
		t.Fatalf("replication path checked timestamps: %v", err)
	}
}

func TestClientMayNotSetLogAppendTime(t *testing.T) {
	const now = 1_700_000_000_000
	b := BatchBuilder{LogAppendTime: true}
	b.Add(now, []byte("k"), []byte("v"))
	b.Add(now, []byte("k"), []byte("v"))
	lat := b.Build()

	l := tsLog(t, now, func(c *Config) { c.MessageTimestampType = "LogAppendTime" })
	_, err := l.Append(lat, leader)
	var re *RecordErrors
	if !errors.As(err, &re) || re.Err != kerr.InvalidTimestamp || len(re.Records) != 2 {
		t.Fatalf("got %v", err)
	}
	if want := "Invalid timestamp type in message DefaultRecord(offset=1, timestamp=1700000000000, key=1 bytes, value=1 bytes). Producer should not set timestamp type to LogAppendTime."; re.Records[1].Message != want {
		t.Fatalf("message %q", re.Records[1].Message)
	}
	// Under CreateTime the batch's timestamp is range checked instead.
	l = tsLog(t, now, nil)
	if _, err := l.Append(lat, leader); err != nil {
		t.Fatal(err)
	}
}

func TestCompactedKeylessRecordErrors(t *testing.T) {
	const now = 1_700_000_000_000
	for _, codec := range allCodecs {
		l := tsLog(t, now, func(c *Config) { c.CleanupPolicy = "compact"; c.MessageTimestampAfterMaxMs = 0 })
		b := BatchBuilder{Codec: codec}
		b.Add(now, []byte("k"), []byte("v"))
		b.Add(now, nil, []byte("v"))
		b.Add(now+5, nil, []byte("v")) // keyless and too new: the key error wins
		b.Add(now, nil, nil)
		b.Add(now, nil, []byte("v"))
		_, err := l.Append(b.Build(), leader)
		var re *RecordErrors
		if !errors.As(err, &re) || !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("codec %d: %v", codec, err)
		}
		msg := "Compacted topic cannot accept message without key in topic partition ts-3"
		if len(re.Records) != 4 || re.Records[0] != (RecordError{1, msg}) || re.Records[3].Index != 4 {
			t.Fatalf("codec %d: %+v", codec, re.Records)
		}
		want := "One or more records have been rejected due to 4 record errors in total, and only showing the first three errors at most: [" +
			"RecordError(batchIndex=1, message='" + msg + "'), RecordError(batchIndex=2, message='" + msg + "'), RecordError(batchIndex=3, message='" + msg + "')]"
		if err.Error() != want {
			t.Fatalf("message\n got %s\nwant %s", err.Error(), want)
		}
		// A timestamp failure anywhere makes the batch INVALID_TIMESTAMP.
		b.Reset()
		b.Add(now, nil, []byte("v"))
		b.Add(now+5, []byte("k"), []byte("v"))
		if _, err := l.Append(b.Build(), leader); !errors.As(err, &re) || re.Err != kerr.InvalidTimestamp || len(re.Records) != 2 {
			t.Fatalf("codec %d: mixed: %v", codec, err)
		}
		if l.LogEndOffset() != 0 {
			t.Fatalf("codec %d: rejected batches were written", codec)
		}
	}
}

func TestLaterBadBatchRejectsWholeAppend(t *testing.T) {
	const now = 1_700_000_000_000
	l := tsLog(t, now, nil)
	two := append(tsBatch(CodecNone, now), tsBatch(CodecNone, now, now+1e8)...)
	_, err := l.Append(two, leader)
	var re *RecordErrors
	if !errors.As(err, &re) || len(re.Records) != 1 || re.Records[0].Index != 1 {
		t.Fatalf("got %v", err)
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatal("first batch of a rejected append was written")
	}
}

func TestNeedRecordsOnlyWhenACheckCanFail(t *testing.T) {
	var h BatchHeader
	unbounded := &recordChecks{timestamps: true, createTime: true, beforeMaxMs: math.MaxInt64, afterMaxMs: math.MaxInt64}
	if unbounded.needRecords(&h) {
		t.Fatal("unbounded CreateTime checks need no decompression")
	}
	if !(&recordChecks{timestamps: true, createTime: true, beforeMaxMs: math.MaxInt64, afterMaxMs: 3_600_000}).needRecords(&h) {
		t.Fatal("a finite after.max.ms must read the records")
	}
	if (&recordChecks{timestamps: true, beforeMaxMs: 0, afterMaxMs: 0}).needRecords(&h) {
		t.Fatal("LogAppendTime topics need not read CreateTime batches")
	}
	h.Attributes = attrTimestampType
	if !unbounded.needRecords(&h) {
		t.Fatal("a client LogAppendTime batch is always rejected record by record")
	}
}
