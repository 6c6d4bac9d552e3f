package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// parseOffset reads -o: start, end, N (that offset), -N (N before the end)
// or @MS (the first record at or after Unix millisecond MS).
func parseOffset(s string) (kgo.Offset, error) {
	switch s {
	case "start", "beginning", "oldest":
		return kgo.NewOffset().AtStart(), nil
	case "end", "newest":
		return kgo.NewOffset().AtEnd(), nil
	}
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		v, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || v < 0 {
			return kgo.Offset{}, usagef("-o %q: want @ and Unix milliseconds", s)
		}
		return kgo.NewOffset().AfterMilli(v), nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return kgo.Offset{}, usagef("-o %q: want start, end, N, -N or @MS", s)
	}
	if v < 0 {
		return kgo.NewOffset().AtEnd().Relative(v), nil
	}
	return kgo.NewOffset().At(v), nil
}

// recordFormat renders consumed records: a template or JSON Lines.
type recordFormat struct {
	json bool
	// tmpl is the template with escapes already turned into bytes; verbs
	// stay as %x pairs.
	tmpl string
}

// templateVerbs are the % verbs a consume template takes (kcat's letters):
// topic, partition, offset, key, value, timestamp (Unix ms), headers
// (k=v,k=v), key and value length.
const templateVerbs = "tpokvThKV%"

// parseRecordFormat reads consume's --format: "text" is "%v", "json" is one
// JSON object per record, anything else a template with % verbs and the
// escapes \n \t \\. A template that does not end in a newline gets one, so
// records never run together.
func parseRecordFormat(s string) (recordFormat, error) {
	switch s {
	case "json":
		return recordFormat{json: true}, nil
	case "text", "":
		s = "%v"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\':
				b.WriteByte('\\')
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
		case c == '%':
			if i+1 >= len(s) || !strings.ContainsRune(templateVerbs, rune(s[i+1])) {
				return recordFormat{}, usagef("--format %q: %% takes one of %s", s, templateVerbs)
			}
			b.WriteByte('%')
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	t := b.String()
	if !strings.HasSuffix(t, "\n") {
		t += "\n"
	}
	return recordFormat{tmpl: t}, nil
}

type consumedHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// consumedRecord is consume's JSON line. Key and value are the bytes as a
// string (JSON replaces invalid UTF-8 with U+FFFD); key is null for a
// record without a key.
type consumedRecord struct {
	Topic     string           `json:"topic"`
	Partition int32            `json:"partition"`
	Offset    int64            `json:"offset"`
	Timestamp int64            `json:"timestamp"`
	Key       *string          `json:"key"`
	Value     string           `json:"value"`
	Headers   []consumedHeader `json:"headers"`
}

// append renders r onto dst.
func (f recordFormat) append(dst []byte, r *kgo.Record) []byte {
	if f.json {
		cr := consumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
			Value: string(r.Value), Headers: []consumedHeader{}}
		if r.Key != nil {
			k := string(r.Key)
			cr.Key = &k
		}
		for _, h := range r.Headers {
			cr.Headers = append(cr.Headers, consumedHeader{Key: h.Key, Value: string(h.Value)})
		}
		b, _ := json.Marshal(cr)
		return append(append(dst, b...), '\n')
	}
	t := f.tmpl
	for i := 0; i < len(t); i++ {
		if t[i] != '%' {
			dst = append(dst, t[i])
			continue
		}
		i++
		switch t[i] {
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 'v':
			dst = append(dst, r.Value...)
		case 'T':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		case 'h':
			for j, h := range r.Headers {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(append(append(dst, h.Key...), '='), h.Value...)
			}
		case 'K':
			dst = strconv.AppendInt(dst, int64(len(r.Key)), 10)
		case 'V':
			dst = strconv.AppendInt(dst, int64(len(r.Value)), 10)
		case '%':
			dst = append(dst, '%')
		}
	}
	return dst
}

