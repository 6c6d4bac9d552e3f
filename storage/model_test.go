package storage

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"pgregory.net/rapid"
)

type modelBatch struct {
	base, last int64
	data       []byte
}

type logModel struct {
	batches  []modelBatch
	logStart int64
	leo      int64
}

func (m *logModel) expectRead(offset, maxOffset int64, maxBytes int32, minOne bool) []byte {
	var out []byte
	remaining := int64(maxBytes)
	first := true
	for _, b := range m.batches {
		if b.last < offset {
			continue
		}
		if b.last >= maxOffset {
			break
		}
		sz := int64(len(b.data))
		if sz > remaining {
			if !(first && minOne) {
				break
			}
			out = append(out, b.data...)
			break
		}
		out = append(out, b.data...)
		remaining -= sz
		first = false
		if remaining <= 0 {
			break
		}
	}
	return out
}

func TestModelRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		cfg := DefaultConfig()
		cfg.SegmentBytes = int64(rapid.IntRange(200, 3000).Draw(rt, "segBytes"))
		cfg.SegmentIndexBytes = rapid.IntRange(24, 200).Draw(rt, "idxBytes")
		cfg.IndexIntervalBytes = rapid.IntRange(0, 500).Draw(rt, "interval")
		cfg.FileDeleteDelayMs = 0
		open := func() (*Manager, *Log) {
			m, err := OpenManager(ManagerOptions{Dir: dir, MaxOpenFiles: rapid.IntRange(1, 4).Draw(rt, "maxOpen"), noSync: true})
			if err != nil {
				rt.Fatal(err)
			}
			l, err := m.GetOrCreate("m", 0, cfg)
			if err != nil {
				rt.Fatal(err)
			}
			return m, l
		}
		m, l := open()
		defer func() { m.Close() }()
		model := &logModel{}
		ts := int64(1000)
		check := func(where string) {
			if l.LogEndOffset() != model.leo || l.LogStartOffset() != model.logStart {
				rt.Fatalf("%s: leo %d/%d start %d/%d", where, l.LogEndOffset(), model.leo, l.LogStartOffset(), model.logStart)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"append": func(rt *rapid.T) {
				var buf []byte
				nb := rapid.IntRange(1, 3).Draw(rt, "nbatches")
				var bs [][]byte
				for i := 0; i < nb; i++ {
					var b BatchBuilder
					b.Codec = int8(rapid.SampledFrom([]int{0, 0, 0, 1, 2, 3, 4}).Draw(rt, "codec"))
					n := rapid.IntRange(1, 5).Draw(rt, "records")
					for j := 0; j < n; j++ {
						ts += int64(rapid.IntRange(-2, 5).Draw(rt, "dts"))
						b.Add(ts, []byte("k"), bytes.Repeat([]byte{'x'}, rapid.IntRange(0, 120).Draw(rt, "vlen")))
					}
					bs = append(bs, b.Build())
					buf = append(buf, bs[i]...)
				}
				res, err := l.Append(buf, AppendOptions{AssignOffsets: true, LeaderEpoch: 3})
				if int64(len(buf)) > cfg.SegmentBytes {
					if !errors.Is(err, kerr.RecordListTooLarge) {
						rt.Fatalf("oversized append: %v", err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				if res.BaseOffset != model.leo {
					rt.Fatalf("base %d want %d", res.BaseOffset, model.leo)
				}
				pos := 0
				for range bs {
					h, _ := ParseBatchHeader(buf[pos:])
					model.batches = append(model.batches, modelBatch{h.BaseOffset, h.LastOffset(), append([]byte(nil), buf[pos:pos+int(h.Size())]...)})
					pos += int(h.Size())
				}
				model.leo = res.LastOffset + 1
				check("append")
			},
			"read": func(rt *rapid.T) {
				off := rapid.Int64Range(model.logStart, model.leo).Draw(rt, "off")
				maxOff := rapid.Int64Range(model.logStart, model.leo+1).Draw(rt, "maxOff")
				maxBytes := int32(rapid.IntRange(0, 2000).Draw(rt, "maxBytes"))
				minOne := rapid.Bool().Draw(rt, "minOne")
				r, err := l.Read(off, maxOff, maxBytes, minOne)
				if err != nil {
					rt.Fatal(err)
				}
				var got bytes.Buffer
				if _, err := r.WriteTo(&got); err != nil {
					rt.Fatal(err)
				}
				r.Release()
				want := model.expectRead(off, maxOff, maxBytes, minOne)
				if !bytes.Equal(got.Bytes(), want) {
					rt.Fatalf("read(%d,%d,%d,%v): got %d bytes want %d", off, maxOff, maxBytes, minOne, got.Len(), len(want))
				}
				if int64(got.Len()) != r.Size {
					rt.Fatalf("size %d vs %d", r.Size, got.Len())
				}
			},
			"readOutOfRange": func(rt *rapid.T) {
				if _, err := l.Read(model.leo+1, model.leo+2, 100, true); !errors.Is(err, kerr.OffsetOutOfRange) {
					rt.Fatal("expected out of range", err)
				}
				if model.logStart > 0 {
					if _, err := l.Read(model.logStart-1, model.leo, 100, true); !errors.Is(err, kerr.OffsetOutOfRange) {
						rt.Fatal("expected out of range below start", err)
					}
				}
			},
			"truncate": func(rt *rapid.T) {
				end := rapid.Int64Range(max(model.logStart-2, 0), model.leo+1).Draw(rt, "end")
				if err := l.Truncate(end); err != nil {
					rt.Fatal(err)
				}
				if end >= model.leo {
					return
				}
				if end < model.logStart {
					model.batches, model.logStart, model.leo = nil, end, end
					check("truncate full")
					return
				}
				keep := model.batches[:0]
				newLeo := int64(-1)
				for _, b := range model.batches {
					if b.last >= end {
						if newLeo < 0 {
							newLeo = b.base
						}
						break
					}
					keep = append(keep, b)
				}
				model.batches = keep
				if newLeo < model.logStart {
					model.batches, model.logStart = nil, newLeo
				}
				model.leo = newLeo
				check("truncate")
			},
			"advanceStart": func(rt *rapid.T) {
				off := rapid.Int64Range(model.logStart, model.leo).Draw(rt, "start")
				ns, err := l.AdvanceLogStart(off)
				if err != nil || ns != off {
					rt.Fatal(ns, err)
				}
				model.logStart = off
				check("advance")
			},
			"reopen": func(rt *rapid.T) {
				if err := m.Close(); err != nil {
					rt.Fatal(err)
				}
				m, l = open()
				check("reopen")
			},
			"crash": func(rt *rapid.T) {
				m.abandon()
				m, l = open()
				check("crash")
			},
		})
	})
}
