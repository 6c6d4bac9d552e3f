package broker

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/security/tlsconfig"
)

// isTLS reports whether a security protocol runs over TLS.
func isTLS(protocol string) bool { return protocol == "SSL" || protocol == "SASL_SSL" }

// serverListeners turns the configured listeners into the Server's, with
// a TLS configuration (from the listener's ssl.* keys) for every SSL and
// SASL_SSL listener. A TLS listener whose key store is missing or
// unreadable is an error: Kafka refuses to start in that case too, and
// serving it in plaintext instead would be worse.
func serverListeners(cfg *config.Broker) ([]network.Listener, error) {
	out := make([]network.Listener, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		sl := network.Listener{Name: l.Name, Addr: l.Addr()}
		if isTLS(l.SecurityProtocol) {
			keys := cfg.SSLKeys(l.Name)
			// KIP-684: on SASL_SSL the client is authenticated by SASL, so
			// ssl.client.auth applies there only when set for that listener.
			if _, own := cfg.Raw["listener.name."+strings.ToLower(l.Name)+".ssl.client.auth"]; l.SecurityProtocol == "SASL_SSL" && !own {
				keys[tlsconfig.ClientAuth] = "none"
			}
			if v := keys["ssl.engine.factory.class"]; v != "" {
				return nil, fmt.Errorf("broker: listener %s: ssl.engine.factory.class (%s) is a Java plug-in; Runnel cannot load it", l.Name, v)
			}
			tc, err := tlsconfig.Server(keys)
			if err != nil {
				return nil, fmt.Errorf("broker: %s listener %s: %w%s", l.SecurityProtocol, l.Name, err, confluentHint(cfg))
			}
			rules, err := tlsconfig.ParseMappingRules(keys[tlsconfig.PrincipalMappingRules])
			if err != nil {
				return nil, fmt.Errorf("broker: listener %s: %w", l.Name, err)
			}
			sl.TLS, sl.PrincipalRules = tc, rules
		}
		out = append(out, sl)
	}
	return out, nil
}

// interBrokerTLS is the client configuration this broker dials other
// brokers' inter-broker listener with, or nil when that listener is not
// TLS. As in Kafka it comes from that listener's ssl.* keys: the trust
// store to check the other broker's certificate, and the key store to
// answer ssl.client.auth.
func interBrokerTLS(cfg *config.Broker) (*tls.Config, error) {
	for _, l := range cfg.AdvertisedListeners {
		if l.Name != cfg.InterBrokerListenerName || !isTLS(l.SecurityProtocol) {
			continue
		}
		tc, err := tlsconfig.Client(cfg.SSLKeys(l.Name))
		if err != nil {
			return nil, fmt.Errorf("broker: inter-broker listener %s (client side): %w", l.Name, err)
		}
		return tc, nil
	}
	return nil, nil
}

// confluentHint explains, after a key store error, that the Confluent
// image's KAFKA_SSL_*_FILENAME and *_CREDENTIALS variables (which its
// start script turns into paths under /etc/kafka/secrets and passwords
// read from files there) are not read by Runnel.
func confluentHint(cfg *config.Broker) string {
	for _, k := range []string{"ssl.keystore.filename", "ssl.keystore.credentials", "ssl.key.credentials", "ssl.truststore.filename", "ssl.truststore.credentials"} {
		if _, ok := cfg.Raw[k]; ok {
			return "; KAFKA_SSL_*_FILENAME and KAFKA_SSL_*_CREDENTIALS are the Confluent image's own variables, which Runnel does not read: set KAFKA_SSL_KEYSTORE_LOCATION, KAFKA_SSL_KEYSTORE_PASSWORD, KAFKA_SSL_KEY_PASSWORD (and the TRUSTSTORE ones) instead"
		}
	}
	return ""
}
