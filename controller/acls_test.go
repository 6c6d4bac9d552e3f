package controller

import (
	"fmt"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/runnel/runnel/security/authz"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestACLsExternalEtcd: ACL bindings are stored one a key, in chunks that
// an etcd with its default limits takes (250 bindings > 128 ops);
// creating a binding twice keeps one; deleting removes exactly the named
// bindings; every controller watching the store sees the same list.
func TestACLsExternalEtcd(t *testing.T) {
	url := testenv.StartEtcd(t)
	a := openExternal(t, url, 1, 5*time.Second)
	defer a.Close()
	b := openExternal(t, url, 2, 5*time.Second)
	defer b.Close()
	ctx := testCtx(t)

	var bs []authz.Binding
	for i := range 250 {
		bs = append(bs, authz.Binding{
			ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: fmt.Sprintf("tenant-%d.", i),
			PatternType: kmsg.ACLResourcePatternTypePrefixed, Principal: fmt.Sprintf("User:tenant-%d", i),
			Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow,
		})
	}
	rev, err := a.CreateACLs(ctx, bs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateACLs(ctx, bs[:10]); err != nil { // again: no duplicates
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "both controllers to see 250 ACLs", func() bool {
		return len(a.Snapshot().ACLs) == 250 && len(b.Snapshot().ACLs) == 250
	})
	got := b.Snapshot().ACLs
	seen := map[authz.Binding]bool{}
	for _, x := range got {
		seen[x] = true
	}
	for _, x := range bs {
		if !seen[x] {
			t.Fatalf("binding %v missing from the snapshot", x)
		}
	}

	if _, err := a.DeleteACLs(ctx, bs[:100]); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "150 ACLs left", func() bool {
		return len(a.Snapshot().ACLs) == 150 && len(b.Snapshot().ACLs) == 150
	})
	for _, x := range b.Snapshot().ACLs {
		for _, gone := range bs[:100] {
			if x == gone {
				t.Fatalf("deleted binding %v still listed", x)
			}
		}
	}
}
