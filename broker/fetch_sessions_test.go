package broker

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
	c := newFetchSessionCache(2)
	now := time.Unix(1000, 0)
	a := c.open(sessionReq(12, 0, 0, 0), false, now)
	f := c.open(sessionReq(12, 0, 0, 0), true, now) // a follower's
	if a.sessionID == 0 || f.sessionID == 0 || a.sessionID == f.sessionID {
		t.Fatalf("ids %d, %d", a.sessionID, f.sessionID)
	}
	// Full, and both sessions fresh: no session for a newcomer.
	if n := c.open(sessionReq(12, 0, 0, 0), false, now.Add(time.Second)); n.sessionID != 0 || len(n.parts) != 1 {
		t.Fatalf("fresh sessions evicted: %+v", n)
	}
	// Once idle long enough, the consumer session gives way; the
	// follower's does not give way to a consumer.
	later := now.Add(sessionEvictAfter + time.Second)
	n := c.open(sessionReq(12, 0, 0, 0), false, later)
	if n.sessionID == 0 {
		t.Fatal("an idle session was not evicted")
	}
	if e := c.open(sessionReq(12, a.sessionID, 1), false, later); e.errCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("evicted session still answers: %v", kerr.ErrorForCode(e.errCode))
	}
	if m := c.open(sessionReq(12, 0, 0, 0), false, later.Add(sessionEvictAfter/2)); m.sessionID != 0 {
		t.Fatal("a consumer evicted a follower's session")
	}
	if c.len() != 2 {
		t.Fatalf("%d sessions", c.len())
	}
}

func TestFetchSessionProtocol(t *testing.T) {
	now := time.Unix(1000, 0)
	if fc := newFetchSessionCache(0).open(sessionReq(12, 0, 0, 0), false, now); fc.sessionID != 0 || fc.errCode != 0 {
		t.Fatalf("no slots: %+v", fc)
	}
	c := newFetchSessionCache(10)
	if fc := c.open(sessionReq(6, 0, 0, 0), false, now); fc.sessionID != 0 {
		t.Fatal("a session for Fetch v6")
	}
	s := c.open(sessionReq(12, 0, 0, 0, 1), false, now)
	if fc := c.open(sessionReq(13, s.sessionID, 1), false, now); fc.errCode != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("names then ids: %v", kerr.ErrorForCode(fc.errCode))
	}
	// The failed request did not use up the epoch.
	fc := c.open(sessionReq(12, s.sessionID, 1, 2), false, now)
	if fc.errCode != 0 || !fc.incremental || len(fc.parts) != 3 {
		t.Fatalf("incremental add: %+v", fc)
	}
	// Partitions that returned records move to the back of the session.
	fp := fetchedPartition{resp: kmsg.NewFetchResponseTopicPartition(), records: 10}
	fc.include(0, &fp)
	fc = c.open(sessionReq(12, s.sessionID, 2), false, now)
	var order []int32
	for _, p := range fc.parts {
		order = append(order, p.key.partition)
	}
	if order[0] != 1 || order[2] != 0 {
		t.Fatalf("session order %v, want partition 0 last", order)
	}
	// A new session over an old id replaces it.
	r := c.open(sessionReq(12, s.sessionID, 0, 5), false, now)
	if r.sessionID == 0 || c.len() != 1 {
		t.Fatalf("reopen: %+v, %d sessions", r, c.len())
	}
}
