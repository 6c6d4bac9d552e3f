package protocol

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// segmentFile writes n pseudo-random bytes to a temp file, opened read-only.
func segmentFile(t testing.TB, n int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// randomFetch builds a FetchResponse exercising every field of version v,
// with regions of f for each partition. When materialize is set the
// partitions' RecordBatches hold the region bytes (for kmsg to encode).
func randomFetch(rng *rand.Rand, v int16, f *os.File, data []byte) (*kmsg.FetchResponse, [][][]Region) {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(v)
	resp.ThrottleMillis = rng.Int32N(1000)
	resp.ErrorCode = int16(rng.IntN(3))
	resp.SessionID = rng.Int32()
	var records [][][]Region
	for ti := range rng.IntN(4) {
		topic := kmsg.NewFetchResponseTopic()
		if v >= 13 {
			for i := range topic.TopicID {
				topic.TopicID[i] = byte(rng.Uint32())
			}
		} else {
			topic.Topic = fmt.Sprintf("topic-%d-%s", ti, string(bytes.Repeat([]byte{'x'}, rng.IntN(200))))
		}
		var topicRegions [][]Region
		for pi := range rng.IntN(5) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(pi)
			p.ErrorCode = int16(rng.IntN(2))
			p.HighWatermark = rng.Int64N(1 << 40)
			p.LastStableOffset = rng.Int64N(1 << 40)
			if v >= 5 {
				p.LogStartOffset = rng.Int64N(1 << 20)
			}
			switch rng.IntN(3) {
			case 0: // nil: null array
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			case 2:
				for range 1 + rng.IntN(3) {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = rng.Int64(), rng.Int64N(1<<30)
					p.AbortedTransactions = append(p.AbortedTransactions, a)
				}
			}
			if v >= 11 {
				p.PreferredReadReplica = rng.Int32N(3) - 1
			}
			if v >= 12 {
				if rng.IntN(2) == 0 {
					p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = rng.Int32N(10), rng.Int64N(1000)
				}
				if rng.IntN(2) == 0 {
					p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = rng.Int32N(5), rng.Int32N(50)
				}
				if rng.IntN(3) == 0 {
					p.SnapshotID.EndOffset, p.SnapshotID.Epoch = rng.Int64N(1000), -1
				}
			}
			var regions []Region
			for range rng.IntN(4) {
				off := rng.Int64N(int64(len(data)) - 1)
				n := rng.Int64N(min(int64(len(data))-off, 3000))
				regions = append(regions, Region{File: f, Offset: off, Length: n})
				p.RecordBatches = append(p.RecordBatches, data[off:off+n]...)
				if rng.IntN(3) == 0 { // an adjacent region of the same file
					m := rng.Int64N(min(int64(len(data))-off-n, 500) + 1)
					regions = append(regions, Region{File: f, Offset: off + n, Length: m})
					p.RecordBatches = append(p.RecordBatches, data[off+n:off+n+m]...)
				}
			}
			if p.RecordBatches == nil {
				p.RecordBatches = []byte{} // empty, not null, as EncodeFetchResponse writes
			}
			topic.Partitions = append(topic.Partitions, p)
			topicRegions = append(topicRegions, regions)
		}
		resp.Topics = append(resp.Topics, topic)
		records = append(records, topicRegions)
	}
	if v >= 16 {
		for i := range rng.IntN(3) {
			b := kmsg.NewFetchResponseBroker()
			b.NodeID, b.Host, b.Port = int32(i), fmt.Sprintf("broker-%d.example", i), 9092+int32(i)
			if rng.IntN(2) == 0 {
				b.Rack = wiretest.Str("rack-a")
			}
			resp.Brokers = append(resp.Brokers, b)
		}
	}
	return resp, records
}

// For every version EncodeFetchResponse supports, the frame's bytes (regions
// materialized) equal kmsg's encoding of the same response.
func TestEncodeFetchResponseMatchesKmsg(t *testing.T) {
	f, data := segmentFile(t, 64<<10)
	rng := rand.New(rand.NewPCG(42, 42))
	for v := int16(4); v <= kmsg.NewPtrFetchResponse().MaxVersion(); v++ {
		for iter := range 200 {
			resp, records := randomFetch(rng, v, f, data)
			frame := EncodeFetchResponse(v, int32(iter), resp, records)
			got, err := frame.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			want := AppendResponse(nil, 1, v, int32(iter), resp)
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d iter %d: frame differs from kmsg\n got %x\nwant %x", v, iter, got, want)
			}
			if frame.Len() != int64(len(want)) {
				t.Fatalf("v%d: Len %d, want %d", v, frame.Len(), len(want))
			}
			// And kmsg decodes it back.
			back := kmsg.NewPtrFetchResponse()
			back.SetVersion(v)
			hdr := 8
			if v >= 12 {
				hdr = 9
			}
			if err := back.ReadFrom(got[hdr:]); err != nil {
				t.Fatalf("v%d: kmsg cannot decode: %v", v, err)
			}
		}
	}
}

