package controller

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ScramCredential is one user's SCRAM credential for one mechanism, as
// Kafka keeps it in its metadata (UserScramCredentialRecord): the salt,
// the stored key and server key derived from the salted password, and the
// iteration count. Neither the password nor the salted password is kept.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
	Iterations int32  `json:"iterations"`
}

// ScramChange is one AlterUserScramCredentials item: Credential nil
// deletes the user's credential for Mechanism.
type ScramChange struct {
	User       string
	Mechanism  string
	Credential *ScramCredential
}

// ScramCredentialExists reads etcd (not the snapshot) for whether user has
// a credential for mechanism.
func (c *Controller) ScramCredentialExists(ctx context.Context, user, mechanism string) (bool, error) {
	resp, err := c.cli.Get(ctx, c.k.scram(mechanism, user), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("controller: read SCRAM credential: %w", err)
	}
	return resp.Count > 0, nil
}

// AlterScramCredentials applies the changes in one etcd transaction and
// returns its revision. Validation (mechanism, iterations, duplicates) is
// the caller's: Kafka reports it per user.
func (c *Controller) AlterScramCredentials(ctx context.Context, changes []ScramChange) (int64, error) {
	ops := make([]clientv3.Op, 0, len(changes))
	for _, ch := range changes {
		key := c.k.scram(ch.Mechanism, ch.User)
		if ch.Credential == nil {
			ops = append(ops, clientv3.OpDelete(key))
			continue
		}
		v, err := json.Marshal(ch.Credential)
		if err != nil {
			return 0, err
		}
		ops = append(ops, clientv3.OpPut(key, string(v)))
	}
	resp, err := c.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("controller: alter SCRAM credentials: %w", err)
	}
	return resp.Header.Revision, nil
}
