package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// FileOps is the seam through which storage creates, changes and removes
// the files of a log dir: segments, indexes, snapshots, checkpoints and the
// cleaner's swap files. The OS is the default (ManagerOptions.FileOps nil);
// tests inject a FileOps that fails chosen calls (EIO, ENOSPC) to exercise
// log-dir failure (dirfailure.go).
//
// Why this shape: handles stay *os.File because the read path sends file
// regions with sendfile and maps finished indexes, which need the real
// descriptor; what the seam sees are the calls whose failure loses or
// exposes data — opening (and so creating) a file, writing, fsync,
// truncation, rename and removal. Reads, stats and directory listings go to
// the OS directly (a read error still surfaces as an error at its caller).
// Directory fsyncs go through Sync on the opened directory.
//
// An implementation must be safe for concurrent use, and its methods must
// behave like the os functions they replace: in particular WriteAt may
// have written a prefix of b when it returns an error.
type FileOps interface {
	OpenFile(name string, flag int, perm os.FileMode) (*os.File, error)
	WriteAt(f *os.File, b []byte, off int64) (int, error)
	Write(f *os.File, b []byte) (int, error)
	Sync(f *os.File) error
	Truncate(f *os.File, size int64) error
	Rename(oldpath, newpath string) error
	Remove(name string) error
}

// osFileOps is the operating system.
type osFileOps struct{}

func (osFileOps) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osFileOps) WriteAt(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
func (osFileOps) Write(f *os.File, b []byte) (int, error)              { return f.Write(b) }
func (osFileOps) Sync(f *os.File) error                                { return f.Sync() }
func (osFileOps) Truncate(f *os.File, size int64) error                { return f.Truncate(size) }
func (osFileOps) Rename(oldpath, newpath string) error                 { return os.Rename(oldpath, newpath) }
func (osFileOps) Remove(name string) error                             { return os.Remove(name) }

// fileOpsOrOS returns fs, or the OS when fs is nil.
func fileOpsOrOS(fs FileOps) FileOps {
	if fs == nil {
		return osFileOps{}
	}
	return fs
}

// syncFile opens path and fsyncs it through fs; a missing file is not an
// error (an index or .txnindex that was never written).
func syncFile(fs FileOps, path string) error {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	err = fs.Sync(f)
	f.Close()
	return err
}

// syncFS flushes everything written to the file system holding dir
// (syncfs(2)): one call makes many lazily written files durable.
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

// removeIfExists removes path through fs; a missing file is not an error.
func removeIfExists(fs FileOps, path string) error {
	if err := fs.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
