package integration

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Harness pieces for log-dir fault tests: a log dir on a small tmpfs that
// the test can fill, and the checks on how the broker died.
//
// They need no change to the harness: start() passes log.dirs before the
// options' overrides, and config.Load keeps the last --override of a key,
// so withLogDir (and a "log.dirs=…/{id}/logs" cluster override) replace
// the default under b.dataDir.

// withLogDir puts the broker's log dir at path instead of under b.dataDir.
func withLogDir(path string) brokerOption { return withOverride("log.dirs", path) }

// mountTmpfs mounts a tmpfs of sizeMiB at dir (created if missing) and
// unmounts it when the test ends. Call it before starting the broker that
// uses it: cleanups run last-registered first, so the broker stops before
// the unmount. The test is skipped when not root or when mount fails.
func mountTmpfs(t *testing.T, dir string, sizeMiB int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs log dir")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", sizeMiB), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs at %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// freeBytes is the space left on the file system holding dir.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fillDisk takes every free byte of dir's file system with a filler file
// (fallocate, then writes until ENOSPC for what fallocate left) and
// returns its path. Root ignores permissions, so filling is the way to
// make a root broker's writes fail.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := freeBytes(t, dir); n > 0 {
		st, _ := f.Stat()
		// A failure here (ENOSPC after a race with the broker) is fine:
		// the write loop below finishes the job.
		_ = unix.Fallocate(int(f.Fd()), 0, st.Size(), n)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

// readyz fetches the admin listener's /readyz: status code and body.
func readyz(adminAddr string) (int, string, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + adminAddr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

// readyzWatcher polls /readyz until stopped and keeps the first answer
// that reports a failed log dir, and how many answers it got. The window
// is short — a broker with no leadership to hand over closes its admin
// listener a few milliseconds after the failure — so it polls without
// pause on one kept-alive connection, and seeing the window is not
// guaranteed: callers assert on it only where it is long.
type readyzWatcher struct {
	stop  chan struct{}
	done  chan struct{}
	seen  string // the first "log dir failed" body, once done is closed
	polls int
}

func watchReadyz(adminAddr string) *readyzWatcher {
	w := &readyzWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	cl := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(w.done)
		defer cl.CloseIdleConnections()
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			resp, err := cl.Get("http://" + adminAddr + "/readyz")
			if err != nil {
				time.Sleep(time.Millisecond)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			w.polls++
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "log dir failed") {
				w.seen = strings.TrimSpace(string(body))
				return
			}
		}
	}()
	return w
}

// result stops the watcher and returns what it saw.
func (w *readyzWatcher) result() string {
	close(w.stop)
	<-w.done
	return w.seen
}

// waitExit waits up to d for the broker process to exit on its own and
// checks how: a non-zero exit status, not a signal (SIGBUS from a store
// into a memory map on a full disk, say), and no Go panic or fatal error
// in what it printed since logFrom.
func (b *broker) waitExit(t *testing.T, d time.Duration, logFrom int) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-b.exited:
	case <-time.After(d):
		t.Fatalf("the broker did not exit within %v of its log dir failing\n%s", d, tail(b.logs(), 60))
	}
	took := time.Since(start)
	b.cmd = nil
	out := b.logs()[logFrom:]
	var ee *exec.ExitError
	switch {
	case b.waitErr == nil:
		t.Errorf("the broker exited with status 0 after its log dir failed\n%s", tail(out, 40))
	case !errors.As(b.waitErr, &ee):
		t.Errorf("waiting for the broker: %v", b.waitErr)
	default:
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			t.Errorf("the broker died of signal %v\n%s", ws.Signal(), tail(out, 60))
		} else if ws.ExitStatus() == 0 {
			t.Errorf("the broker exited with status 0\n%s", tail(out, 40))
		}
	}
	for _, bad := range []string{"panic:", "fatal error:", "SIGBUS", "unexpected fault address"} {
		if strings.Contains(out, bad) {
			t.Errorf("the broker printed %q\n%s", bad, tail(out, 80))
		}
	}
	if !strings.Contains(out, "log dir failed") {
		t.Errorf("the broker did not log its log dir failure\n%s", tail(out, 40))
	}
	return took
}

// logLen is how much the broker has printed so far, for waitExit.
func (b *broker) logLen() int {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.Len()
}
