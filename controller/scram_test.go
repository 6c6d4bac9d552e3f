package controller

import (
	"bytes"
	"testing"

	"github.com/runnel/runnel/internal/testenv"
)

// A SCRAM credential written through one controller reaches another
// broker's snapshot through the watch, and a deletion removes it.
func TestScramCredentialsWatched(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	a := openEmbedded(t, dir, 1)
	defer a.Close()
	b, err := Open(testCtx(t), Options{Endpoints: []string{a.emb.endpoint}, BrokerID: 2, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := testCtx(t)

	cred := ScramCredential{Salt: []byte("salt"), StoredKey: []byte("stored"), ServerKey: []byte("server"), Iterations: 4096}
	rev, err := a.AlterScramCredentials(ctx, []ScramChange{
		{User: "al/ice", Mechanism: "SCRAM-SHA-256", Credential: &cred},
		{User: "al/ice", Mechanism: "SCRAM-SHA-512", Credential: &cred},
		{User: "bob", Mechanism: "SCRAM-SHA-256", Credential: &cred},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	got := b.Snapshot().ScramCredentials
	if len(got) != 2 || len(got["al/ice"]) != 2 || got["bob"]["SCRAM-SHA-256"].Iterations != 4096 ||
		!bytes.Equal(got["al/ice"]["SCRAM-SHA-512"].StoredKey, []byte("stored")) {
		t.Fatalf("snapshot credentials %+v", got)
	}
	if ok, err := a.ScramCredentialExists(ctx, "al/ice", "SCRAM-SHA-512"); err != nil || !ok {
		t.Fatalf("exists: %v %v", ok, err)
	}
	rev, err = a.AlterScramCredentials(ctx, []ScramChange{{User: "al/ice", Mechanism: "SCRAM-SHA-256"}, {User: "bob", Mechanism: "SCRAM-SHA-256"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	got = b.Snapshot().ScramCredentials
	if len(got) != 1 || len(got["al/ice"]) != 1 || got["al/ice"]["SCRAM-SHA-512"].Iterations != 4096 {
		t.Fatalf("after delete %+v", got)
	}
	if ok, err := a.ScramCredentialExists(ctx, "bob", "SCRAM-SHA-256"); err != nil || ok {
		t.Fatalf("deleted credential exists: %v %v", ok, err)
	}
}
