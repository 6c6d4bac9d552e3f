package controller

import (
	"errors"
	"maps"
	"strconv"
	"sync"
	"testing"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Group configs written through one controller reach another broker's
// snapshot through the watch; concurrent changes of different keys of one
// group all survive; an empty result deletes the group's key.
func TestGroupConfigsWatched(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	a := openEmbedded(t, dir, 1)
	defer a.Close()
	b, err := Open(testCtx(t), Options{Endpoints: []string{a.emb.endpoint}, BrokerID: 2, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := testCtx(t)

	set := func(k, v string) func(map[string]string) (map[string]string, error) {
		return func(cur map[string]string) (map[string]string, error) {
			cur[k] = v
			return cur, nil
		}
	}
	rev, err := a.UpdateGroupConfigs(ctx, "app/one", set("consumer.session.timeout.ms", "50000"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot().GroupConfigs; len(got) != 1 || got["app/one"]["consumer.session.timeout.ms"] != "50000" {
		t.Fatalf("snapshot %v", got)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.UpdateGroupConfigs(ctx, "app/one", set("k"+strconv.Itoa(i), "v"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rev, err = a.UpdateGroupConfigs(ctx, "app/one", func(cur map[string]string) (map[string]string, error) {
		if len(cur) != 9 {
			return nil, errors.New("lost an update: " + strconv.Itoa(len(cur)))
		}
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot().GroupConfigs["app/one"]; len(got) != 9 {
		t.Fatalf("snapshot after concurrent updates %v", got)
	}

	// A change that fails writes nothing; an empty result deletes.
	boom := errors.New("refused")
	if _, err := a.UpdateGroupConfigs(ctx, "app/one", func(map[string]string) (map[string]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("failed change: %v", err)
	}
	rev, err = a.UpdateGroupConfigs(ctx, "app/one", func(cur map[string]string) (map[string]string, error) {
		maps.DeleteFunc(cur, func(string, string) bool { return true })
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot().GroupConfigs; len(got) != 0 {
		t.Fatalf("after delete %v", got)
	}
	if _, err := a.UpdateGroupConfigs(ctx, "", set("a", "b")); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("empty group name: %v", err)
	}
}
