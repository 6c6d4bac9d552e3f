package protocol

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFloors(t *testing.T) {
	for key, want := range map[int16]int16{0: 3, 1: 4, 2: 1, 3: 0, 8: 2, 9: 1, 18: 0, 22: 0} {
		if got := Floor(key); got != want {
			t.Errorf("Floor(%d) = %d, want %d", key, got, want)
		}
	}
	if AdvertisedMin(0) != 0 || AdvertisedMin(1) != 4 {
		t.Errorf("AdvertisedMin wrong")
	}
	if Supported(0, 2) || !Supported(0, 3) || Supported(1, 3) || !Supported(1, MaxKnown(1)) || Supported(1, MaxKnown(1)+1) {
		t.Errorf("Supported wrong")
	}
	if MaxKnown(9999) != -1 || Supported(9999, 0) {
		t.Errorf("unknown key known")
	}
}

func TestTable(t *testing.T) {
	tbl := NewTable(map[int16]int16{
		0:    11,  // Produce, capped by implementation
		1:    100, // Fetch, capped by kmsg
		18:   4,
		2:    0, // ListOffsets v0 only: below the floor, left out
		9999: 3, // unknown to kmsg, left out
	})
	want := []VersionRange{{0, 0, 11}, {1, 4, MaxKnown(1)}, {18, 0, 4}}
	got := tbl.Ranges()
	if len(got) != len(want) {
		t.Fatalf("Ranges = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Ranges = %v, want %v", got, want)
		}
	}
	for _, tc := range []struct {
		key, v int16
		ok     bool
	}{
		{0, 0, false}, {0, 2, false}, {0, 3, true}, {0, 11, true}, {0, 12, false},
		{1, 3, false}, {1, 4, true}, {18, 0, true}, {18, 5, false}, {2, 0, false}, {3, 0, false},
	} {
		if tbl.Supported(tc.key, tc.v) != tc.ok {
			t.Errorf("Supported(%d, %d) = %v", tc.key, tc.v, !tc.ok)
		}
	}
	keys := tbl.APIKeys()
	if len(keys) != 3 || keys[0].ApiKey != 0 || keys[0].MinVersion != 0 || keys[0].MaxVersion != 11 || keys[2].ApiKey != 18 {
		t.Fatalf("APIKeys = %+v", keys)
	}
}

func TestAppendResponseHeaders(t *testing.T) {
	// ApiVersions v3 is flexible, but its response header is v0: size,
	// correlation id, then the body immediately.
	av := kmsg.NewPtrApiVersionsResponse()
	av.ApiKeys = NewTable(map[int16]int16{18: 4}).APIKeys()
	frame := AppendResponse([]byte("junk"), 18, 3, 77, av)
	frame = frame[4:]
	if int(binary.BigEndian.Uint32(frame)) != len(frame)-4 || binary.BigEndian.Uint32(frame[4:]) != 77 {
		t.Fatalf("bad size or correlation id")
	}
	back := kmsg.NewPtrApiVersionsResponse()
	back.SetVersion(3)
	if err := back.ReadFrom(frame[8:]); err != nil || len(back.ApiKeys) != 1 || back.ApiKeys[0].MaxVersion != 4 {
		t.Fatalf("ApiVersions body: %v %+v", err, back)
	}

	// Metadata v9+ is flexible: header v1 has an (empty) tag section.
	md := kmsg.NewPtrMetadataResponse()
	for _, tc := range []struct {
		v      int16
		hdrLen int
	}{{8, 4}, {9, 5}, {12, 5}} {
		frame := AppendResponse(nil, 3, tc.v, 5, md)
		body := kmsg.NewPtrMetadataResponse()
		body.SetVersion(tc.v)
		md.SetVersion(tc.v)
		if !bytes.Equal(frame[4+tc.hdrLen:], md.AppendTo(nil)) {
			t.Fatalf("Metadata v%d: header length != %d", tc.v, tc.hdrLen)
		}
		if err := body.ReadFrom(frame[4+tc.hdrLen:]); err != nil {
			t.Fatalf("Metadata v%d: %v", tc.v, err)
		}
	}
	if ResponseHeaderFlexible(18, 4) || !ResponseHeaderFlexible(1, 12) || ResponseHeaderFlexible(1, 11) || ResponseHeaderFlexible(9999, 1) {
		t.Fatalf("ResponseHeaderFlexible wrong")
	}
}
