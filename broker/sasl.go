package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/security/sasl"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"
)

// saslListeners builds the SASL requirements of every SASL_PLAINTEXT and
// SASL_SSL listener from the configuration. It refuses (an error that stops
// the broker) any SASL listener that would accept no one or anyone: no
// mechanism Runnel serves enabled, or PLAIN enabled without a JAAS entry
// holding user_<name> passwords. SCRAM users come from etcd, read at each
// authentication through snap.
func saslListeners(cfg *config.Broker, snap func() *controller.Snapshot, lg *zap.Logger) (map[string]*network.SASLListener, error) {
	out := map[string]*network.SASLListener{}
	for _, l := range cfg.Listeners {
		if !config.IsSASL(l.SecurityProtocol) {
			continue
		}
		sl, err := saslListener(cfg, l.Name, snap, lg)
		if err != nil {
			return nil, fmt.Errorf("broker: SASL listener %s: %w", l.Name, err)
		}
		out[l.Name] = sl
	}
	return out, nil
}

func saslListener(cfg *config.Broker, listener string, snap func() *controller.Snapshot, lg *zap.Logger) (*network.SASLListener, error) {
	var mechs, unsupported []string
	for _, m := range cfg.SASLEnabledMechanisms(listener) {
		switch {
		case slices.Contains(mechs, m):
		case sasl.Supported(m):
			mechs = append(mechs, m)
		default:
			unsupported = append(unsupported, m)
		}
	}
	if len(unsupported) > 0 {
		// Not offering a mechanism never lets anyone in: a client asking
		// for it gets UNSUPPORTED_SASL_MECHANISM.
		lg.Warn("SASL mechanisms not supported by Runnel are not offered", zap.String("listener", listener), zap.Strings("mechanisms", unsupported))
	}
	if len(mechs) == 0 {
		return nil, fmt.Errorf("no supported SASL mechanism enabled (enabled: %s); set sasl.enabled.mechanisms or listener.name.%s.sasl.enabled.mechanisms to PLAIN, SCRAM-SHA-256 and/or SCRAM-SHA-512 (GSSAPI, Kafka's default, is not supported)",
			strings.Join(unsupported, ","), strings.ToLower(listener))
	}
	sl := &network.SASLListener{
		Mechanisms:      mechs,
		SessionLifetime: time.Duration(cfg.ConnectionsMaxReauthMs()) * time.Millisecond,
		MaxReceiveSize:  cfg.SASLMaxReceiveSize(),
	}
	var plainUsers sasl.PlainUsers
	scramServers := map[string]*sasl.ScramServer{}
	for _, m := range mechs {
		switch {
		case m == sasl.Plain:
			j, key, err := jaasFor(cfg, listener, m)
			if err != nil {
				return nil, err
			}
			if key == "" {
				return nil, fmt.Errorf("PLAIN is enabled but has no JAAS configuration with user_<name>=\"<password>\" entries; set listener.name.%s.plain.sasl.jaas.config", strings.ToLower(listener))
			}
			plainUsers = j.PlainUsersFrom()
			if len(plainUsers) == 0 {
				return nil, fmt.Errorf("PLAIN is enabled but %s has no user_<name>=\"<password>\" entries, so no one could authenticate", key)
			}
		case sasl.IsScram(m):
			srv, err := sasl.NewScramServer(m, scramLookup(snap, m), nil)
			if err != nil {
				return nil, err
			}
			scramServers[m] = srv
		}
	}
	sl.NewSession = func(m string) (sasl.Session, bool) {
		switch {
		case !slices.Contains(mechs, m):
			return nil, false
		case m == sasl.Plain:
			return sasl.NewPlain(plainUsers), true
		case scramServers[m] != nil:
			return scramServers[m].NewSession(), true
		}
		return nil, false
	}
	return sl, nil
}

// scramLookup finds SCRAM credentials in the current metadata snapshot,
// so users altered through AlterUserScramCredentials on any broker apply
// at once.
func scramLookup(snap func() *controller.Snapshot, mechanism string) sasl.ScramLookup {
	return func(user string) (sasl.ScramCredential, bool) {
		c, ok := snap().ScramCredentials[user][mechanism]
		if !ok {
			return sasl.ScramCredential{}, false
		}
		return sasl.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: int(c.Iterations)}, true
	}
}

