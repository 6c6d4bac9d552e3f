package broker

import (
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/runnel/runnel/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// failingSyncs is the OS, except that once armed every fsync of a .log
// file fails with EIO, as a dying disk's would.
type failingSyncs struct {
	armed atomic.Bool
}

var _ storage.FileOps = (*failingSyncs)(nil)

func (f *failingSyncs) Sync(file *os.File) error {
	if f.armed.Load() && strings.HasSuffix(file.Name(), ".log") {
		return syscall.EIO
	}
	return file.Sync()
}

func (f *failingSyncs) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (f *failingSyncs) WriteAt(file *os.File, b []byte, off int64) (int, error) {
	return file.WriteAt(b, off)
}
func (f *failingSyncs) Write(file *os.File, b []byte) (int, error) { return file.Write(b) }
func (f *failingSyncs) Truncate(file *os.File, size int64) error   { return file.Truncate(size) }
func (f *failingSyncs) Rename(oldpath, newpath string) error       { return os.Rename(oldpath, newpath) }
func (f *failingSyncs) Remove(name string) error                   { return os.Remove(name) }

// TestLogDirFailure: a failed fsync in durable mode is answered
// KAFKA_STORAGE_ERROR and never acknowledged; the log dir goes offline
// (DescribeLogDirs, /readyz say so, later produces fail) and the broker
// signals its owner to stop, as Kafka halts when its only log dir fails.
func TestLogDirFailure(t *testing.T) {
	fs := &failingSyncs{}
	tb := startTestBrokerWith(t, Options{FileOps: fs}, "runnel.log.durable=true", "runnel.admin.listener=127.0.0.1:0")
	dataTopic(t, tb, "d", 1, nil)
	br := rawBroker(t, tb)

	if r := rawProduce(t, br, "d", 0, buildBatch(t, 0, 0, 3)); r.ErrorCode != 0 {
		t.Fatalf("healthy produce: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	fs.armed.Store(true)
	if r := rawProduce(t, br, "d", 0, buildBatch(t, 0, 0, 3)); r.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("produce whose fsync failed: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(r.ErrorCode))
	}
	select {
	case <-tb.Failed():
	default:
		waitFor(t, "the broker to report its failed log dir", func() bool {
			select {
			case <-tb.Failed():
				return true
			default:
				return false
			}
		})
	}
	fs.armed.Store(false) // the disk "recovers": the dir stays offline
	if r := rawProduce(t, br, "d", 0, buildBatch(t, 0, 0, 1)); r.ErrorCode != kerr.KafkaStorageError.Code {
		t.Errorf("produce after the failure: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(r.ErrorCode))
	}

	dl := kmsg.NewPtrDescribeLogDirsRequest()
	resp, err := dl.RequestWith(testCtx(t), br)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Dirs) != 1 || resp.Dirs[0].ErrorCode != kerr.KafkaStorageError.Code || len(resp.Dirs[0].Topics) != 0 {
		t.Errorf("DescribeLogDirs of the failed dir: %+v", resp.Dirs)
	}

	hr, err := http.Get("http://" + tb.Broker.admin.ln.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "log dir failed") {
		t.Errorf("/readyz: %d %q", hr.StatusCode, body)
	}
}
