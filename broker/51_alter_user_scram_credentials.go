package broker

import (
	"context"
	"sort"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/sasl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const alterUserScramCredentialsMaxVersion int16 = 0

// handleAlterUserScramCredentials applies KIP-554 deletions and upsertions
// with the checks of Kafka's ScramControlManager, per user: a user named
// more than once in the request is DUPLICATE_RESOURCE (and none of its
// changes apply), an empty name or an iteration count outside
// 4096..16384 is UNACCEPTABLE_CREDENTIAL, an unknown mechanism
// UNSUPPORTED_SASL_MECHANISM, deleting a credential that does not exist
// RESOURCE_NOT_FOUND. The accepted changes go to etcd in one transaction as
// salt, stored key and server key — the salted password is not kept — and
// the answer waits until this broker's snapshot has them.
func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := r.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	if !b.authorizeCluster(cc, kmsg.ACLOperationAlter) {
		// Kafka: every user asked about refused; nothing is changed.
		seen := map[string]bool{}
		for _, name := range alteredUsers(r) {
			if !seen[name] {
				seen[name] = true
				res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				res.User, res.ErrorCode = name, kerr.ClusterAuthorizationFailed.Code
				resp.Results = append(resp.Results, res)
			}
		}
		return network.Response{Msg: resp}, nil
	}
	errs := map[string]*kerr.Error{}
	msgs := map[string]string{}
	fail := func(user string, e *kerr.Error, msg string) { errs[user], msgs[user] = e, msg }
	changes := map[string]controller.ScramChange{}
	var order []string
	seen := func(user string) bool {
		if errs[user] != nil {
			return true
		}
		if _, dup := changes[user]; dup {
			delete(changes, user)
			fail(user, kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
			return true
		}
		return false
	}
	valid := func(user string, mech int8) (string, bool) {
		if user == "" {
			fail(user, kerr.UnacceptableCredential, "Username must not be empty")
			return "", false
		}
		name, ok := scramMechanisms[mech]
		if !ok {
			fail(user, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
			return "", false
		}
		return name, true
	}
	for _, d := range r.Deletions {
		if seen(d.Name) {
			continue
		}
		mech, ok := valid(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		exists, err := b.ctrl.ScramCredentialExists(ctx, d.Name, mech)
		if err != nil {
			return network.Response{}, err
		}
		if !exists {
			fail(d.Name, kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
			continue
		}
		changes[d.Name] = controller.ScramChange{User: d.Name, Mechanism: mech}
		order = append(order, d.Name)
	}
	for _, u := range r.Upsertions {
		if seen(u.Name) {
			continue
		}
		mech, ok := valid(u.Name, u.Mechanism)
		if !ok {
			continue
		}
		switch {
		case u.Iterations < sasl.ScramMinIterations:
			fail(u.Name, kerr.UnacceptableCredential, "Too few iterations")
			continue
		case u.Iterations > sasl.ScramMaxIterations:
			fail(u.Name, kerr.UnacceptableCredential, "Too many iterations")
			continue
		case len(u.SaltedPassword) == 0 || len(u.Salt) == 0:
			fail(u.Name, kerr.UnacceptableCredential, "Salt and salted password must not be empty")
			continue
		}
		c, err := sasl.CredentialFromSaltedPassword(mech, u.SaltedPassword, u.Salt, int(u.Iterations))
		if err != nil {
			fail(u.Name, kerr.UnacceptableCredential, err.Error())
			continue
		}
		changes[u.Name] = controller.ScramChange{User: u.Name, Mechanism: mech, Credential: &controller.ScramCredential{
			Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: u.Iterations}}
		order = append(order, u.Name)
	}
	var apply []controller.ScramChange
	for _, user := range order {
		if ch, ok := changes[user]; ok {
			apply = append(apply, ch)
		}
	}
	if len(apply) > 0 {
		rev, err := b.ctrl.AlterScramCredentials(ctx, apply)
		if err != nil {
			for _, ch := range apply {
				fail(ch.User, kerr.UnknownServerError, err.Error())
			}
			apply = nil
		} else if err := b.ctrl.WaitRevision(ctx, rev); err != nil {
			return network.Response{}, err
		}
	}
	for _, ch := range apply {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = ch.User
		resp.Results = append(resp.Results, res)
	}
	failed := make([]string, 0, len(errs))
	for u := range errs {
		failed = append(failed, u)
	}
	sort.Strings(failed)
	for _, u := range failed {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode, res.ErrorMessage = u, errs[u].Code, msgPtr(msgs[u])
		resp.Results = append(resp.Results, res)
	}
	return network.Response{Msg: resp}, nil
}

// alteredUsers lists the users of a request's deletions and upsertions, in
// request order.
func alteredUsers(r *kmsg.AlterUserSCRAMCredentialsRequest) []string {
	var names []string
	for _, d := range r.Deletions {
		names = append(names, d.Name)
	}
	for _, u := range r.Upsertions {
		names = append(names, u.Name)
	}
	return names
}
