package storage

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchBatch is a 16 KiB batch of 16 records of 1 KiB each.
func benchBatch() []byte {
	var b BatchBuilder
	val := bytes.Repeat([]byte{'r'}, 1000)
	for i := 0; i < 16; i++ {
		b.Add(time.Now().UnixMilli(), nil, val)
	}
	return b.Build()
}

// BenchmarkAppend compares Log.Append of 16 KiB batches (default config:
// page cache only, fsync on roll) with a raw sequential write(2) of the same
// bytes to a file in the same directory; MB/s of each are reported by the
// sub-benchmarks, and BenchmarkAppend/ratio reports log/raw directly.
func BenchmarkAppend(b *testing.B) {
	batch := benchBatch()
	b.Run("log", func(b *testing.B) {
		m := openTestManager(b, b.TempDir(), nil)
		defer m.Close()
		l, _ := m.GetOrCreate("bench", 0, DefaultConfig())
		b.SetBytes(int64(len(batch)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := l.Append(batch, AppendOptions{AssignOffsets: true}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer() // the close-time fsync is not part of the append path
	})
	b.Run("raw", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(batch)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.Write(batch); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
	})
	b.Run("ratio", func(b *testing.B) {
		// Interleave chunks of both so that both see the same machine state.
		m := openTestManager(b, b.TempDir(), nil)
		defer m.Close()
		l, _ := m.GetOrCreate("bench", 0, DefaultConfig())
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		var tLog, tRaw time.Duration
		const chunk = 256
		b.SetBytes(int64(len(batch)))
		b.ResetTimer()
		for done := 0; done < b.N; done += chunk {
			n := min(chunk, b.N-done)
			t0 := time.Now()
			for i := 0; i < n; i++ {
				if _, err := l.Append(batch, AppendOptions{AssignOffsets: true}); err != nil {
					b.Fatal(err)
				}
			}
			t1 := time.Now()
			for i := 0; i < n; i++ {
				if _, err := f.Write(batch); err != nil {
					b.Fatal(err)
				}
			}
			tLog += t1.Sub(t0)
			tRaw += time.Since(t1)
		}
		b.StopTimer()
		total := float64(b.N) * float64(len(batch)) / 1e6
		b.ReportMetric(total/tLog.Seconds(), "log-MB/s")
		b.ReportMetric(total/tRaw.Seconds(), "raw-MB/s")
		b.ReportMetric(tRaw.Seconds()/tLog.Seconds(), "log/raw")
	})
}

// BenchmarkAppendDurable is Append with fsync before return.
func BenchmarkAppendDurable(b *testing.B) {
	batch := benchBatch()
	m := openTestManager(b, b.TempDir(), nil)
	defer m.Close()
	cfg := DefaultConfig()
	cfg.Durable = true
	l, _ := m.GetOrCreate("bench", 0, cfg)
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch, AppendOptions{AssignOffsets: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadSendfile reads 1 MiB fetches as regions and sends them with
// sendfile (explicit offsets) to a loopback TCP socket drained by a reader.
func BenchmarkReadSendfile(b *testing.B) {
	batch := benchBatch()
	m := openTestManager(b, b.TempDir(), nil)
	defer m.Close()
	l, _ := m.GetOrCreate("bench", 0, DefaultConfig())
	const total = 64 << 20
	for n := 0; n < total; n += len(batch) {
		if _, err := l.Append(batch, AppendOptions{AssignOffsets: true}); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	drained := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			drained <- err
			return
		}
		_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{c}, make([]byte, 1<<20))
		c.Close()
		drained <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	tcp := conn.(*net.TCPConn)
	var sent int64
	off := int64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := l.Read(off, leo, 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		n, err := r.SendTo(tcp)
		r.Release()
		if err != nil {
			b.Fatal(err)
		}
		sent += n
		off += 16 * (n / int64(len(batch)))
		if off >= leo {
			off = 0
		}
	}
	b.StopTimer()
	b.SetBytes(sent / int64(b.N))
	conn.Close()
	<-drained
}

// BenchmarkIndexLookup is one offset-index lookup in a full 10 MiB index
// (1.3M entries).
func BenchmarkIndexLookup(b *testing.B) {
	dir := b.TempDir()
	ix := mmIndex{path: filepath.Join(dir, "x.index"), entrySize: offsetEntrySize, fs: osFileOps{}}
	if err := ix.open(true, 10<<20); err != nil {
		b.Fatal(err)
	}
	defer ix.unmap()
	for i := 0; i < ix.maxN; i++ {
		ix.appendOffset(uint32(i*16), uint32(i*16384))
	}
	rng := rand.New(rand.NewSource(1))
	keys := make([]uint32, 4096)
	for i := range keys {
		keys[i] = uint32(rng.Intn(ix.maxN * 16))
	}
	b.ResetTimer()
	var sink uint32
	for i := 0; i < b.N; i++ {
		sink += ix.lookupOffset(keys[i&4095])
	}
	_ = sink
}

// BenchmarkRecovery measures crash recovery (full re-read, CRC check and
// index rebuild) of one segment: 64 MiB by default,
// RUNNEL_BENCH_RECOVERY_BYTES (e.g. 1073741824) to change it.
func BenchmarkRecovery(b *testing.B) {
	size := int64(64 << 20)
	if v := os.Getenv("RUNNEL_BENCH_RECOVERY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	batch := benchBatch()
	dir := b.TempDir()
	m := openTestManager(b, dir, nil)
	cfg := DefaultConfig()
	cfg.SegmentBytes = size + int64(len(batch))
	l, _ := m.GetOrCreate("bench", 0, cfg)
	for n := int64(0); n+int64(len(batch)) <= size; n += int64(len(batch)) {
		if _, err := l.Append(batch, AppendOptions{AssignOffsets: true}); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	m.abandon()
	pdir := filepath.Join(dir, "bench-0")
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		os.Remove(filepath.Join(dir, cleanShutdownFile))
		if err := writePartitionCheckpoint(pdir, partitionCheckpoint{0, 0, 0, noEnd, noEnd}, true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		m, err := OpenManager(ManagerOptions{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := m.Get("bench", 0).LogEndOffset(); got != leo {
			b.Fatalf("recovered to %d, want %d", got, leo)
		}
		m.abandon()
		b.StartTimer()
	}
}

// BenchmarkAppendCompressed measures Log.Append of a compressed 16 KiB
// batch with the timestamp check of Kafka 4's defaults (after.max.ms one
// hour: every record is read, so the batch is decompressed, as Kafka does)
// and with both bounds infinite (the header alone is checked).
func BenchmarkAppendCompressed(b *testing.B) {
	for _, codec := range []int8{CodecSnappy, CodecLZ4, CodecZstd} {
		var bb BatchBuilder
		bb.Codec = codec
		for i := 0; i < 16; i++ {
			bb.Add(time.Now().UnixMilli(), nil, bytes.Repeat([]byte{byte('a' + i)}, 1000))
		}
		batch := bb.Build()
		for _, checked := range []bool{true, false} {
			cfg := DefaultConfig()
			name := fmt.Sprintf("codec=%d/timestamps=checked", codec)
			if !checked {
				cfg.MessageTimestampAfterMaxMs = math.MaxInt64
				name = fmt.Sprintf("codec=%d/timestamps=unbounded", codec)
			}
			b.Run(name, func(b *testing.B) {
				m := openTestManager(b, b.TempDir(), nil)
				defer m.Close()
				l, _ := m.GetOrCreate("bench", 0, cfg)
				b.SetBytes(16 * 1000)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := l.Append(bytes.Clone(batch), AppendOptions{AssignOffsets: true}); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
			})
		}
	}
}

// BenchmarkOpenManyLogs measures OpenManager on a log dir of
// RUNNEL_BENCH_OPEN_LOGS (default 2,000) partitions, each holding one
// small batch (the shape of issue 14's idle partitions), after a clean
// shutdown and after a crash (no clean-shutdown marker), where only logs
// with data past their recovery point need re-reading.
func BenchmarkOpenManyLogs(b *testing.B) {
	n := 2000
	if v := os.Getenv("RUNNEL_BENCH_OPEN_LOGS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	m := openTestManager(b, dir, nil)
	for p := range n {
		l, err := m.GetOrCreate("many", int32(p), DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		if p%2 == 0 {
			if _, err := l.Append(mkBatch(1, 0), AppendOptions{AssignOffsets: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
	for _, clean := range []bool{true, false} {
		name := "crash"
		if clean {
			name = "clean"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				if clean {
					if err := os.WriteFile(filepath.Join(dir, cleanShutdownFile), nil, 0o644); err != nil {
						b.Fatal(err)
					}
				} else {
					os.Remove(filepath.Join(dir, cleanShutdownFile))
				}
				b.StartTimer()
				m, err := OpenManager(ManagerOptions{Dir: dir, ProducerIDExpiration: 100 * 365 * 24 * time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := len(m.All()); got != n {
					b.Fatalf("opened %d logs, want %d", got, n)
				}
				m.abandon()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/log")
		})
	}
}
