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

func cork(syscall.RawConn, bool) error {
	return errors.New("protocol: TCP_CORK not supported on this platform")
}