// jaasFor returns the JAAS entry for a listener and mechanism: the first of
// listener.name.<l>.<mechanism>.sasl.jaas.config and sasl.jaas.config whose
// login module is the mechanism's (key "" when there is none). A value that
// does not parse is an error naming its key, never its text.
func jaasFor(cfg *config.Broker, listener, mechanism string) (sasl.JAAS, string, error) {
	values, keys := cfg.SASLJAASConfigs(listener, mechanism)
	for i, v := range values {
		j, err := sasl.ParseJAAS(v)
		if err != nil {
			return sasl.JAAS{}, "", fmt.Errorf("%s: %w", keys[i], err)
		}
		if j.LoginModule == sasl.ModuleFor(mechanism) {
			return j, keys[i], nil
		}
		if i == 0 && keys[i] != config.SASLJAASConfigKey {
			return sasl.JAAS{}, "", fmt.Errorf("%s: login module %s does not serve %s (want %s)", keys[i], j.LoginModule, mechanism, sasl.ModuleFor(mechanism))
		}
	}
	return sasl.JAAS{}, "", nil
}

// interBrokerSASL is how this broker authenticates to other brokers: nil
// when the inter-broker listener does not use SASL. The mechanism is
// sasl.mechanism.inter.broker.protocol; the username and password come
// from that mechanism's JAAS entry on the inter-broker listener.
type interBrokerSASL struct {
	mechanism  string
	user, pass string
}

// franz returns the client side as a franz-go mechanism.
func (ib *interBrokerSASL) franz() fsasl.Mechanism {
	switch ib.mechanism {
	case sasl.ScramSHA256:
		return scram.Auth{User: ib.user, Pass: ib.pass}.AsSha256Mechanism()
	case sasl.ScramSHA512:
		return scram.Auth{User: ib.user, Pass: ib.pass}.AsSha512Mechanism()
	}
	return plain.Auth{User: ib.user, Pass: ib.pass}.AsMechanism()
}

func newInterBrokerSASL(cfg *config.Broker, listeners map[string]*network.SASLListener) (*interBrokerSASL, error) {
	name := cfg.InterBrokerListenerName
	var proto string
	for _, l := range cfg.AdvertisedListeners {
		if l.Name == name {
			proto = l.SecurityProtocol
		}
	}
	if !config.IsSASL(proto) {
		return nil, nil
	}
	m := cfg.SASLMechanismInterBroker()
	if !sasl.Supported(m) {
		return nil, fmt.Errorf("broker: inter-broker listener %s uses %s but sasl.mechanism.inter.broker.protocol is %s, which Runnel does not support; set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", name, proto, m)
	}
	if sl := listeners[name]; sl != nil && !slices.Contains(sl.Mechanisms, m) {
		return nil, fmt.Errorf("broker: sasl.mechanism.inter.broker.protocol %s must be enabled on the inter-broker listener %s (enabled: %s)", m, name, strings.Join(sl.Mechanisms, ","))
	}
	j, key, err := jaasFor(cfg, name, m)
	if err != nil {
		return nil, fmt.Errorf("broker: inter-broker SASL: %w", err)
	}
	user, pass, ok := j.ClientCredentials()
	if key == "" || !ok {
		return nil, fmt.Errorf("broker: inter-broker SASL %s needs username and password in listener.name.%s.%s.sasl.jaas.config (or sasl.jaas.config)", m, strings.ToLower(name), strings.ToLower(m))
	}
	if m == sasl.Plain {
		if want, ok := j.PlainUsersFrom()[user]; !ok || want != pass {
			return nil, fmt.Errorf("broker: inter-broker PLAIN user %s (username in %s) has no matching user_%s entry there, so brokers could not authenticate to each other", user, key, user)
		}
	}
	return &interBrokerSASL{mechanism: m, user: user, pass: pass}, nil
}

// ensureInterBrokerScramUser creates the inter-broker SCRAM user from its
// JAAS password when etcd has no credential for it yet: a new cluster whose
// brokers replicate over SCRAM needs that user before anyone could create
// it through AlterUserScramCredentials (Kafka's equivalent is
// kafka-storage format --add-scram). An existing credential is never
// overwritten.
func (b *Broker) ensureInterBrokerScramUser(ctx context.Context) error {
	ib := b.interBrokerSASL
	if ib == nil || !sasl.IsScram(ib.mechanism) {
		return nil
	}
	exists, err := b.ctrl.ScramCredentialExists(ctx, ib.user, ib.mechanism)
	if err != nil || exists {
		return err
	}
	c, err := sasl.NewScramCredential(ib.mechanism, ib.pass, sasl.ScramMinIterations)
	if err != nil {
		return err
	}
	rev, err := b.ctrl.AlterScramCredentials(ctx, []controller.ScramChange{{User: ib.user, Mechanism: ib.mechanism,
		Credential: &controller.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: int32(c.Iterations)}}})
	if err != nil {
		return err
	}
	b.log.Info("created the inter-broker SCRAM user from its JAAS configuration", zap.String("user", ib.user), zap.String("mechanism", ib.mechanism))
	return b.ctrl.WaitRevision(ctx, rev)
}
