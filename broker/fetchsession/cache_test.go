package fetchsession

import (
	"sync"
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

// answer is a partition's answer with the given offsets and no error.
func answer(hw, lso, logStart int64) *kmsg.FetchResponseTopicPartition {
	r := kmsg.NewFetchResponseTopicPartition()
	r.HighWatermark, r.LastStableOffset, r.LogStartOffset = hw, lso, logStart
	return &r
}

func TestFetchSessionCloseAndEpochs(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(10)
	s := c.Open(sessionReq(12, 0, 0, 0), false, now)
	// A wrong epoch is refused, and does not use up the right one.
	if fc := c.Open(sessionReq(12, s.SessionID, 2), false, now); fc.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || len(fc.Partitions) != 0 || fc.SessionID != 0 {
		t.Fatalf("epoch 2 first: %+v", fc)
	}
	for epoch := int32(1); epoch <= 3; epoch++ {
		if fc := c.Open(sessionReq(12, s.SessionID, epoch), false, now); fc.ErrorCode != 0 || fc.SessionID != s.SessionID {
			t.Fatalf("epoch %d: %v", epoch, kerr.ErrorForCode(fc.ErrorCode))
		}
	}
	// Replaying an epoch is refused.
	if fc := c.Open(sessionReq(12, s.SessionID, 3), false, now); fc.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("replayed epoch: %v", kerr.ErrorForCode(fc.ErrorCode))
	}
	// Epoch -1 closes the session; the request is answered sessionless.
	fc := c.Open(sessionReq(12, s.SessionID, -1, 7), false, now)
	if fc.ErrorCode != 0 || fc.SessionID != 0 || fc.Incremental || len(fc.Partitions) != 1 || fc.Partitions[0].Key.Partition != 7 {
		t.Fatalf("close: %+v", fc)
	}
	if c.Len() != 0 {
		t.Fatalf("%d sessions after close", c.Len())
	}
	if fc := c.Open(sessionReq(12, s.SessionID, 4), false, now); fc.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: %v", kerr.ErrorForCode(fc.ErrorCode))
	}
	// Sessionless fetches make no session.
	if fc := c.Open(sessionReq(12, 0, -1, 0), false, now); fc.SessionID != 0 || c.Len() != 0 {
		t.Fatalf("sessionless: %+v", fc)
	}
	if e := nextEpoch(1<<31 - 1); e != 1 {
		t.Fatalf("epoch after MaxInt32: %d", e)
	}
}

func TestFetchSessionIncrementalInclude(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(10)
	full := c.Open(sessionReq(13, 0, 0, 0, 1), false, now)
	// A full fetch answers every partition, changed or not.
	for i := range full.Partitions {
		if !full.Include(i, answer(5, 5, 0), 0) {
			t.Fatalf("full fetch left out partition %d", i)
		}
	}
	id := full.SessionID

	// Nothing changed: nothing is answered.
	fc := c.Open(sessionReq(13, id, 1), false, now)
	if !fc.Incremental || len(fc.Partitions) != 2 {
		t.Fatalf("%+v", fc)
	}
	if fc.Include(0, answer(5, 5, 0), 0) || fc.Include(1, answer(5, 5, 0), 0) {
		t.Fatal("an unchanged partition was answered")
	}

	// Each kind of change is answered.
	fc = c.Open(sessionReq(13, id, 2), false, now)
	if !fc.Include(0, answer(5, 5, 0), 100) {
		t.Fatal("records were not answered")
	}
	if !fc.Include(1, answer(6, 5, 0), 0) {
		t.Fatal("a moved high watermark was not answered")
	}
	// Partition 0 returned records: it is now last.
	fc = c.Open(sessionReq(13, id, 3), false, now)
	if fc.Partitions[0].Key.Partition != 1 || fc.Partitions[1].Key.Partition != 0 {
		t.Fatalf("order %v %v, want partition 0 last", fc.Partitions[0].Key, fc.Partitions[1].Key)
	}
	if !fc.Include(0, answer(6, 6, 0), 0) || !fc.Include(1, answer(5, 5, 1), 0) {
		t.Fatal("a moved LSO or log start was not answered")
	}
	fc = c.Open(sessionReq(13, id, 4), false, now)
	diverging := answer(6, 6, 0)
	diverging.DivergingEpoch.Epoch = 3
	if !fc.Include(0, diverging, 0) {
		t.Fatal("a diverging epoch was not answered")
	}
	failed := answer(5, 5, 1)
	failed.ErrorCode = kerr.NotLeaderForPartition.Code
	if !fc.Include(1, failed, 0) {
		t.Fatal("an error was not answered")
	}
	// After an error, the partition is answered again even though its
	// offsets are those last answered before the error.
	fc = c.Open(sessionReq(13, id, 5), false, now)
	if fc.Include(0, answer(6, 6, 0), 0) {
		t.Fatal("partition 1 answered twice")
	}
	if !fc.Include(1, answer(5, 5, 1), 0) {
		t.Fatal("a partition that recovered from an error was not answered")
	}
}

