package controller

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// groupConfigAttempts bounds the compare-and-swap retries of
// UpdateGroupConfigs when other writers keep changing the same group.
const groupConfigAttempts = 10

// UpdateGroupConfigs changes one group's dynamic configs (config resource
// GROUP; the group need not exist): change gets the configs as stored in
// etcd now (an empty map when none) and returns the new ones, or an error
// that is returned as is. The write is a compare-and-swap on the key's
// mod revision, retried with a fresh read when another writer changed the
// group in between, so concurrent incremental changes of different keys
// all survive (Kafka's controller applies them one after another). An
// empty result deletes the key. It returns the revision of the write.
func (c *Controller) UpdateGroupConfigs(ctx context.Context, group string, change func(current map[string]string) (map[string]string, error)) (int64, error) {
	if group == "" {
		return 0, kerrf(kerr.InvalidRequest, "Default group resources are not allowed.")
	}
	key := c.k.groupConfig(group)
	for range groupConfigAttempts {
		resp, err := c.cli.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("controller: read configs of group %q: %w", group, err)
		}
		cur := map[string]string{}
		var modRev int64
		if len(resp.Kvs) > 0 {
			modRev = resp.Kvs[0].ModRevision
			if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
				c.log.Warn("replacing a malformed group config value") // as the watch does, treat it as absent
				cur = map[string]string{}
			}
		}
		next, err := change(cur)
		if err != nil {
			return 0, err
		}
		op := clientv3.OpDelete(key)
		if len(next) > 0 {
			v, err := json.Marshal(next)
			if err != nil {
				return 0, err
			}
			op = clientv3.OpPut(key, string(v))
		}
		txn, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).Then(op).Commit()
		if err != nil {
			return 0, fmt.Errorf("controller: write configs of group %q: %w", group, err)
		}
		if txn.Succeeded {
			return txn.Header.Revision, nil
		}
	}
	return 0, kerrf(kerr.RequestTimedOut, "configs of group %q changed concurrently %d times; try again", group, groupConfigAttempts)
}
