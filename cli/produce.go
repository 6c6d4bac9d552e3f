package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceOpts are produce's flags beyond the globals.
type produceOpts struct {
	keyDelim    string
	headers     []kgo.RecordHeader
	partition   int32
	acks        string
	compression string
}

// parseHeaders reads -H k=v items; repeats and empty values are kept, as
// Kafka headers allow both.
func parseHeaders(items []string) ([]kgo.RecordHeader, error) {
	var hs []kgo.RecordHeader
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || k == "" {
			return nil, usagef("-H %q: want key=value", it)
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return hs, nil
}

// producerOpts maps --acks and --compression to franz-go options. Acks
// other than all need idempotence off: Kafka requires acks=all for an
// idempotent producer.
func producerOpts(acks, compression string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch strings.ToLower(acks) {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, usagef("--acks %q: want all, 1 or 0", acks)
	}
	var c kgo.CompressionCodec
	switch strings.ToLower(compression) {
	case "none", "":
		c = kgo.NoCompression()
	case "gzip":
		c = kgo.GzipCompression()
	case "snappy":
		c = kgo.SnappyCompression()
	case "lz4":
		c = kgo.Lz4Compression()
	case "zstd":
		c = kgo.ZstdCompression()
	default:
		return nil, usagef("--compression %q: want none, gzip, snappy, lz4 or zstd", compression)
	}
	return append(opts, kgo.ProducerBatchCompression(c)), nil
}

// lineRecord makes a record of one input line (without its newline): with
// a key delimiter, the text before its first occurrence is the key. A line
// without the delimiter is a value with no key.
func lineRecord(topic, line string, o *produceOpts) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: []byte(line), Partition: o.partition}
	if o.keyDelim != "" {
		if k, v, ok := strings.Cut(line, o.keyDelim); ok {
			r.Key, r.Value = []byte(k), []byte(v)
		}
	}
	if len(o.headers) > 0 {
		r.Headers = append([]kgo.RecordHeader(nil), o.headers...)
	}
	return r
}

type producedRecord struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Timestamp int64  `json:"timestamp"`
	Error     string `json:"error,omitempty"`
}

// produce sends each line of stdin as a record and reports, per record,
// where it landed: a line of text, or with --format json one JSON object per
// line (JSON Lines, so a script can read the report as it streams).
func produce(e *env, args []string) error {
	fs := e.flags()
	o := produceOpts{}
	fs.StringVar(&o.keyDelim, "key-delim", "", "split each line at the first DELIM into key and value (default: no key)")
	var headers stringList
	fs.Var(&headers, "H", "header key=value on every record (repeatable)")
	partition := fs.Int("p", -1, "partition (default: the key's hash, or sticky without a key)")
	fs.StringVar(&o.acks, "acks", "all", "all, 1 or 0")
	fs.StringVar(&o.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	quiet := fs.Bool("q", false, "no per-record report, only errors")
	pos, err := e.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	topic := pos[0]
	o.partition = int32(*partition)
	if o.headers, err = parseHeaders(headers); err != nil {
		return err
	}
	popts, err := producerOpts(o.acks, o.compression)
	if err != nil {
		return err
	}
	popts = append(popts, kgo.RecordDeliveryTimeout(e.g.timeout))
	// A missing topic would fail each record only after --timeout.
	parts, err := e.topicPartitions([]string{topic})
	if err != nil {
		return err
	}
	if o.partition >= 0 {
		if !slices.Contains(parts[topic], o.partition) {
			return fmt.Errorf("topic %s has no partition %d (it has %d)", topic, o.partition, len(parts[topic]))
		}
		popts = append(popts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := e.client(popts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	var (
		mu     sync.Mutex
		out    = bufio.NewWriter(e.io.Stdout)
		nFail  int
		nTotal int
	)
	report := func(r *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		pr := producedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Error: errText(err, "")}
		if err != nil {
			nFail++
			fmt.Fprintf(e.io.Stderr, "runnel: record %q: %v\n", r.Value, err)
		}
		switch {
		case *quiet:
		case e.jsonOut():
			b, _ := json.Marshal(pr)
			out.Write(append(b, '\n'))
		case err == nil:
			fmt.Fprintf(out, "produced to %s partition %d at offset %d\n", r.Topic, r.Partition, r.Offset)
		}
	}

	in := bufio.NewReader(e.io.Stdin)
	for {
		line, rerr := in.ReadString('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return fmt.Errorf("reading stdin: %w", rerr)
		}
		if line != "" {
			line = strings.TrimSuffix(line, "\n")
			nTotal++
			cl.Produce(e.ctx, lineRecord(topic, line, &o), report)
		}
		if rerr != nil || e.ctx.Err() != nil {
			break
		}
	}
	// Flush waits for every callback; a record never stays undelivered
	// past --timeout.
	ferr := cl.Flush(context.WithoutCancel(e.ctx))
	mu.Lock()
	defer mu.Unlock()
	out.Flush()
	if ferr != nil {
		return ferr
	}
	return failed(nFail, nTotal, "records")
}
