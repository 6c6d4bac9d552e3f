package broker

import (
	"errors"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's cap of 10,000 partitions per CreateTopics / CreatePartitions
// request (issue 13): 2^31-1 partitions, even validate-only, is refused
// with POLICY_VIOLATION before anything is allocated, and the broker keeps
// serving.
func TestPartitionCapPerRequest(t *testing.T) {
	tb := startTestBroker(t, "num.partitions=20000")
	ctx := testCtx(t)
	adm := tb.admin(t)
	cl := tb.client(t)
	const policyMsg = "Excessively large number of partitions per request."

	createRaw := func(validateOnly bool, counts ...int32) *kmsg.CreateTopicsResponse {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis, req.ValidateOnly = 30000, validateOnly
		for i, n := range counts {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "cap-"+string(rune('a'+i)), n, 1
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tc := range []struct {
		name         string
		validateOnly bool
		counts       []int32
	}{
		{"2^31-1", false, []int32{math.MaxInt32}},
		{"2^31-1 validate-only", true, []int32{math.MaxInt32}},
		{"10001", false, []int32{10_001}},
		{"two topics adding up to 10001", true, []int32{5000, 5001}},
		{"default num.partitions over the cap", true, []int32{-1}},
	} {
		resp := createRaw(tc.validateOnly, tc.counts...)
		if len(resp.Topics) != len(tc.counts) {
			t.Fatalf("%s: %d topics answered", tc.name, len(resp.Topics))
		}
		for _, rt := range resp.Topics {
			if rt.ErrorCode != kerr.PolicyViolation.Code || rt.ErrorMessage == nil || *rt.ErrorMessage != policyMsg {
				t.Errorf("%s: %s: code %d message %v", tc.name, rt.Topic, rt.ErrorCode, rt.ErrorMessage)
			}
		}
	}
	resp := createRaw(true, 10_000)
	if rt := resp.Topics[0]; rt.ErrorCode != 0 || rt.NumPartitions != 10_000 {
		t.Fatalf("10000 validate-only: code %d partitions %d", rt.ErrorCode, rt.NumPartitions)
	}

	// kadm, as an application would call it.
	// kadm.CreateTopic returns the topic's error as its error.
	kr, err := adm.CreateTopic(ctx, math.MaxInt32, 1, nil, "cap-kadm")
	if !errors.Is(err, kerr.PolicyViolation) || !errors.Is(kr.Err, kerr.PolicyViolation) {
		t.Fatalf("kadm 2^31-1: %v %v", err, kr.Err)
	}
	vr, err := adm.ValidateCreateTopics(ctx, 10_000, 1, nil, "cap-kadm")
	if err != nil || vr["cap-kadm"].Err != nil {
		t.Fatalf("kadm validate 10000: %v %+v", err, vr["cap-kadm"])
	}

	// CreatePartitions: growing by 2^31-2 or by 10,001 is refused alike.
	if kr, err := adm.CreateTopic(ctx, 1, 1, nil, "cap-grow"); err != nil || kr.Err != nil {
		t.Fatal(err, kr.Err)
	}
	for _, to := range []int{math.MaxInt32, 10_002} {
		for _, validate := range []bool{false, true} {
			f := adm.UpdatePartitions
			if validate {
				f = adm.ValidateUpdatePartitions
			}
			rs, err := f(ctx, to, "cap-grow")
			if err != nil || !errors.Is(rs["cap-grow"].Err, kerr.PolicyViolation) {
				t.Fatalf("grow to %d (validate %v): %v %+v", to, validate, err, rs["cap-grow"])
			}
		}
	}
	rs, err := adm.ValidateUpdatePartitions(ctx, 10_001, "cap-grow")
	if err != nil || rs["cap-grow"].Err != nil {
		t.Fatalf("validate grow by 10000: %v %+v", err, rs["cap-grow"])
	}

	// Still serving.
	if kr, err := adm.CreateTopic(ctx, 3, 1, nil, "cap-after"); err != nil || kr.Err != nil || kr.NumPartitions != 3 {
		t.Fatalf("after: %v %+v", err, kr)
	}
}
