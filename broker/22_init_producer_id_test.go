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
	// Transactional ids go to the transaction coordinator, which checks
	// the timeout first (24_add_partitions_to_txn_test.go has the rest).
	if kerr.ErrorForCode(resp.ErrorCode) != kerr.InvalidTransactionTimeout || resp.ProducerID != -1 {
		t.Fatalf("transactional: %+v", resp)
	}
}