func TestEncodeFetchResponseUnknownTags(t *testing.T) {
	f, data := segmentFile(t, 1024)
	resp := kmsg.NewPtrFetchResponse()
	resp.UnknownTags.Set(9, []byte("resp"))
	topic := kmsg.NewFetchResponseTopic()
	topic.UnknownTags.Set(5, []byte("topic"))
	p := kmsg.NewFetchResponseTopicPartition()
	p.UnknownTags.Set(7, []byte("part"))
	p.CurrentLeader.UnknownTags.Set(3, []byte("leader"))
	p.RecordBatches = data[10:20]
	topic.Partitions = append(topic.Partitions, p)
	resp.Topics = append(resp.Topics, topic)
	for _, v := range []int16{12, 16, 17} {
		frame := EncodeFetchResponse(v, 1, resp, [][][]Region{{{{File: f, Offset: 10, Length: 10}}}})
		got, err := frame.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := AppendResponse(nil, 1, v, 1, resp); !bytes.Equal(got, want) {
			t.Fatalf("v%d: unknown tags differ", v)
		}
	}
}

func TestEncodeFetchResponseBadVersion(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("v3 did not panic")
		}
	}()
	EncodeFetchResponse(3, 0, kmsg.NewPtrFetchResponse(), nil)
}

// loopback returns both ends of a TCP connection on 127.0.0.1.
func loopback(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(done)
			return
		}
		done <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-done
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// WriteTo through sendfile (TCP) and through the copy path (pipe) delivers
// exactly the frame's bytes, and never moves the file's own offset — even
// with many frames of one file written concurrently.
func TestFrameWriteTo(t *testing.T) {
	f, data := segmentFile(t, 256<<10)
	rng := rand.New(rand.NewPCG(7, 7))
	type pair struct{ w, r net.Conn }
	var conns []pair
	for range 4 {
		c, s := loopback(t)
		conns = append(conns, pair{s, c})
	}
	for range 2 {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		conns = append(conns, pair{a, b})
	}

	var wg sync.WaitGroup
	for i, p := range conns {
		resp, records := randomFetch(rng, int16(4+i*2), f, data)
		// A large region too, to exercise partial sendfile writes.
		if len(records) > 0 && len(records[0]) > 0 {
			records[0][0] = append(records[0][0], Region{File: f, Offset: 0, Length: int64(len(data))})
			resp.Topics[0].Partitions[0].RecordBatches = append(resp.Topics[0].Partitions[0].RecordBatches, data...)
		}
		frame := EncodeFetchResponse(int16(4+i*2), int32(i), resp, records)
		want, err := frame.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			n, err := frame.WriteTo(p.w)
			if err != nil || n != frame.Len() {
				t.Errorf("conn %d: WriteTo = %d, %v; want %d", i, n, err, frame.Len())
			}
		}()
		go func() {
			defer wg.Done()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(p.r, got); err != nil {
				t.Errorf("conn %d: read: %v", i, err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("conn %d: received bytes differ", i)
			}
		}()
	}
	wg.Wait()
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 0 {
		t.Fatalf("file offset moved to %d (%v)", off, err)
	}
}

// A region past the end of its file fails rather than hanging.
func TestFrameWriteToShortFile(t *testing.T) {
	f, data := segmentFile(t, 1000)
	resp := kmsg.NewPtrFetchResponse()
	topic := kmsg.NewFetchResponseTopic()
	topic.Partitions = append(topic.Partitions, kmsg.NewFetchResponseTopicPartition())
	resp.Topics = append(resp.Topics, topic)
	frame := EncodeFetchResponse(11, 1, resp, [][][]Region{{{{File: f, Offset: 500, Length: int64(len(data))}}}})

	c, s := loopback(t)
	go io.Copy(io.Discard, c) //nolint:errcheck
	if _, err := frame.WriteTo(s); err == nil {
		t.Fatal("sendfile of a short file succeeded")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b) //nolint:errcheck
	if _, err := frame.WriteTo(a); err == nil {
		t.Fatal("copy of a short file succeeded")
	}
}
