package protocol

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ResponseHeaderFlexible reports whether the response to this version of key
// uses response header v1 (correlation id and tagged fields) rather than v0
// (correlation id only). ApiVersions always uses v0: a client parses the
// header before it knows which version the broker answered with.
func ResponseHeaderFlexible(key, version int16) bool {
	if key == 18 {
		return false
	}
	r := kmsg.ResponseForKey(key)
	if r == nil {
		return false
	}
	r.SetVersion(version)
	return r.IsFlexible()
}

// AppendResponse appends a complete response frame to dst: the int32 size,
// the response header for key/version, and resp encoded at version (resp's
// own version is overwritten). It returns the extended slice.
func AppendResponse(dst []byte, key, version int16, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // size, patched below
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if ResponseHeaderFlexible(key, version) {
		dst = append(dst, 0) // no header tagged fields
	}
	resp.SetVersion(version)
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
