package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// UpdateFeatures (key 57), v0–v2: finalizes feature levels for the whole
// cluster (KIP-584; `kafka-features upgrade|downgrade`, kadm's and sarama's
// UpdateFeatures). The request needs ALTER on the cluster. As Kafka's
// FeatureControlManager does, every update is checked before anything is
// written and the request succeeds or fails as a whole:
//
//   - an unknown upgrade type, a negative level, a feature this software
//     does not support or a level outside its range, a downgrade with
//     upgrade type UPGRADE (v0: AllowDowngrade false) and an "upgrade"
//     with a downgrade type are INVALID_UPDATE_VERSION, with Kafka's
//     message "Invalid update version <v> for feature <name>. <reason>";
//   - a feature named twice is INVALID_REQUEST;
//   - validate_only (v1+) stops after the checks.
//
// A level of 0 removes the feature from the finalized set. The levels live
// in etcd (controller/features.go), written with compare-and-swap on the
// key's revision; the answer waits until this broker's metadata shows the
// write, and every broker's ApiVersions follows it through the watch.
// v0–v1 answer a result per feature (each with the request's outcome), v2
// only the top-level error, as Kafka's QuorumController does.
const updateFeaturesMaxVersion int16 = 2

// Kafka's FeatureUpdate.UpgradeType codes (UpdateFeatures v1+).
const (
	featureUpgrade         int8 = 1
	featureSafeDowngrade   int8 = 2
	featureUnsafeDowngrade int8 = 3
)

func (b *Broker) handleUpdateFeatures(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.UpdateFeaturesRequest)
	var code int16
	var msg string
	if !b.authorizeCluster(cc, kmsg.ACLOperationAlter) {
		code = kerr.ClusterAuthorizationFailed.Code
	} else {
		err := b.updateFeatures(ctx, r)
		var fe *featureError
		switch {
		case err == nil:
		case errors.As(err, &fe):
			code, msg = fe.code.Code, fe.msg
		case ctx.Err() != nil:
			return network.Response{}, ctx.Err()
		default:
			b.log.Warn("UpdateFeatures failed", zap.Error(err))
			code = errorCode(err)
		}
	}
	resp := r.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	resp.ErrorCode = code
	if msg != "" {
		resp.ErrorMessage = &msg
	}
	if req.Version < 2 {
		for _, u := range r.FeatureUpdates {
			res := kmsg.NewUpdateFeaturesResponseResult()
			res.Feature, res.ErrorCode, res.ErrorMessage = u.Feature, code, resp.ErrorMessage
			resp.Results = append(resp.Results, res)
		}
	}
	return network.Response{Msg: resp}, nil
}

// featureError is a refusal the client is told with its message.
type featureError struct {
	code *kerr.Error
	msg  string
}

func (e *featureError) Error() string { return e.code.Message + ": " + e.msg }

// updateFeatures validates r against the finalized levels and writes the
// result unless r is validate-only. A concurrent writer is retried a few
// times against the levels it left.
func (b *Broker) updateFeatures(ctx context.Context, r *kmsg.UpdateFeaturesRequest) error {
	seen := map[string]bool{}
	for _, u := range r.FeatureUpdates {
		if seen[u.Feature] {
			return &featureError{kerr.InvalidRequest, fmt.Sprintf("Feature %s appears more than once in the request.", u.Feature)}
		}
		seen[u.Feature] = true
	}
	for attempt := 0; ; attempt++ {
		cur := b.ctrl.Snapshot().Features
		next, err := b.proposeFeatures(cur, r)
		if err != nil || r.ValidateOnly || len(r.FeatureUpdates) == 0 {
			return err
		}
		if maps.Equal(next, cur.Levels) && cur.Epoch >= 0 {
			return nil // nothing changes
		}
		rev, err := b.ctrl.SetFeatures(ctx, cur.Epoch, next)
		if errors.Is(err, controller.ErrFeaturesChanged) && attempt < 5 {
			continue
		}
		if err != nil {
			return err
		}
		b.log.Info("finalized features updated", zap.Any("levels", next), zap.Int64("epoch", rev))
		return b.ctrl.WaitRevision(ctx, rev)
	}
}

// proposeFeatures applies r's updates to cur, checking each as Kafka's
// FeatureControlManager.updateFeature does.
func (b *Broker) proposeFeatures(cur controller.FinalizedFeatures, r *kmsg.UpdateFeaturesRequest) (map[string]int16, error) {
	next := maps.Clone(cur.Levels)
	if next == nil {
		next = map[string]int16{}
	}
	for _, u := range r.FeatureUpdates {
		upgradeType := u.UpgradeType
		if r.Version == 0 {
			upgradeType = featureUpgrade
			if u.AllowDowngrade {
				upgradeType = featureSafeDowngrade
			}
		}
		level := u.MaxVersionLevel
		refuse := func(reason string) error {
			return &featureError{kerr.InvalidUpdateVersion, fmt.Sprintf("Invalid update version %d for feature %s. %s", level, u.Feature, reason)}
		}
		if upgradeType < featureUpgrade || upgradeType > featureUnsafeDowngrade {
			return nil, refuse("The controller does not support the given upgrade type.")
		}
		current := cur.Level(u.Feature)
		if level < 0 {
			return nil, refuse("A feature version cannot be less than 0.")
		}
		fr, known := controller.SupportedFeature(u.Feature)
		switch {
		case !known && level > 0:
			return nil, refuse(fmt.Sprintf("Local controller %d does not support this feature.", b.id))
		case known && (level < fr.Min || level > fr.Max):
			return nil, refuse(fmt.Sprintf("Local controller %d only supports versions %d-%d", b.id, fr.Min, fr.Max))
		}
		if level < current && upgradeType == featureUpgrade {
			return nil, refuse("Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.")
		}
		if level > current && upgradeType != featureUpgrade {
			return nil, refuse("Can't downgrade to a newer version.")
		}
		if level == 0 {
			delete(next, u.Feature)
		} else {
			next[u.Feature] = level
		}
	}
	return next, nil
}

// networkFeatures is what ApiVersions reports: the supported ranges and
// the cluster's finalized levels from the current metadata.
func (b *Broker) networkFeatures() network.Features {
	f := b.ctrl.Snapshot().Features
	out := network.Features{Finalized: f.Levels, Epoch: f.Epoch}
	for _, s := range controller.SupportedFeatures() {
		out.Supported = append(out.Supported, network.SupportedFeature{Name: s.Name, Min: s.Min, Max: s.Max})
	}
	return out
}

// transactionVersion is the finalized transaction.version.
func (b *Broker) transactionVersion() int16 {
	return b.ctrl.Snapshot().Features.Level(controller.FeatureTransactionVersion)
}
