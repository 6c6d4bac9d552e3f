package config

import (
	"strings"
)

// SASL keys. Mechanism-specific and listener-specific variants are
// prefixed as Kafka prefixes them: listener.name.<listener lower-case>.
// sasl.enabled.mechanisms and listener.name.<listener>.<mechanism
// lower-case>.sasl.jaas.config.
const (
	SASLEnabledMechanismsKey   = "sasl.enabled.mechanisms"
	SASLInterBrokerMechanism   = "sasl.mechanism.inter.broker.protocol"
	SASLJAASConfigKey          = "sasl.jaas.config"
	SASLServerMaxReceiveSize   = "sasl.server.max.receive.size"
	ConnectionsMaxReauthMsKey  = "connections.max.reauth.ms"
	saslListenerJAASSuffix     = ".sasl.jaas.config"
	saslListenerMechanismsPart = "sasl.enabled.mechanisms"
)

// saslDefs are the SASL broker keys, appended to brokerDefs.
var saslDefs = []Def{
	{Name: SASLEnabledMechanismsKey, Type: List, Default: "GSSAPI", Doc: `SASL mechanisms enabled on SASL listeners (per listener: listener.name.<listener>.sasl.enabled.mechanisms). Runnel serves PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; other names (Kafka's default GSSAPI, OAUTHBEARER) are not offered and are logged at start, and a SASL listener left with no mechanism Runnel serves stops the broker from starting.`},
	{Name: SASLInterBrokerMechanism, Type: String, Default: "GSSAPI", Doc: `SASL mechanism brokers use between themselves when the inter-broker listener is SASL_PLAINTEXT or SASL_SSL. It must be enabled on that listener and have a JAAS entry with username and password; GSSAPI (the default) is not supported, so such a cluster must set it.`},
	{Name: SASLJAASConfigKey, Type: Password, Null: true, Sensitive: true, Doc: `JAAS login module configuration for SASL, used for a listener and mechanism that have no listener.name.<listener>.<mechanism>.sasl.jaas.config and whose login module matches the mechanism (PlainLoginModule: user_<name>="<password>" entries are PLAIN's users; username/password are what this broker sends to other brokers).`},
	{Name: SASLServerMaxReceiveSize, Type: Int, Default: "524288", Validate: atLeast(1), Doc: `Largest request a client may send before it has authenticated on a SASL listener.`},
	{Name: ConnectionsMaxReauthMsKey, Type: Long, Default: "0", Validate: atLeast(0), Doc: `Longest a SASL session lasts before the client must re-authenticate (KIP-368); SaslAuthenticate reports it as session_lifetime_ms and a connection whose session expired is closed on its next request. 0 disables it.`},
}

// listenerScoped splits "listener.name.<l>.<rest>" into the upper-cased
// listener name and rest.
func listenerScoped(key string) (listener, rest string, ok bool) {
	s, found := strings.CutPrefix(key, listenerPrefix)
	if !found {
		return "", "", false
	}
	l, rest, ok := strings.Cut(s, ".")
	if !ok || l == "" || rest == "" {
		return "", "", false
	}
	return strings.ToUpper(l), rest, true
}

// listenerSASLDef returns the definition that checks a listener-scoped
// SASL key (listener.name.<l>.sasl.enabled.mechanisms or
// listener.name.<l>.<mechanism>.sasl.jaas.config), or nil for any other
// key.
func listenerSASLDef(key string) *Def {
	_, rest, ok := listenerScoped(key)
	if !ok {
		return nil
	}
	if rest == saslListenerMechanismsPart {
		return &Def{Name: key, Type: List}
	}
	if mech, ok := strings.CutSuffix(rest, saslListenerJAASSuffix); ok && mech != "" && !strings.Contains(mech, ".") {
		return &Def{Name: key, Type: Password, Sensitive: true}
	}
	return nil
}

// SASLEnabledMechanisms returns the mechanisms enabled on a listener, as
// given (upper-cased): listener.name.<listener>.sasl.enabled.mechanisms,
// else sasl.enabled.mechanisms.
func (b *Broker) SASLEnabledMechanisms(listener string) []string {
	v, ok := b.listenerRaw(listener, saslListenerMechanismsPart)
	if !ok {
		v, _ = b.Get(SASLEnabledMechanismsKey)
	}
	out := SplitList(v)
	for i := range out {
		out[i] = strings.ToUpper(out[i])
	}
	return out
}

// SASLJAASConfigs returns the JAAS values that may configure mechanism on
// listener, most specific first, each with the key it came from:
// listener.name.<listener>.<mechanism>.sasl.jaas.config, then
// sasl.jaas.config. The caller picks the first whose login module fits.
func (b *Broker) SASLJAASConfigs(listener, mechanism string) (values, keys []string) {
	if v, k, ok := b.listenerRawKey(listener, strings.ToLower(mechanism)+saslListenerJAASSuffix); ok {
		values, keys = append(values, v), append(keys, k)
	}
	if v, ok := b.Raw[SASLJAASConfigKey]; ok {
		values, keys = append(values, v), append(keys, SASLJAASConfigKey)
	}
	return values, keys
}

// SASLMechanismInterBroker is sasl.mechanism.inter.broker.protocol.
func (b *Broker) SASLMechanismInterBroker() string {
	v, _ := b.Get(SASLInterBrokerMechanism)
	return strings.ToUpper(strings.TrimSpace(v))
}

// SASLMaxReceiveSize is sasl.server.max.receive.size.
func (b *Broker) SASLMaxReceiveSize() int32 { return getter{b}.i32(SASLServerMaxReceiveSize) }

// ConnectionsMaxReauthMs is connections.max.reauth.ms.
func (b *Broker) ConnectionsMaxReauthMs() int64 { return getter{b}.i64(ConnectionsMaxReauthMsKey) }

// IsSASL reports whether a security protocol authenticates with SASL.
func IsSASL(securityProtocol string) bool {
	return securityProtocol == "SASL_PLAINTEXT" || securityProtocol == "SASL_SSL"
}

func (b *Broker) listenerRaw(listener, rest string) (string, bool) {
	v, _, ok := b.listenerRawKey(listener, rest)
	return v, ok
}

// listenerRawKey finds listener.name.<listener>.<rest>, matching the
// listener name case-insensitively (Kafka writes it lower-case; the
// environment mapping lower-cases it too).
func (b *Broker) listenerRawKey(listener, rest string) (value, key string, ok bool) {
	want := listenerPrefix + strings.ToLower(listener) + "." + rest
	if v, ok := b.Raw[want]; ok {
		return v, want, true
	}
	for k, v := range b.Raw {
		if l, r, ok := listenerScoped(k); ok && l == strings.ToUpper(listener) && r == rest {
			return v, k, true
		}
	}
	return "", "", false
}
