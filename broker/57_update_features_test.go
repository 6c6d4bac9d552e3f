package broker

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// finalizedOf lists the finalized features of an ApiVersions answer.
func finalizedOf(r *kmsg.ApiVersionsResponse) string {
	var out []string
	for _, f := range r.FinalizedFeatures {
		out = append(out, fmt.Sprintf("%s=%d", f.Name, f.MaxVersionLevel))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// TestUpdateFeatures: a new cluster finalizes Kafka 4's defaults
// (transaction.version 2, group.version 1); UpdateFeatures validates as
// Kafka's FeatureControlManager (INVALID_UPDATE_VERSION with Kafka's
// messages for a downgrade typed UPGRADE, an unknown feature, a level out
// of range, an upgrade typed as a downgrade); validate_only writes
// nothing; safe downgrades and upgrades take effect in the next
// ApiVersions of every broker of a three-broker cluster, with a growing
// epoch. kadm (v2) and sarama (v0, AllowDowngrade) drive it.
func TestUpdateFeatures(t *testing.T) {
	url := testenv.StartEtcd(t)
	bs := startClusterBrokers(t, url, 3, t.TempDir())
	t.Cleanup(func() {
		for _, b := range bs {
			b.Close()
		}
	})
	ctx := testCtx(t)
	adm := kadm.NewClient(bs[0].client(t))

	describe := func(tb *testBroker) *kmsg.ApiVersionsResponse {
		t.Helper()
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "t", "1"
		resp, err := req.RequestWith(ctx, tb.client(t))
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions: %v %+v", err, resp)
		}
		return resp
	}
	everywhere := func(want string) int64 {
		t.Helper()
		var epoch int64
		for _, tb := range bs {
			testenv.Eventually(t, fmt.Sprintf("broker %d finalizes %s", tb.ID(), want), func() bool {
				r := describe(tb)
				epoch = r.FinalizedFeaturesEpoch
				return finalizedOf(r) == want
			})
		}
		return epoch
	}
	first := describe(bs[0])
	if got := finalizedOf(first); got != "group.version=1,transaction.version=2" || first.FinalizedFeaturesEpoch <= 0 {
		t.Fatalf("new cluster finalizes %q at epoch %d", got, first.FinalizedFeaturesEpoch)
	}
	var sup []string
	for _, f := range first.SupportedFeatures {
		sup = append(sup, fmt.Sprintf("%s:%d-%d", f.Name, f.MinVersion, f.MaxVersion))
	}
	if fmt.Sprint(sup) != "[group.version:0-1 share.version:0-1 transaction.version:0-2]" {
		t.Fatalf("supported %v", sup)
	}

	// kgo sends UpdateFeatures to the controller, which names itself in
	// the refusal as Kafka's does.
	ctrlID := bs[0].ctrl.Snapshot().ControllerID
	refused := func(name string, u kadm.FeatureUpdate, wantMsg string) {
		t.Helper()
		req := kmsg.NewPtrUpdateFeaturesRequest()
		req.TimeoutMillis = 5000
		ru := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		ru.Feature, ru.MaxVersionLevel, ru.UpgradeType = u.Feature, u.MaxVersionLevel, u.UpgradeType
		req.FeatureUpdates = append(req.FeatureUpdates, ru)
		resp, err := req.RequestWith(ctx, bs[1].client(t))
		if err != nil || resp.ErrorCode != kerr.InvalidUpdateVersion.Code || resp.ErrorMessage == nil || *resp.ErrorMessage != wantMsg {
			t.Fatalf("%s: %v code %d message %v, want INVALID_UPDATE_VERSION %q", name, err, resp.ErrorCode, resp.ErrorMessage, wantMsg)
		}
		res, err := adm.UpdateFeatures(ctx, false, u)
		if err != nil || !errors.Is(res[u.Feature].Err, kerr.InvalidUpdateVersion) {
			t.Fatalf("%s through kadm: %v %+v", name, err, res)
		}
	}
	refused("downgrade typed upgrade", kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 1, UpgradeType: 1},
		"Invalid update version 1 for feature transaction.version. Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.")
	refused("unknown feature", kadm.FeatureUpdate{Feature: "no.such.version", MaxVersionLevel: 1, UpgradeType: 1},
		fmt.Sprintf("Invalid update version 1 for feature no.such.version. Local controller %d does not support this feature.", ctrlID))
	refused("out of range", kadm.FeatureUpdate{Feature: "group.version", MaxVersionLevel: 2, UpgradeType: 1},
		fmt.Sprintf("Invalid update version 2 for feature group.version. Local controller %d only supports versions 0-1", ctrlID))
	refused("unknown upgrade type", kadm.FeatureUpdate{Feature: "group.version", MaxVersionLevel: 1, UpgradeType: 9},
		"Invalid update version 1 for feature group.version. The controller does not support the given upgrade type.")

	// validate_only: accepted, nothing written.
	res, err := adm.UpdateFeatures(ctx, true, kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 0, UpgradeType: 2})
	if err != nil || res.Error() != nil {
		t.Fatalf("validate only: %v %+v", err, res)
	}
	if got := finalizedOf(describe(bs[2])); got != "group.version=1,transaction.version=2" {
		t.Fatalf("validate_only changed the levels: %s", got)
	}

	// A safe downgrade through kadm, seen by every broker.
	res, err = adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 1, UpgradeType: 2})
	if err != nil || res.Error() != nil {
		t.Fatalf("safe downgrade: %v %+v", err, res)
	}
	e1 := everywhere("group.version=1,transaction.version=1")
	if e1 <= first.FinalizedFeaturesEpoch {
		t.Fatalf("epoch %d after the change, %d before", e1, first.FinalizedFeaturesEpoch)
	}
	// An upgrade typed as a downgrade is refused.
	refused("upgrade typed downgrade", kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 2, UpgradeType: 3},
		"Invalid update version 2 for feature transaction.version. Can't downgrade to a newer version.")

	// sarama speaks v0: AllowDowngrade false refuses a downgrade, true
	// deletes the feature (level 0), and an upgrade brings it back.
	sa := bs[2].saramaAdmin(t)
	if _, err := sa.UpdateFeatures([]sarama.FeatureUpdate{{Feature: "group.version", MaxVersionLevel: 0}}); !errors.Is(err, sarama.ErrInvalidUpdateVersion) {
		t.Fatalf("sarama downgrade without AllowDowngrade: %v", err)
	}
	if _, err := sa.UpdateFeatures([]sarama.FeatureUpdate{{Feature: "group.version", MaxVersionLevel: 0, AllowDowngrade: true}}); err != nil {
		t.Fatalf("sarama delete: %v", err)
	}
	everywhere("transaction.version=1")
	if _, err := sa.UpdateFeatures([]sarama.FeatureUpdate{{Feature: "group.version", MaxVersionLevel: 1}, {Feature: "transaction.version", MaxVersionLevel: 2}}); err != nil {
		t.Fatalf("sarama upgrade: %v", err)
	}
	everywhere("group.version=1,transaction.version=2")
	// sarama's own view of the features: ApiVersions v3.
	br := sarama.NewBroker(bs[1].addr)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	if err := br.Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	av, err := br.ApiVersions(&sarama.ApiVersionsRequest{Version: 3, ClientSoftwareName: "sarama", ClientSoftwareVersion: "1"})
	if err != nil || av.FinalizedFeaturesEpoch <= e1 {
		t.Fatalf("sarama ApiVersions: %v %+v", err, av)
	}
	var fin []string
	for _, f := range av.FinalizedFeatures {
		fin = append(fin, fmt.Sprintf("%s=%d", f.Name, f.MaxVersionLevel))
	}
	sort.Strings(fin)
	if strings.Join(fin, ",") != "group.version=1,transaction.version=2" {
		t.Fatalf("sarama finalized %v", fin)
	}
}
