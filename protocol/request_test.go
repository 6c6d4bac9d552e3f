package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every version of every key kmsg knows, from the floor up, round-trips
// through ParseRequest: header fields, flexibility, and body bytes.
func TestParseRequestAllKeysAllVersions(t *testing.T) {
	for key := int16(0); key < 200; key++ {
		proto := kmsg.RequestForKey(key)
		if proto == nil {
			continue
		}
		for v := Floor(key); v <= proto.MaxVersion(); v++ {
			r := kmsg.RequestForKey(key)
			r.SetVersion(v)
			frame := wiretest.EncodeRequest(r, int32(key)*1000+int32(v), wiretest.Str("runnel-test"))
			req, err := ParseRequest(frame)
			if err != nil {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(key), v, err)
			}
			if req.Key != key || req.Version != v || req.CorrelationID != int32(key)*1000+int32(v) {
				t.Fatalf("%s v%d: header %+v", kmsg.NameForKey(key), v, req)
			}
			if req.Flexible != r.IsFlexible() || req.Body.GetVersion() != v {
				t.Fatalf("%s v%d: flexible %v body version %d", kmsg.NameForKey(key), v, req.Flexible, req.Body.GetVersion())
			}
			wantID := "runnel-test"
			if key == 7 && v == 0 {
				if req.ClientID != nil {
					t.Fatalf("ControlledShutdown v0 has no client id")
				}
			} else if req.ClientID == nil || *req.ClientID != wantID {
				t.Fatalf("%s v%d: client id %v", kmsg.NameForKey(key), v, req.ClientID)
			}
			if !bytes.Equal(req.Body.AppendTo(nil), r.AppendTo(nil)) {
				t.Fatalf("%s v%d: body does not round-trip", kmsg.NameForKey(key), v)
			}
		}
	}
}

func TestParseRequestProduceBody(t *testing.T) {
	r := kmsg.NewPtrProduceRequest()
	r.SetVersion(9)
	r.Acks = -1
	r.TimeoutMillis = 1234
	tp := kmsg.NewProduceRequestTopic()
	tp.Topic = "orders"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition = 3
	pp.Records = []byte("not really a batch")
	tp.Partitions = append(tp.Partitions, pp)
	r.Topics = append(r.Topics, tp)
	req, err := ParseRequest(wiretest.EncodeRequest(r, 7, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := req.Body.(*kmsg.ProduceRequest)
	if req.ClientID != nil || got.Acks != -1 || got.Topics[0].Topic != "orders" ||
		string(got.Topics[0].Partitions[0].Records) != "not really a batch" {
		t.Fatalf("decoded %+v", got)
	}
}

func TestParseRequestErrors(t *testing.T) {
	header := func(key, version int16, corr int32) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		return binary.BigEndian.AppendUint32(b, uint32(corr))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	mdFrame := wiretest.EncodeRequest(md, 9, wiretest.Str("c"))

	for _, tc := range []struct {
		name      string
		frame     []byte
		kind      error
		hasHeader bool
	}{
		{"empty", nil, ErrMalformed, false},
		{"seven bytes", header(18, 0, 1)[:7], ErrMalformed, false},
		{"unknown key", append(header(9999, 0, 5), 0xff, 0xff), ErrUnknownKey, true},
		{"negative key", append(header(-1, 0, 5), 0xff, 0xff), ErrUnknownKey, true},
		{"produce v2 below floor", append(header(0, 2, 5), 0xff, 0xff), ErrUnsupportedVersion, true},
		{"fetch v3 below floor", append(header(1, 3, 5), 0xff, 0xff), ErrUnsupportedVersion, true},
		{"api versions v99", append(header(18, 99, 5), 0xff, 0xff), ErrUnsupportedVersion, true},
		{"negative version", append(header(3, -1, 5), 0xff, 0xff), ErrUnsupportedVersion, true},
		{"no client id", header(3, 1, 5), ErrMalformed, true},
		{"client id too long", append(header(3, 1, 5), 0, 10, 'a'), ErrMalformed, true},
		{"client id length -2", append(header(3, 1, 5), 0xff, 0xfe), ErrMalformed, true},
		{"missing header tags", append(header(3, 12, 5), 0xff, 0xff), ErrMalformed, true},
		{"bad header tag size", append(header(3, 12, 5), 0xff, 0xff, 1, 0, 50), ErrMalformed, true},
		{"truncated body", mdFrame[:len(mdFrame)-2], ErrMalformed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseRequest(tc.frame)
			if req != nil || !errors.Is(err, tc.kind) {
				t.Fatalf("ParseRequest = %v, %v; want kind %v", req, err, tc.kind)
			}
			var re *RequestError
			if !errors.As(err, &re) || re.HasHeader != tc.hasHeader {
				t.Fatalf("error %#v: HasHeader want %v", err, tc.hasHeader)
			}
			if tc.hasHeader && re.CorrelationID != 5 && tc.name != "truncated body" {
				t.Fatalf("correlation id %d lost", re.CorrelationID)
			}
		})
	}
}

// Header tagged fields are skipped.
func TestParseRequestHeaderTags(t *testing.T) {
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	full := wiretest.EncodeRequest(md, 9, wiretest.Str("c"))
	// header: 8 fixed + 2+1 client id, then the tag count byte (0).
	at := 8 + 3
	if full[at] != 0 {
		t.Fatalf("unexpected layout")
	}
	tagged := append(append(append([]byte{}, full[:at]...), 2, 0, 1, 'x', 7, 2, 'y', 'z'), full[at+1:]...)
	req, err := ParseRequest(tagged)
	if err != nil || req.CorrelationID != 9 {
		t.Fatalf("ParseRequest with header tags: %v", err)
	}
}

func TestReadUvarint(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want uint32
		ok   bool
	}{
		{[]byte{0}, 0, true},
		{[]byte{0x7f}, 127, true},
		{[]byte{0x80, 0x01}, 128, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0xffffffff, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x10}, 0, false},
		{[]byte{0x80}, 0, false},
		{nil, 0, false},
	} {
		v, _, err := readUvarint(tc.in)
		if (err == nil) != tc.ok || v != tc.want {
			t.Errorf("readUvarint(%x) = %d, %v", tc.in, v, err)
		}
	}
}

// A frame that claims huge arrays must not make the decoder allocate far more
// than the frame: kmsg checks array counts against the remaining bytes.
func TestParseRequestAllocationBounded(t *testing.T) {
	frames := [][]byte{}
	for _, key := range []int16{0, 1, 3, 8, 9, 11, 19, 32} {
		for _, v := range []int16{Floor(key), MaxKnown(key)} {
			b := binary.BigEndian.AppendUint16(nil, uint16(key))
			b = binary.BigEndian.AppendUint16(b, uint16(v))
			b = binary.BigEndian.AppendUint32(b, 1)
			b = append(b, 0xff, 0xff) // null client id
			r := kmsg.RequestForKey(key)
			r.SetVersion(v)
			if r.IsFlexible() {
				b = append(b, 0)
			}
			// A body of 0x7f / 0xff bytes: maximal lengths and counts.
			for i := 0; i < 4096; i++ {
				if i%2 == 0 {
					b = append(b, 0x7f)
				} else {
					b = append(b, 0xff)
				}
			}
			frames = append(frames, b)
		}
	}
	for _, f := range frames {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _ = ParseRequest(f)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64*uint64(len(f))+(64<<10) {
			t.Errorf("key %d: %d bytes allocated for a %d-byte frame", binary.BigEndian.Uint16(f), grew, len(f))
		}
	}
}
