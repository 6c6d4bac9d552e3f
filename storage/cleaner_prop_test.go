package storage

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestCompactRapid: random appends of keyed records (some tombstones, some
// compressed, several per batch), random compaction passes in between;
// after each pass reading the whole log gives, for every key, exactly its
// latest value (tombstones included: delete.retention.ms is never reached
// here), offsets strictly increase, every record read is one that was
// written at that offset, and below the cleaned end each key appears once.
func TestCompactRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := DefaultConfig()
		compactCfg(func(c *Config) {
			c.SegmentBytes = int64(rapid.IntRange(200, 2000).Draw(rt, "segBytes"))
			c.DeleteRetentionMs = 1 << 40
		})(&cfg)
		m, err := OpenManager(ManagerOptions{Dir: t.TempDir(), RetentionCheckInterval: time.Hour, noSync: true})
		if err != nil {
			rt.Fatal(err)
		}
		defer m.Close()
		l, err := m.GetOrCreate("t", 0, cfg)
		if err != nil {
			rt.Fatal(err)
		}
		written := map[int64]crec{}
		latest := map[string]crec{}
		nkeys := rapid.IntRange(1, 20).Draw(rt, "keys")
		codecs := []int8{CodecNone, CodecNone, CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}
		rounds := rapid.IntRange(1, 4).Draw(rt, "rounds")
		for round := 0; round < rounds; round++ {
			nb := rapid.IntRange(1, 15).Draw(rt, "batches")
			for i := 0; i < nb; i++ {
				codec := codecs[rapid.IntRange(0, len(codecs)-1).Draw(rt, "codec")]
				n := rapid.IntRange(1, 4).Draw(rt, "records")
				b := BatchBuilder{Codec: codec}
				var recs []crec
				for j := 0; j < n; j++ {
					k := fmt.Sprintf("k%d", rapid.IntRange(0, nkeys-1).Draw(rt, "key"))
					var v []byte
					r := crec{key: k, ts: int64(1000 + len(written) + j)}
					if rapid.IntRange(0, 5).Draw(rt, "tomb") == 0 {
						r.null = true
					} else {
						r.value = fmt.Sprintf("v%d-%d", round, len(written)+j)
						v = []byte(r.value)
					}
					b.Add(r.ts, []byte(k), v)
					recs = append(recs, r)
				}
				res, err := l.Append(b.Build(), leader)
				if err != nil {
					rt.Fatal(err)
				}
				for j := range recs {
					recs[j].off = res.BaseOffset + int64(j)
					written[recs[j].off] = recs[j]
					latest[recs[j].key] = recs[j]
				}
			}
			l.SetHighWatermark(l.LogEndOffset())
			st, err := l.Compact(time.UnixMilli(int64(5000 + round)))
			if err != nil {
				rt.Fatal(err)
			}
			got := readRecs(t, l, 0)
			for i, r := range got {
				if i > 0 && r.off <= got[i-1].off {
					rt.Fatalf("offsets not increasing: %v %v", got[i-1], r)
				}
				if w, ok := written[r.off]; !ok || w != r {
					rt.Fatalf("read %v, written %v", r, w)
				}
			}
			if g, w := fmt.Sprint(latestPerKey(got)), fmt.Sprint(latest); g != w {
				rt.Fatalf("latest per key:\n%s\nwant\n%s", g, w)
			}
			if !st.SkippedUncleaned {
				seen := map[string]bool{}
				for _, r := range got {
					if r.off >= st.End {
						break
					}
					if seen[r.key] {
						rt.Fatalf("key %s twice below cleaned end %d", r.key, st.End)
					}
					seen[r.key] = true
				}
			}
		}
	})
}
