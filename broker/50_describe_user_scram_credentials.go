package broker

import (
	"context"
	"sort"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const describeUserScramCredentialsMaxVersion int16 = 0

// scramMechanisms numbers the SCRAM mechanisms as KIP-554 does on the wire
// (0 is UNKNOWN).
var scramMechanisms = map[int8]string{1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512"}

func scramMechanismType(name string) int8 {
	for t, n := range scramMechanisms {
		if n == name {
			return t
		}
	}
	return 0
}

// handleDescribeUserScramCredentials answers KIP-554's describe from the
// metadata snapshot: per user the mechanisms and iteration counts (never
// salts or keys). No users (null or empty) means every user with a
// credential; a user named twice is DUPLICATE_RESOURCE and a user without
// credentials RESOURCE_NOT_FOUND, with Kafka's messages.
func (b *Broker) handleDescribeUserScramCredentials(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.authorizeCluster(cc, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}
	creds := b.ctrl.Snapshot().ScramCredentials
	describe := func(user string) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = user
		for _, t := range []int8{1, 2} {
			if c, ok := creds[user][scramMechanisms[t]]; ok {
				info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				info.Mechanism, info.Iterations = t, c.Iterations
				res.CredentialInfos = append(res.CredentialInfos, info)
			}
		}
		return res
	}
	if len(r.Users) == 0 {
		users := make([]string, 0, len(creds))
		for u := range creds {
			users = append(users, u)
		}
		sort.Strings(users)
		for _, u := range users {
			resp.Results = append(resp.Results, describe(u))
		}
		return network.Response{Msg: resp}, nil
	}
	count := map[string]int{}
	for _, u := range r.Users {
		count[u.Name]++
	}
	done := map[string]bool{}
	for _, u := range r.Users {
		if done[u.Name] {
			continue
		}
		done[u.Name] = true
		res := describe(u.Name)
		switch {
		case count[u.Name] > 1:
			res = kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.User = u.Name
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = msgPtr("Cannot describe SCRAM credentials for the same user twice in a single request")
		case len(res.CredentialInfos) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = msgPtr("Attempt to describe a user credential that does not exist")
		}
		resp.Results = append(resp.Results, res)
	}
	return network.Response{Msg: resp}, nil
}

func msgPtr(s string) *string { return &s }
