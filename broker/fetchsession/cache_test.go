package fetchsession

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sessionReq(version int16, id, epoch int32, partitions ...int32) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.Version, r.SessionID, r.SessionEpoch = version, id, epoch
	if len(partitions) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "t", [16]byte{1}
		for _, p := range partitions {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

func TestFetchSessionCacheEviction(t *testing.T) {
	c := New(2)
	now := time.Unix(1000, 0)
	a := c.Open(sessionReq(12, 0, 0, 0), false, now)
	f := c.Open(sessionReq(12, 0, 0, 0), true, now) // a follower's
	if a.SessionID == 0 || f.SessionID == 0 || a.SessionID == f.SessionID {
		t.Fatalf("ids %d, %d", a.SessionID, f.SessionID)
	}
	// Full, and both sessions fresh: no session for a newcomer.
	if n := c.Open(sessionReq(12, 0, 0, 0), false, now.Add(time.Second)); n.SessionID != 0 || len(n.Partitions) != 1 {
		t.Fatalf("fresh sessions evicted: %+v", n)
	}
	// Once idle long enough, the consumer session gives way; the
	// follower's does not give way to a consumer.
	later := now.Add(evictAfter + time.Second)
	n := c.Open(sessionReq(12, 0, 0, 0), false, later)
	if n.SessionID == 0 {
		t.Fatal("an idle session was not evicted")
	}
	if e := c.Open(sessionReq(12, a.SessionID, 1), false, later); e.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("evicted session still answers: %v", kerr.ErrorForCode(e.ErrorCode))
	}
	if m := c.Open(sessionReq(12, 0, 0, 0), false, later.Add(evictAfter/2)); m.SessionID != 0 {
		t.Fatal("a consumer evicted a follower's session")
	}
	if c.Len() != 2 {
		t.Fatalf("%d sessions", c.Len())
	}
}

func TestFetchSessionProtocol(t *testing.T) {
	now := time.Unix(1000, 0)
	if fc := New(0).Open(sessionReq(12, 0, 0, 0), false, now); fc.SessionID != 0 || fc.ErrorCode != 0 {
		t.Fatalf("no slots: %+v", fc)
	}
	c := New(10)
	if fc := c.Open(sessionReq(6, 0, 0, 0), false, now); fc.SessionID != 0 {
		t.Fatal("a session for Fetch v6")
	}
	s := c.Open(sessionReq(12, 0, 0, 0, 1), false, now)
	if fc := c.Open(sessionReq(13, s.SessionID, 1), false, now); fc.ErrorCode != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("names then ids: %v", kerr.ErrorForCode(fc.ErrorCode))
	}
	// The failed request did not use up the epoch.
	fc := c.Open(sessionReq(12, s.SessionID, 1, 2), false, now)
	if fc.ErrorCode != 0 || !fc.Incremental || len(fc.Partitions) != 3 {
		t.Fatalf("incremental add: %+v", fc)
	}
	// Partitions that returned records move to the back of the session.
	resp := kmsg.NewFetchResponseTopicPartition()
	fc.Include(0, &resp, 10)
	fc = c.Open(sessionReq(12, s.SessionID, 2), false, now)
	var order []int32
	for _, p := range fc.Partitions {
		order = append(order, p.Key.Partition)
	}
	if order[0] != 1 || order[2] != 0 {
		t.Fatalf("session order %v, want partition 0 last", order)
	}
	// A new session over an old id replaces it.
	r := c.Open(sessionReq(12, s.SessionID, 0, 5), false, now)
	if r.SessionID == 0 || c.Len() != 1 {
		t.Fatalf("reopen: %+v, %d sessions", r, c.Len())
	}
}
