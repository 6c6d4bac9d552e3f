package broker

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/quota"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// quotaValueType is how Kafka's QuotaConfig defines a quota key: integral
// keys refuse fractions and values past their type's range.
type quotaValueType int

const (
	quotaDouble quotaValueType = iota
	quotaInt
	quotaLong
)

// userClientQuotaKeys are the keys of user and client-id entities,
// ipQuotaKeys those of IP entities (QuotaConfig.userAndClientQuotaConfigs,
// ipConfigs).
var (
	userClientQuotaKeys = map[string]quotaValueType{
		string(quota.ProducerByteRate):       quotaLong,
		string(quota.ConsumerByteRate):       quotaLong,
		string(quota.RequestPercentage):      quotaDouble,
		string(quota.ControllerMutationRate): quotaDouble,
	}
	ipQuotaKeys = map[string]quotaValueType{string(quota.ConnectionCreationRate): quotaInt}
)

// quotaEntityOf validates a request entity as Kafka's
// ClientQuotaControlManager does and returns it with the keys it takes.
func quotaEntityOf(ents []kmsg.AlterClientQuotasRequestEntryEntity) (controller.QuotaEntity, map[string]quotaValueType, error) {
	var e controller.QuotaEntity
	if len(ents) == 0 {
		return e, nil, kafkaErr(kerr.InvalidRequest, "Invalid empty client quota entity")
	}
	for _, d := range ents {
		var dst *quota.Name
		switch d.Type {
		case controller.QuotaEntityUser:
			dst = &e.User
		case controller.QuotaEntityClientID:
			dst = &e.ClientID
		case controller.QuotaEntityIP:
			dst = &e.IP
		default:
			return e, nil, kafkaErr(kerr.InvalidRequest, "Unhandled client quota entity type: %s", d.Type)
		}
		if dst.Set {
			return e, nil, kafkaErr(kerr.InvalidRequest, "Invalid client quota entity, duplicate entity entry %s", d.Type)
		}
		switch {
		case d.Name == nil:
			*dst = quota.DefaultName
		case *d.Name == "":
			return e, nil, kafkaErr(kerr.InvalidRequest, "Empty %s not supported", d.Type)
		default:
			*dst = quota.Named(*d.Name)
		}
	}
	if e.IP.Set {
		if e.User.Set || e.ClientID.Set {
			return e, nil, kafkaErr(kerr.InvalidRequest, "Invalid quota entity combination, IP entity should not be combined with User or ClientId")
		}
		if !e.IP.Default {
			if _, err := netip.ParseAddr(e.IP.Name); err != nil {
				return e, nil, kafkaErr(kerr.InvalidRequest, "%s is not a valid IP or resolvable host.", e.IP.Name)
			}
		}
		return e, ipQuotaKeys, nil
	}
	return e, userClientQuotaKeys, nil
}

// validateQuotaValue is Kafka's validateQuotaKeyValue.
func validateQuotaValue(keys map[string]quotaValueType, key string, v float64) error {
	typ, ok := keys[key]
	if !ok {
		return kafkaErr(kerr.InvalidRequest, "Invalid configuration key %s", key)
	}
	if !(v > 0) { // NaN too
		return kafkaErr(kerr.InvalidRequest, "Quota %s must be greater than 0", key)
	}
	switch typ {
	case quotaInt:
		if v > math.MaxInt32 {
			return kafkaErr(kerr.InvalidRequest, "Proposed value for %s is too large for an INT.", key)
		}
	case quotaLong:
		if v > math.MaxInt64 {
			return kafkaErr(kerr.InvalidRequest, "Proposed value for %s is too large for a LONG.", key)
		}
	default:
		return nil
	}
	if math.Abs(math.Mod(v, 1)) > 1e-6 {
		return kafkaErr(kerr.InvalidRequest, "%s cannot be a fractional value.", key)
	}
	return nil
}