// consume prints records of the topics until -n records were printed or
// the context ends (SIGINT), which is a normal end: exit 0.
func consume(e *env, args []string) error {
	fs := e.flags()
	fs.Lookup("format").Usage = "text (the value), json (one object per record and line), or a template of %t topic, %p partition, %o offset, %k key, %v value, %T timestamp ms, %h headers, %K/%V key/value length, \\n, \\t"
	offset := fs.String("o", "start", "where to start: start, end, N, -N (N before the end) or @MS (Unix ms); with --group, only where the group has no commit")
	count := fs.Int("n", 0, "stop after this many records (0: until interrupted)")
	partitions := fs.String("p", "", "only these partitions, comma separated (not with --group)")
	exitAtEnd := fs.Bool("e", false, "exit once every partition was read up to the end offset it had at start (not with --group; waits for open transactions)")
	group := fs.String("group", "", "consume as this consumer group and commit what was printed")
	groupProtocol := fs.String("group-protocol", "classic", "classic, or consumer (KIP-848: the broker assigns partitions)")
	topics, err := e.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	// Only consume's --format takes a template (see globals.check).
	rf, err := parseRecordFormat(e.g.format)
	if err != nil {
		return err
	}
	off, err := parseOffset(*offset)
	if err != nil {
		return err
	}
	if *count < 0 {
		return usagef("-n must be ≥ 0")
	}
	opts := []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted())}
	switch *groupProtocol {
	case "classic":
	case "consumer":
		if *group != "" {
			opts = append(opts, kgo.ServerSideBalancer())
		}
	default:
		return usagef("--group-protocol %q: want classic or consumer", *groupProtocol)
	}
	switch {
	case *partitions != "" && *group != "":
		return usagef("-p and --group do not go together: a group's partitions are assigned")
	case *exitAtEnd && *group != "":
		return usagef("-e and --group do not go together: a group's partitions change under it")
	case *partitions != "":
		ps, err := parsePartitions(*partitions)
		if err != nil {
			return usagef("-p: %v", err)
		}
		m := make(map[string]map[int32]kgo.Offset, len(topics))
		for _, t := range topics {
			m[t] = make(map[int32]kgo.Offset, len(ps))
			for _, p := range ps {
				m[t][p] = off
			}
		}
		opts = append(opts, kgo.ConsumePartitions(m))
	case *group != "":
		opts = append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumerGroup(*group), kgo.ConsumeResetOffset(off),
			// Commit exactly what was printed: marks, not polls.
			kgo.AutoCommitMarks())
	default:
		opts = append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(off))
	}
	// A topic that does not exist would be waited for forever; say so.
	parts, err := e.topicPartitions(topics)
	if err != nil {
		return err
	}
	var ends *endTracker
	if *exitAtEnd {
		if *partitions != "" {
			ps, _ := parsePartitions(*partitions)
			for _, t := range topics {
				parts[t] = ps
			}
		}
		if ends, err = e.newEndTracker(parts, *offset); err != nil {
			return err
		}
		if ends.done() {
			return nil
		}
		// Control records (transaction markers) advance the position
		// too; without them a partition ending in a marker never ends.
		opts = append(opts, kgo.KeepControlRecords())
	}
	cl, err := e.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	out := bufio.NewWriter(e.io.Stdout)
	defer out.Flush()
	var buf []byte
	printed := 0
	for *count == 0 || printed < *count {
		fetches := cl.PollFetches(e.ctx)
		if e.ctx.Err() != nil {
			break
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("%s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var last []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			if ends != nil {
				ends.consumed(r)
				if r.Attrs.IsControl() {
					return
				}
			}
			if *count > 0 && printed >= *count {
				return
			}
			buf = rf.append(buf[:0], r)
			out.Write(buf)
			printed++
			last = append(last, r)
		})
		if err := out.Flush(); err != nil {
			return err // stdout closed: a pipe reader went away
		}
		if *group != "" {
			cl.MarkCommitRecords(last...)
		}
		if ends != nil && ends.done() {
			break
		}
	}
	if *group != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), e.g.timeout)
		defer cancel()
		if err := cl.CommitMarkedOffsets(ctx); err != nil {
			return fmt.Errorf("committing offsets of group %s: %w", *group, err)
		}
	}
	return nil
}

// topicPartitions checks that the topics exist and returns their
// partitions.
func (e *env) topicPartitions(topics []string) (map[string][]int32, error) {
	adm, err := e.adm()
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	tds, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	parts := make(map[string][]int32, len(topics))
	for _, t := range topics {
		td, ok := tds[t]
		switch {
		case !ok:
			return nil, fmt.Errorf("topic %s: %w", t, kerr.UnknownTopicOrPartition)
		case td.Err != nil:
			return nil, fmt.Errorf("topic %s: %w", t, td.Err)
		}
		parts[t] = td.Partitions.Numbers()
	}
	return parts, nil
}

// endTracker knows, for consume -e, each partition's next offset to read
// and the end offset it had when consume started.
type endTracker struct {
	next, end map[string]map[int32]int64
}

// newEndTracker lists the partitions' start and end offsets and resolves
// -o against them the way the consumer will.
func (e *env) newEndTracker(parts map[string][]int32, offset string) (*endTracker, error) {
	adm, err := e.adm()
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	topics := sortedKeys(parts)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	var after kadm.ListedOffsets
	if ms, ok := strings.CutPrefix(offset, "@"); ok {
		v, _ := strconv.ParseInt(ms, 10, 64)
		if after, err = adm.ListOffsetsAfterMilli(ctx, v, topics...); err != nil {
			return nil, err
		}
	}
	et := &endTracker{next: map[string]map[int32]int64{}, end: map[string]map[int32]int64{}}
	for _, t := range topics {
		et.next[t], et.end[t] = map[int32]int64{}, map[int32]int64{}
		for _, p := range parts[t] {
			s, sok := starts.Lookup(t, p)
			x, xok := ends.Lookup(t, p)
			if !sok || !xok || s.Err != nil || x.Err != nil {
				return nil, fmt.Errorf("%s/%d: no start or end offset (%v, %v)", t, p, s.Err, x.Err)
			}
			et.end[t][p] = x.Offset
			et.next[t][p] = startPosition(offset, s.Offset, x.Offset, after, t, p)
		}
	}
	return et, nil
}

// startPosition is where -o starts reading a partition with the given log
// start and end offsets.
func startPosition(offset string, start, end int64, after kadm.ListedOffsets, t string, p int32) int64 {
	switch offset {
	case "start", "beginning", "oldest":
		return start
	case "end", "newest":
		return end
	}
	if strings.HasPrefix(offset, "@") {
		if o, ok := after.Lookup(t, p); ok && o.Err == nil && o.Offset >= 0 {
			return o.Offset
		}
		return end
	}
	v, _ := strconv.ParseInt(offset, 10, 64)
	if v < 0 {
		v = end + v
	}
	return max(start, min(v, end))
}

func (et *endTracker) consumed(r *kgo.Record) {
	if n, ok := et.next[r.Topic][r.Partition]; ok && r.Offset+1 > n {
		et.next[r.Topic][r.Partition] = r.Offset + 1
	}
}

func (et *endTracker) done() bool {
	for t, ps := range et.end {
		for p, end := range ps {
			if et.next[t][p] < end {
				return false
			}
		}
	}
	return true
}
