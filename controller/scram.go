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

// AlterScramCredentials applies the changes and returns the revision of
// the last write. Validation (mechanism, iterations, duplicates) is the
// caller's: Kafka reports it per user. Up to 100 changes (and 512 KiB)
// go in one etcd transaction; a bigger batch is written in several, in
// order, so that an etcd with its default limits (128 operations, 1.5 MiB
// per request) accepts any batch. Each change is one key, so a reader
// never sees a half-written credential; it may see the first part of a
// big batch applied before the rest, as Kafka's clients may.
func (c *Controller) AlterScramCredentials(ctx context.Context, changes []ScramChange) (int64, error) {
	var rev int64
	ops := make([]clientv3.Op, 0, min(len(changes), chunkOps))
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		resp, err := c.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("controller: alter SCRAM credentials: %w", err)
		}
		rev, ops, size = resp.Header.Revision, ops[:0], 0
		return nil
	}
	for _, ch := range changes {
		key := c.k.scram(ch.Mechanism, ch.User)
		op, n := clientv3.OpDelete(key), len(key)
		if ch.Credential != nil {
			v, err := json.Marshal(ch.Credential)
			if err != nil {
				return 0, err
			}
			op, n = clientv3.OpPut(key, string(v)), len(key)+len(v)
		}
		if len(ops) == chunkOps || (len(ops) > 0 && size+n > chunkBytes) {
			if err := flush(); err != nil {
				return 0, err
			}
		}
		ops, size = append(ops, op), size+n
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return rev, nil
}