func TestFetchSessionAddForgetAndUpdate(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(10)
	// Listed twice when opening: held once, with the last parameters.
	open := sessionReq(12, 0, 0, 0, 1, 0)
	open.Topics[0].Partitions[2].FetchOffset = 42
	s := c.Open(open, false, now)
	if len(s.Partitions) != 3 {
		t.Fatalf("the full fetch reads what it lists: %d partitions", len(s.Partitions))
	}
	fc := c.Open(sessionReq(12, s.SessionID, 1), false, now)
	if len(fc.Partitions) != 2 || fc.Partitions[1].Key.Partition != 0 || fc.Partitions[1].FetchOffset != 42 {
		t.Fatalf("session after duplicates: %v, %+v", len(fc.Partitions), fc.Partitions[len(fc.Partitions)-1])
	}
	// A changed fetch offset updates the partition in place; a new one is
	// added at the end; a forgotten one is dropped.
	inc := sessionReq(12, s.SessionID, 2, 0, 2)
	inc.Topics[0].Partitions[0].FetchOffset = 50
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.Partitions = "t", []int32{1}
	inc.ForgottenTopics = append(inc.ForgottenTopics, ft)
	fc = c.Open(inc, false, now)
	var got []Key
	for _, p := range fc.Partitions {
		got = append(got, p.Key)
	}
	if len(got) != 2 || got[0].Partition != 0 || got[1].Partition != 2 || fc.Partitions[0].FetchOffset != 50 {
		t.Fatalf("session %v, offset %d", got, fc.Partitions[0].FetchOffset)
	}
	// Before v13 the session is keyed by name; the context's partitions
	// are copies the caller may not change the session through.
	if got[0] != (Key{Topic: "t", Partition: 0}) {
		t.Fatalf("key %+v", got[0])
	}
	fc.Partitions[0].FetchOffset = 99
	if fc := c.Open(sessionReq(12, s.SessionID, 3), false, now); fc.Partitions[0].FetchOffset != 50 {
		t.Fatalf("the session changed through a context: %d", fc.Partitions[0].FetchOffset)
	}
	// A partition forgotten between a context's open and its answer is
	// still answered as the context decides, and not brought back.
	fc = c.Open(sessionReq(12, s.SessionID, 4), false, now)
	forget := sessionReq(12, s.SessionID, 5)
	ft.Partitions = []int32{2}
	forget.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{ft}
	c.Open(forget, false, now)
	if !fc.Include(1, answer(9, 9, 0), 0) {
		t.Fatal("changed partition left out")
	}
	if fc := c.Open(sessionReq(12, s.SessionID, 6), false, now); len(fc.Partitions) != 1 {
		t.Fatalf("%d partitions after forgetting", len(fc.Partitions))
	}
}

func TestFetchSessionReplicaEvictsReplica(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(1)
	f := c.Open(sessionReq(12, 0, 0, 0), true, now)
	// A replica's fresh session does not give way even to a replica.
	if n := c.Open(sessionReq(12, 0, 0, 0), true, now.Add(evictAfter-time.Second)); n.SessionID != 0 {
		t.Fatal("a fresh session was evicted")
	}
	// An accepted incremental fetch keeps a session fresh.
	c.Open(sessionReq(12, f.SessionID, 1), true, now.Add(evictAfter/2))
	if n := c.Open(sessionReq(12, 0, 0, 0), true, now.Add(evictAfter+time.Second)); n.SessionID != 0 {
		t.Fatal("a session used a minute ago was evicted")
	}
	n := c.Open(sessionReq(12, 0, 0, 0), true, now.Add(2*evictAfter))
	if n.SessionID == 0 || c.Len() != 1 {
		t.Fatalf("an idle replica session did not give way to a replica: %+v, %d sessions", n, c.Len())
	}
	if e := c.NextEpochs(); len(e) != 1 || e[n.SessionID] != 1 {
		t.Fatalf("next epochs %v", e)
	}
}

// TestFetchSessionConcurrentUse runs requests on one session and on new
// sessions at once, for the race detector: a misbehaving client may send
// several requests on a session without waiting for the answers.
func TestFetchSessionConcurrentUse(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(4)
	s := c.Open(sessionReq(13, 0, 0, 0, 1, 2), false, now)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				// Most are refused for their epoch; those accepted read
				// and answer the session's partitions.
				fc := c.Open(sessionReq(13, s.SessionID, int32(i+1), int32(g)), false, now)
				for j := range fc.Partitions {
					fc.Include(j, answer(int64(i), int64(i), 0), int64(j))
				}
				c.Open(sessionReq(13, 0, 0, int32(g)), g%2 == 0, now.Add(time.Duration(i)*evictAfter))
				c.NextEpochs()
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n < 1 || n > 4 {
		t.Fatalf("%d sessions in a cache of 4", n)
	}
}
