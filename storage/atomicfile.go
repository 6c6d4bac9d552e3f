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
// write truncates (partition directories drop *.tmp when they open). A
// failed write removes its .tmp: a full disk is the usual cause, and the
// space is given back. Every step goes through the FileOps seam.

// WriteFileAtomic replaces path with data as described above, for the
// log-dir files other packages keep.
func WriteFileAtomic(path string, data []byte) error {
	return writeFileAtomicFS(osFileOps{}, path, data, false)
}

// writeFileAtomicFS writes data to path atomically through fs; noSync
// (tests and fuzzing only) skips both fsyncs.
func writeFileAtomicFS(fs FileOps, path string, data []byte, noSync bool) error {
	tmp := path + ".tmp"
	if err := writeSynced(fs, tmp, data, noSync); err != nil {
		_ = fs.Remove(tmp)
		return err
	}
	if err := fs.Rename(tmp, path); err != nil {
		_ = fs.Remove(tmp)
		return err
	}
	return syncDirUnlessFS(fs, filepath.Dir(path), noSync)
}

// writeSynced creates (or truncates) path, writes data and fsyncs it
// (unless noSync). It is the first half of writeFileAtomicFS; the cleaner
// uses it alone for .cleaned files, whose rename is its swap protocol's
// commit step (cleaner_swap.go).
func writeSynced(fs FileOps, path string, data []byte, noSync bool) error {
	f, err := fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := fs.Write(f, data); err != nil {
		f.Close()
		return err
	}
	if !noSync {
		if err := fs.Sync(f); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// syncDirFS fsyncs a directory (after a create, rename or remove in it).
func syncDirFS(fs FileOps, dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = fs.Sync(d)
	d.Close()
	return err
}

func syncDirUnlessFS(fs FileOps, dir string, noSync bool) error {
	if noSync {
		return nil
	}
	return syncDirFS(fs, dir)
}
