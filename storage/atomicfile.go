package storage

import (
	"os"
	"path/filepath"
)

// The one way Runnel replaces a small file (checkpoints, producer
// snapshots, the clean-shutdown marker, meta.properties): the content goes
// to <path>.tmp, which is fsynced, renamed over path, and the directory
// fsynced. A crash at any point leaves either the old file or the new one
// under path, never a mix, plus at most a stray <path>.tmp that the next
// write truncates (partition directories drop *.tmp when they open).

// WriteFileAtomic replaces path with data as described above, for the
// log-dir files other packages keep.
func WriteFileAtomic(path string, data []byte) error {
	return writeFileAtomic(path, data, false)
}

// writeFileAtomic is WriteFileAtomic; noSync (tests and fuzzing only)
// skips both fsyncs.
func writeFileAtomic(path string, data []byte, noSync bool) error {
	tmp := path + ".tmp"
	if err := writeSynced(tmp, data, noSync); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDirUnless(filepath.Dir(path), noSync)
}

// writeSynced creates (or truncates) path, writes data and fsyncs it
// (unless noSync). It is the first half of writeFileAtomic; the cleaner
// uses it alone for .cleaned files, whose rename is its swap protocol's
// commit step (cleaner_swap.go).
func writeSynced(path string, data []byte, noSync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// syncDir fsyncs a directory, making the renames and creations in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	d.Close()
	return err
}

func syncDirUnless(dir string, noSync bool) error {
	if noSync {
		return nil
	}
	return syncDir(dir)
}
