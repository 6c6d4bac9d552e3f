package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeTopicPartitions(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)
	// 3 + 2 + 1 partitions.
	for _, tc := range []struct {
		name string
		n    int32
	}{{"dtp-a", 3}, {"dtp-b", 2}, {"dtp-c", 1}} {
		if r, err := adm.CreateTopic(ctx, tc.n, 1, nil, tc.name); err != nil || r.Err != nil {
			t.Fatal(err, r.Err)
		}
	}
	describe := func(t *testing.T, limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit, req.Cursor = limit, cursor
		for _, n := range topics {
			req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: n})
		}
		resp, err := req.RequestWith(ctx, tb.client(t))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	t.Run("all in one page", func(t *testing.T) {
		resp := describe(t, 2000, nil)
		if len(resp.Topics) != 3 || resp.NextCursor != nil {
			t.Fatalf("%d topics, cursor %+v", len(resp.Topics), resp.NextCursor)
		}
		a := resp.Topics[0]
		if *a.Topic != "dtp-a" || a.TopicID == [16]byte{} || len(a.Partitions) != 3 || a.AuthorizedOperations != allTopicOperations {
			t.Fatalf("%+v", a)
		}
		if p := a.Partitions[1]; p.Partition != 1 || p.LeaderID != tb.ID() || p.LeaderEpoch != 0 || len(p.ISR) != 1 {
			t.Fatalf("%+v", p)
		}
	})

	t.Run("pages", func(t *testing.T) {
		// Walk with a limit of 2: a0 a1 | a2 b0 | b1 c0.
		var got []string
		var cursor *kmsg.DescribeTopicPartitionsRequestCursor
		for page := 0; page < 10; page++ {
			resp := describe(t, 2, cursor)
			n := 0
			for _, rt := range resp.Topics {
				for _, p := range rt.Partitions {
					got = append(got, *rt.Topic+"-"+itoa(p.Partition))
					n++
				}
			}
			if n > 2 {
				t.Fatalf("page of %d partitions", n)
			}
			if resp.NextCursor == nil {
				break
			}
			cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
		}
		want := []string{"dtp-a-0", "dtp-a-1", "dtp-a-2", "dtp-b-0", "dtp-b-1", "dtp-c-0"}
		if len(got) != len(want) {
			t.Fatalf("walked %v", got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("walked %v", got)
			}
		}
		// A limit that ends exactly at a topic's end points at the next topic.
		resp := describe(t, 3, nil)
		if resp.NextCursor == nil || resp.NextCursor.Topic != "dtp-b" || resp.NextCursor.Partition != 0 {
			t.Fatalf("cursor %+v", resp.NextCursor)
		}
	})

	t.Run("named", func(t *testing.T) {
		resp := describe(t, 100, nil, "dtp-c", "missing", "dtp-b")
		if len(resp.Topics) != 3 || *resp.Topics[0].Topic != "dtp-b" || *resp.Topics[1].Topic != "dtp-c" ||
			resp.Topics[2].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("%+v", resp.Topics)
		}
		resp = describe(t, 100, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "dtp-a"}, "dtp-b")
		if resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("cursor outside the list: %+v", resp.Topics)
		}
	})
}
