package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestInitProducerID(t *testing.T) {
	tb := startTestBroker(t)
	br := rawBroker(t, tb)
	seen := map[int64]bool{}
	for range 3 {
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(testCtx(t), br)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("%+v", resp)
		}
		seen[resp.ProducerID] = true
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	id := "txn"
	req.TransactionalID = &id
	resp, err := req.RequestWith(testCtx(t), br)
	if err != nil {
		t.Fatal(err)
	}
	if kerr.ErrorForCode(resp.ErrorCode) != kerr.TransactionalIDAuthorizationFailed || resp.ProducerID != -1 {
		t.Fatalf("transactional: %+v", resp)
	}
}
