package storage

import (
	"encoding/binary"
	"fmt"
	"os"
)

// .txnindex: the aborted transactions whose abort marker lies in the segment,
// in marker order, as Kafka writes them. Each entry is 34 bytes, big endian:
//
//	version int16 (0), producerId int64, firstOffset int64,
//	lastOffset int64 (the abort marker's offset), lastStableOffset int64
//	(the LSO just after the marker was written).
//
// The file exists only for segments that had aborts. Entries are kept in
// memory (they are few); the file is appended on each abort and rewritten on
// truncation.
const txnEntrySize = 34

type abortedTxn struct {
	producerID, firstOffset, lastOffset, lastStableOffset int64
}

// AbortedTxn is one aborted transaction as a Fetch response lists it.
type AbortedTxn struct {
	ProducerID, FirstOffset int64
}

func encodeTxn(dst []byte, t abortedTxn) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.producerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.firstOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.lastOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(t.lastStableOffset))
}

func loadTxnIndex(path string) ([]abortedTxn, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b)%txnEntrySize != 0 {
		return nil, fmt.Errorf("%w: %s size %d", errIndexCorrupt, path, len(b))
	}
	var out []abortedTxn
	for ; len(b) > 0; b = b[txnEntrySize:] {
		if binary.BigEndian.Uint16(b) != 0 {
			return nil, fmt.Errorf("%w: %s version", errIndexCorrupt, path)
		}
		out = append(out, abortedTxn{
			producerID:       int64(binary.BigEndian.Uint64(b[2:])),
			firstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			lastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			lastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		})
	}
	return out, nil
}

// appendTxnIndex appends entries to the file (created if absent). It is
// fsynced with its segment (segment.syncLocked), never on its own: an
// abort is durable exactly when the marker batch that caused it is.
func appendTxnIndex(fs FileOps, path string, ts []abortedTxn) error {
	f, err := fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var buf []byte
	for _, t := range ts {
		buf = encodeTxn(buf, t)
	}
	_, err = fs.Write(f, buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeTxnIndex replaces the file's entries (removing it when there are
// none). Like appendTxnIndex it is fsynced with its segment.
func writeTxnIndex(fs FileOps, path string, ts []abortedTxn) error {
	if len(ts) == 0 {
		return removeIfExists(fs, path)
	}
	var buf []byte
	for _, t := range ts {
		buf = encodeTxn(buf, t)
	}
	f, err := fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = fs.Write(f, buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