// handleAlterClientQuotas validates each entry apart (an invalid entry
// fails alone, as in Kafka), writes the valid ones unless validate_only,
// and answers once this broker's snapshot shows them.
func (b *Broker) handleAlterClientQuotas(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.AlterClientQuotasRequest)
	resp := r.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	resp.Entries = make([]kmsg.AlterClientQuotasResponseEntry, len(r.Entries))
	for i, re := range r.Entries {
		resp.Entries[i] = kmsg.NewAlterClientQuotasResponseEntry()
		for _, d := range re.Entity {
			ent := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = d.Type, d.Name
			resp.Entries[i].Entity = append(resp.Entries[i].Entity, ent)
		}
	}
	fail := func(i int, err error) {
		resp.Entries[i].ErrorCode, resp.Entries[i].ErrorMessage = errorCode(err), errorMessage(err)
	}
	if !b.authorizeCluster(cc, kmsg.ACLOperationAlterConfigs) {
		for i := range resp.Entries {
			fail(i, kafkaErr(kerr.ClusterAuthorizationFailed, "%s", kerr.ClusterAuthorizationFailed.Description))
		}
		return network.Response{Msg: resp}, nil
	}
	var alts []controller.QuotaAlteration
	var at []int
	seen := map[controller.QuotaEntity]bool{}
	for i, re := range r.Entries {
		e, keys, err := quotaEntityOf(re.Entity)
		if err != nil {
			fail(i, err)
			continue
		}
		if seen[e] {
			fail(i, kafkaErr(kerr.InvalidRequest, "Ignoring duplicate entity %s", describeQuotaEntity(e)))
			continue
		}
		seen[e] = true
		alt := controller.QuotaAlteration{Entity: e, Set: map[string]float64{}}
		opKeys := map[string]bool{}
		for _, op := range re.Ops {
			if opKeys[op.Key] {
				err = kafkaErr(kerr.InvalidRequest, "Duplicate quota key %s not updating quota for this entity %s", op.Key, describeQuotaEntity(e))
				break
			}
			opKeys[op.Key] = true
			if op.Remove {
				alt.Remove = append(alt.Remove, op.Key)
				continue
			}
			if err = validateQuotaValue(keys, op.Key, op.Value); err != nil {
				break
			}
			alt.Set[op.Key] = op.Value
		}
		if err != nil {
			fail(i, err)
			continue
		}
		alts = append(alts, alt)
		at = append(at, i)
	}
	if r.ValidateOnly || len(alts) == 0 {
		return network.Response{Msg: resp}, nil
	}
	if err := b.writeQuotas(ctx, alts); err != nil {
		for _, i := range at {
			fail(i, err)
		}
		return network.Response{Msg: resp}, nil
	}
	for _, a := range alts {
		b.log.Info("client quotas altered", zap.String("principal", cc.Principal()), zap.String("entity", describeQuotaEntity(a.Entity)),
			zap.Any("set", a.Set), zap.Strings("removed", a.Remove))
	}
	return network.Response{Msg: resp}, nil
}

// writeQuotas stores the alterations and waits until this broker's
// snapshot (and so its enforcement) shows them.
func (b *Broker) writeQuotas(ctx context.Context, alts []controller.QuotaAlteration) error {
	ctx, cancel := context.WithTimeout(ctx, metadataWaitTimeout)
	defer cancel()
	rev, err := b.ctrl.AlterClientQuotas(ctx, alts)
	if err != nil {
		return fmt.Errorf("writing the client quotas to etcd: %w", err)
	}
	if rev == 0 {
		return nil // nothing changed
	}
	if err := b.ctrl.WaitRevision(ctx, rev); err != nil {
		return fmt.Errorf("client quotas written, not yet visible: %w", err)
	}
	b.quotas.update(b.ctrl.Snapshot())
	return nil
}

// describeQuotaEntity is Kafka's ClientQuotaEntity text, for messages.
func describeQuotaEntity(e controller.QuotaEntity) string {
	var parts []string
	for _, d := range e.Dimensions() {
		n := "null"
		if !d.Name.Default {
			n = d.Name.Name
		}
		parts = append(parts, d.Type+"="+n)
	}
	return "ClientQuotaEntity(entries={" + strings.Join(parts, ", ") + "})"
}
