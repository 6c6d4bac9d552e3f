package protocol

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// expansionFrames builds, for one key and version, the frames that make
// kmsg's decoder allocate most per frame byte: every array reachable in the
// request (arrays of structs, of strings, of numbers, nested at any depth)
// filled in turn with n zero elements — the shortest elements on the wire,
// each decoded into a whole Go value — with one element on each array on
// the way to it; and, in flexible versions, n unknown tagged fields.
func expansionFrames(key, version int16, n int) [][]byte {
	var out [][]byte
	var walk func(path []int, t reflect.Type, depth int)
	walk = func(path []int, t reflect.Type, depth int) {
		if depth > 4 {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Type.Kind() != reflect.Slice || f.Type.Elem().Kind() == reflect.Uint8 {
				continue
			}
			p := append(append([]int(nil), path...), i)
			r := kmsg.RequestForKey(key)
			r.SetVersion(version)
			fill(reflect.ValueOf(r).Elem(), p, n)
			out = append(out, wiretest.EncodeRequest(r, 1, nil))
			if f.Type.Elem().Kind() == reflect.Struct {
				walk(p, f.Type.Elem(), depth+1)
			}
		}
	}
	walk(nil, reflect.TypeOf(kmsg.RequestForKey(key)).Elem(), 0)
	// Flexible versions keep unknown tagged fields in a map: n empty
	// tags, two bytes each on the wire.
	r := kmsg.RequestForKey(key)
	r.SetVersion(version)
	if f := reflect.ValueOf(r).Elem().FieldByName("UnknownTags"); f.IsValid() && r.IsFlexible() {
		tags := f.Addr().Interface().(*kmsg.Tags)
		for i := range n {
			tags.Set(uint32(1000+i), nil)
		}
		out = append(out, wiretest.EncodeRequest(r, 1, nil))
	}
	return out
}

// fill sets the slice at path in v: one element on each slice on the way,
// n zero elements on the last.
func fill(v reflect.Value, path []int, n int) {
	f := v.Field(path[0])
	if len(path) == 1 {
		f.Set(reflect.MakeSlice(f.Type(), n, n))
		return
	}
	f.Set(reflect.MakeSlice(f.Type(), 1, 1))
	fill(f.Index(0), path[1:], n)
}

// allocated is the least heap allocation of a few decodes of frame.
func allocated(frame []byte) uint64 {
	least := uint64(1<<63 - 1)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _ = ParseRequest(frame)
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestDecodeExpansion measures kmsg's worst-case allocation per frame byte
// for every key and version (expansionFrames) and checks it against
// DecodeBudget, which the connection layer charges to the request memory
// pool before decoding (queued.max.request.bytes). RUNNEL_PRINT_EXPANSION=1
// prints the measured factors, to regenerate decodeExpansion after a kmsg
// upgrade.
func TestDecodeExpansion(t *testing.T) {
	if testing.Short() {
		t.Skip("measures every key and version")
	}
	const n = 4096
	worst := map[int16]float64{}
	for key := int16(0); key < 100; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil || !Supported(key, Floor(key)) {
			continue
		}
		for v := Floor(key); v <= MaxKnown(key); v++ {
			for _, frame := range expansionFrames(key, v, n) {
				got := allocated(frame)
				worst[key] = max(worst[key], float64(got)/float64(len(frame)))
				if req, err := ParseRequest(frame); err == nil && !raceEnabled {
					if est, ok := DecodedSize(req); ok && int64(got) > est {
						t.Errorf("%s v%d: %d bytes allocated decoding a %d-byte frame, DecodedSize %d",
							kmsg.NameForKey(key), v, got, len(frame), est)
					}
				}
				if budget := DecodeBudget(len(frame)); int64(got) > budget {
					t.Errorf("%s v%d: %d bytes allocated decoding a %d-byte frame, budget %d",
						kmsg.NameForKey(key), v, got, len(frame), budget)
				}
			}
		}
	}
	if os.Getenv("RUNNEL_PRINT_EXPANSION") == "1" {
		keys := make([]int, 0, len(worst))
		for k := range worst {
			keys = append(keys, int(k))
		}
		sort.Ints(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\t%d: %.0f, // %s\n", k, worst[int16(k)], kmsg.NameForKey(int16(k)))
		}
		t.Log("\n" + b.String())
	}
}
