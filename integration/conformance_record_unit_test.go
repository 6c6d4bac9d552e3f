package integration

import (
	"slices"
	"testing"

	"github.com/runnel/runnel/internal/kafkaproxy"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRecordedComparison checks, without brokers, what the recorded
// comparison ignores (timing: batching, empty polls, repeated heartbeats,
// retriable answers, member ids) and what it reports.
func TestRecordedComparison(t *testing.T) {
	const topic = "t"
	produce := func(batch []byte, base int64, code int16) kafkaproxy.Exchange {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks = -1
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		st := kmsg.NewProduceResponseTopic()
		st.Topic = topic
		sp := kmsg.NewProduceResponseTopicPartition()
		sp.BaseOffset, sp.ErrorCode = base, code
		st.Partitions = append(st.Partitions, sp)
		resp.Topics = append(resp.Topics, st)
		return kafkaproxy.Exchange{Key: 0, Version: 9, Request: req, Response: resp}
	}
	fetch := func(batches ...[]byte) kafkaproxy.Exchange {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		st := kmsg.NewFetchResponseTopic()
		st.Topic = topic
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.HighWatermark, sp.LastStableOffset = 2, 2
		for _, b := range batches {
			sp.RecordBatches = append(sp.RecordBatches, b...)
		}
		st.Partitions = append(st.Partitions, sp)
		resp.Topics = append(resp.Topics, st)
		return kafkaproxy.Exchange{Key: 1, Version: 12, Request: req, Response: resp}
	}
	heartbeat := func(code int16) kafkaproxy.Exchange {
		req := kmsg.NewPtrHeartbeatRequest()
		req.SetVersion(4)
		req.Group, req.MemberID, req.Generation = "g", "m-1", 1
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return kafkaproxy.Exchange{Key: 12, Version: 4, Request: req, Response: resp}
	}
	commit := func(memberID string, code int16) kafkaproxy.Exchange {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.SetVersion(9)
		req.Group, req.MemberID, req.Generation = "g", memberID, 1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset, rp.Metadata = 2, kmsg.StringPtr(memberID) // franz-go commits its member id as metadata
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = topic
		sp := kmsg.NewOffsetCommitResponseTopicPartition()
		sp.ErrorCode = code
		st.Partitions = append(st.Partitions, sp)
		resp.Topics = append(resp.Topics, st)
		return kafkaproxy.Exchange{Key: 8, Version: 9, Request: req, Response: resp}
	}
	findCoordinator := func(code int16) kafkaproxy.Exchange {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(4)
		req.CoordinatorKeys = []string{"g"}
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.ErrorCode = "g", 1, code
		resp.Coordinators = append(resp.Coordinators, c)
		return kafkaproxy.Exchange{Key: 10, Version: 4, Request: req, Response: resp}
	}
	const (
		member1 = "rec-3f2a1b4c-1111-4a2b-9c3d-0123456789ab"
		member2 = "rec-99e8d7c6-2222-4b3c-8d4e-ba9876543210"
	)
	both := confBatch(7, 0, 0, false, "a", "b")
	first, second := confBatch(8, 0, 0, false, "a"), confBatch(8, 0, 1, false, "b")
	second[7] = 1 // base offset 1, as the broker stores it
	kafka := []kafkaproxy.Exchange{
		findCoordinator(0),
		produce(both, 0, 0),
		fetch(both),
		heartbeat(0), heartbeat(0), heartbeat(0),
		commit(member1, 0),
	}
	runnel := []kafkaproxy.Exchange{
		findCoordinator(kerr.CoordinatorNotAvailable.Code), findCoordinator(0),
		produce(first, 0, 0), produce(second, 1, 0),
		fetch(), fetch(first, second), fetch(first, second),
		heartbeat(0),
		commit(member2, 0),
	}
	diffs := func(l, r []kafkaproxy.Exchange) []string {
		var out []string
		diffRecorded("Recorded-test", l, r, t.Logf, func(label, path, l, r string) {
			out = append(out, label+" "+path+": "+l+" vs "+r)
		})
		slices.Sort(out)
		return out
	}
	if d := diffs(kafka, runnel); len(d) != 0 {
		t.Errorf("streams that differ only in timing reported as different:\n%v", d)
	}

	changed := slices.Clone(runnel)
	changed[len(changed)-1] = commit(member2, kerr.IllegalGeneration.Code)
	changed[3] = produce(confBatch(8, 0, 1, false, "B"), 1, 0)
	changed[7] = heartbeat(kerr.UnknownMemberID.Code)
	want := []string{
		`Recorded-test/Heartbeat[0]@v4 ErrorCode: 0 vs 25`,
		`Recorded-test/OffsetCommit[0]@v9 Topics[Topic=t].Partitions[Partition=0].ErrorCode: 0 vs 22`,
		`Recorded-test/Produce:t:0[1]@v9 request.Topics[Topic=t].Partitions[Partition=0].Records: ` +
			`attrs=0x0 pid=set epoch=0 leaderEpoch=0 seq=1 key=null value="b" headers=[] vs ` +
			`attrs=0x0 pid=set epoch=0 leaderEpoch=0 seq=1 key=null value="B" headers=[]`,
	}
	if d := diffs(kafka, changed); !slices.Equal(d, want) {
		t.Errorf("differences:\n%q\nwant:\n%q", d, want)
	}
}
