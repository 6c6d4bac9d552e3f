package storage

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Segment swap protocol (how cleaned segments replace the originals; Kafka's
// .cleaned → .swap → rename, with the replaced range written down).
//
// A cleaning group is a run of adjacent segments [B, E) (E is the base of
// the segment after the group, or the group's last offset + 1) that one new
// segment with base B replaces. Its files go through these names:
//
//  1. Written and fsynced as <B>.log.cleaned, <B>.index.cleaned,
//     <B>.timeindex.cleaned, <B>.txnindex.cleaned (always written, maybe
//     empty) and <B>.range.cleaned (the text "E\n"). Crash: every *.cleaned
//     file is deleted at open; the old segments are untouched.
//  2. Under the log's locks: the index, txnindex and range files are renamed
//     to *.swap, then <B>.log.cleaned → <B>.log.swap, then the directory is
//     fsynced. The rename of the .log is the commit point. Crash before it:
//     index/range *.swap files without a <B>.log.swap are deleted at open.
//  3. Every old segment's files are renamed to *.deleted (removed later, after
//     file.delete.delay.ms; open readers keep their inodes); directory fsync.
//  4. The index files' .swap → final names, then <B>.log.swap → <B>.log,
//     directory fsync, then <B>.range.swap is removed.
//
// Recovery (completeSwaps, run first thing when a log is opened): for each
// <B>.log.swap, read E from <B>.range.swap, delete every remaining segment
// with base in (B, E) — segment B itself is replaced by the renames —,
// rename whichever <B>.<index>.swap files still exist over their final
// names (a missing one was already renamed in step 4, because all of them
// exist from step 2 on), rename the .log.swap and drop the range file. So a
// crash at any point leaves either exactly the old segments (before the
// commit point) or exactly the new one (after it), never both, never neither.
var swapIndexExts = []string{".index", ".timeindex", ".txnindex", ".range"}

func swapPath(dir string, base int64, ext, suffix string) string {
	return filepath.Join(dir, segmentName(base)+ext+suffix)
}

// completeSwaps finishes or rolls back interrupted segment swaps in dir.
func completeSwaps(fs FileOps, dir string, noSync bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var swaps []int64
	logSwap := map[string]bool{}
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".cleaned") {
			if err := fs.Remove(filepath.Join(dir, n)); err != nil && !os.IsNotExist(err) {
				return err
			}
			continue
		}
		if strings.HasSuffix(n, ".log.swap") && len(n) == 20+len(".log.swap") {
			if b, err := strconv.ParseInt(n[:20], 10, 64); err == nil {
				swaps = append(swaps, b)
				logSwap[n[:20]] = true
			}
		}
	}
	// Index, txnindex and range swaps of an uncommitted group.
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".swap") && !strings.HasSuffix(n, ".log.swap") && len(n) > 20 && !logSwap[n[:20]] {
			if err := fs.Remove(filepath.Join(dir, n)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	if len(swaps) == 0 {
		return nil
	}
	for _, b := range swaps {
		end, err := readSwapRange(dir, b)
		if err != nil {
			return err
		}
		for _, e := range ents {
			n := e.Name()
			ob, ok := parseSegmentBase(n)
			if !ok || ob <= b || ob >= end {
				continue
			}
			for _, ext := range []string{".log", ".index", ".timeindex", ".txnindex"} {
				p := filepath.Join(dir, segmentName(ob)+ext)
				if err := fs.Remove(p); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
		}
		if err := syncDirUnlessFS(fs, dir, noSync); err != nil {
			return err
		}
		for _, ext := range swapIndexExts[:3] {
			sp := swapPath(dir, b, ext, ".swap")
			if err := fs.Rename(sp, swapPath(dir, b, ext, "")); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		if err := fs.Rename(swapPath(dir, b, ".log", ".swap"), swapPath(dir, b, ".log", "")); err != nil {
			return err
		}
		if err := syncDirUnlessFS(fs, dir, noSync); err != nil {
			return err
		}
		if err := fs.Remove(swapPath(dir, b, ".range", ".swap")); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// readSwapRange reads E from <B>.range.swap. Without it (it is written
// before the commit point, so only a damaged directory lacks it) E is taken
// as the swap segment's own next offset, which never deletes a segment
// holding offsets the new one lacks.
func readSwapRange(dir string, base int64) (int64, error) {
	b, err := os.ReadFile(swapPath(dir, base, ".range", ".swap"))
	if err == nil {
		if v, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); perr == nil && v > base {
			return v, nil
		}
	}
	f, err := os.Open(swapPath(dir, base, ".log", ".swap"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	next := base + 1
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, st.Size()), 1<<16)
	var hb [batchHeaderSize]byte
	for {
		if _, err := io.ReadFull(r, hb[:]); err != nil {
			break
		}
		h, _ := ParseBatchHeader(hb[:])
		if h.Length < batchHeaderSize-logOverhead {
			break
		}
		next = max(next, h.LastOffset()+1)
		if _, err := r.Discard(int(h.Size()) - batchHeaderSize); err != nil {
			break
		}
	}
	return next, nil
}

// errCleanAborted means the log changed under a cleaning pass (truncation,
// retention, close) so its output was thrown away.
var errCleanAborted = errors.New("storage: cleaning aborted: log changed")
