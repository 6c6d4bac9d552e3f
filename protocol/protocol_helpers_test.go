package protocol

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// encodeRequest builds a request frame payload (no size prefix) the way a
// client does: header v1/v2 (v0 for ControlledShutdown v0) then the body.
func encodeRequest(r kmsg.Request, corr int32, clientID *string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(r.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(r.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if !(r.Key() == 7 && r.GetVersion() == 0) {
		if clientID == nil {
			b = binary.BigEndian.AppendUint16(b, 0xffff)
		} else {
			b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
			b = append(b, *clientID...)
		}
	}
	if r.IsFlexible() {
		b = append(b, 0)
	}
	return r.AppendTo(b)
}

// sized prefixes p with its int32 length.
func sized(p []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...)
}

func strp(s string) *string { return &s }
