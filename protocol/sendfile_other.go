//go:build !linux

package protocol

import (
	"errors"
	"syscall"
)

// haveSendfile: elsewhere than Linux, WriteTo always takes the copying path.
const haveSendfile = false

func sendfile(syscall.RawConn, Region) (int64, error) {
	return 0, errors.New("protocol: sendfile not supported on this platform")
}
