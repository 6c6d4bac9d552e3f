package protocol

import (
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func BenchmarkParseRequest(b *testing.B) {
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(11)
	produce.Acks = -1
	for t := range 4 {
		tp := kmsg.NewProduceRequestTopic()
		tp.Topic = fmt.Sprintf("topic-%d", t)
		for p := range 8 {
			pp := kmsg.NewProduceRequestTopicPartition()
			pp.Partition = int32(p)
			pp.Records = make([]byte, 16<<10)
			tp.Partitions = append(tp.Partitions, pp)
		}
		produce.Topics = append(produce.Topics, tp)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(13)
	for t := range 4 {
		ft := kmsg.NewFetchRequestTopic()
		ft.TopicID[0] = byte(t)
		for p := range 8 {
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition = int32(p)
			ft.Partitions = append(ft.Partitions, fp)
		}
		fetch.Topics = append(fetch.Topics, ft)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(4)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "runnel-bench", "1.0"
	for _, tc := range []struct {
		name string
		r    kmsg.Request
	}{{"Produce-v11-32x16KiB", produce}, {"Fetch-v13-32p", fetch}, {"Metadata-v12", md}, {"ApiVersions-v4", av}} {
		frame := wiretest.EncodeRequest(tc.r, 1, wiretest.Str("bench-client"))
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for range b.N {
				if _, err := ParseRequest(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// hideSyscall hides a connection's SyscallConn, forcing WriteTo's copy path
// (the TLS path).
type hideSyscall struct{ net.Conn }

// BenchmarkFetchWrite sends a Fetch response of 8 partitions × 128 KiB from a
// segment file to a loopback socket: through sendfile, through the pread
// copy fallback, and by materializing the response in memory and writing it
// (what a broker without zero-copy does).
func BenchmarkFetchWrite(b *testing.B) {
	f, data := segmentFile(b, 4<<20)
	resp := kmsg.NewPtrFetchResponse()
	topic := kmsg.NewFetchResponseTopic()
	topic.Topic = "bench"
	var regions []Region
	for p := range 8 {
		part := kmsg.NewFetchResponseTopicPartition()
		part.Partition = int32(p)
		topic.Partitions = append(topic.Partitions, part)
		regions = append(regions, Region{File: f, Offset: int64(p) * 512 << 10, Length: 128 << 10})
	}
	resp.Topics = append(resp.Topics, topic)
	records := [][][]Region{make([][]Region, 8)}
	for p := range regions {
		records[0][p] = regions[p : p+1]
	}
	_ = data

	for _, mode := range []string{"sendfile", "pread-copy", "materialize"} {
		b.Run(mode, func(b *testing.B) {
			client, server := loopback(b)
			drained := make(chan struct{})
			go func() { io.Copy(io.Discard, client); close(drained) }() //nolint:errcheck
			var w net.Conn = server
			if mode == "pread-copy" {
				w = hideSyscall{server}
			}
			var buf []byte
			frame := EncodeFetchResponse(12, 1, resp, records)
			b.SetBytes(frame.Len())
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				frame := EncodeFetchResponse(12, 1, resp, records)
				var err error
				if mode == "materialize" {
					buf, err = frame.AppendTo(buf[:0])
					if err == nil {
						_, err = w.Write(buf)
					}
				} else {
					_, err = frame.WriteTo(w)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			server.Close()
			<-drained
		})
	}
}
