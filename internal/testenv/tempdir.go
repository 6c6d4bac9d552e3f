package testenv

import (
	"os"
	"testing"
)

// ShortTempDir is a temporary directory with a short path, removed at the
// end of the test: a unix socket path must fit in 108 bytes, and
// t.TempDir() under a long test name does not.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
