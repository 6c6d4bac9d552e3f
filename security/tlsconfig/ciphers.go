package tlsconfig

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
)

// protocolVersions are the names Java (and so Kafka) gives the TLS
// versions Go implements. SSLv3 and older are gone from both.
var protocolVersions = map[string]uint16{
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// applyProtocols sets the version range from ssl.enabled.protocols (Go
// takes a range, so a list with a hole in it enables the hole too) and the
// cipher suites from ssl.cipher.suites. On the client side ssl.protocol
// caps the range, as Kafka documents: a TLSv1.2 context never offers 1.3.
func applyProtocols(cfg *tls.Config, keys Keys, client bool) error {
	enabled := keys.list(EnabledProtocols)
	if len(enabled) == 0 {
		return fmt.Errorf("%s is empty; list at least one of TLSv1.2, TLSv1.3", EnabledProtocols)
	}
	for _, p := range enabled {
		v, ok := protocolVersions[p]
		if !ok {
			return fmt.Errorf("%s: %s is not a protocol Runnel supports (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)", EnabledProtocols, p)
		}
		if cfg.MinVersion == 0 || v < cfg.MinVersion {
			cfg.MinVersion = v
		}
		if v > cfg.MaxVersion {
			cfg.MaxVersion = v
		}
	}
	proto := keys.get(Protocol)
	switch proto {
	case "TLS", "SSL", "TLSv1.3", "":
	default:
		v, ok := protocolVersions[proto]
		if !ok {
			return fmt.Errorf("%s: %s is not a protocol Runnel supports (TLS, TLSv1.2, TLSv1.3)", Protocol, proto)
		}
		if client && v < cfg.MaxVersion {
			cfg.MaxVersion = v
			if cfg.MinVersion > v {
				return fmt.Errorf("%s=%s leaves none of %s (%s) usable", Protocol, proto, EnabledProtocols, strings.Join(enabled, ","))
			}
		}
	}

	names := keys.list(CipherSuites)
	if len(names) == 0 {
		return nil // Go's defaults, as Java's defaults when the key is unset
	}
	ids, only13, err := CipherSuiteIDs(names)
	if err != nil {
		return err
	}
	if only13 {
		// Every suite named is a TLS 1.3 one: Java would then find no
		// suite for TLS 1.2 and below, so neither may Go offer them.
		if cfg.MaxVersion < tls.VersionTLS13 {
			return fmt.Errorf("%s names only TLS 1.3 suites but %s does not include TLSv1.3", CipherSuites, EnabledProtocols)
		}
		cfg.MinVersion = tls.VersionTLS13
		return nil
	}
	cfg.CipherSuites = ids
	return nil
}

// CipherSuiteIDs maps cipher suite names as Java writes them (IANA names,
// and the SSL_ prefix Java keeps for some old ones) to Go's suite ids.
// TLS 1.3 suites are accepted but yield no id: Go always enables all three
// and cannot be told otherwise. only13 reports that every name was a TLS
// 1.3 suite. A name Go does not implement is an error listing the names
// that work.
func CipherSuiteIDs(names []string) (ids []uint16, only13 bool, err error) {
	known := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		known[s.Name] = s.ID
	}
	for _, s := range tls.InsecureCipherSuites() {
		known[s.Name] = s.ID
	}
	tls13 := map[string]bool{"TLS_AES_128_GCM_SHA256": true, "TLS_AES_256_GCM_SHA384": true, "TLS_CHACHA20_POLY1305_SHA256": true}
	only13 = true
	for _, n := range names {
		name := strings.ToUpper(strings.TrimSpace(n))
		if strings.HasPrefix(name, "SSL_") {
			name = "TLS_" + strings.TrimPrefix(name, "SSL_")
		}
		if tls13[name] {
			continue
		}
		only13 = false
		id, ok := known[name]
		if !ok {
			// Go names the ChaCha suites with a _SHA256 suffix that IANA
			// omits; accept both spellings.
			id, ok = known[name+"_SHA256"]
		}
		if !ok {
			var all []string
			for k := range known {
				all = append(all, k)
			}
			sort.Strings(all)
			return nil, false, fmt.Errorf("%s: %s is not a cipher suite Runnel supports; supported: %s, and the TLS 1.3 suites TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256", CipherSuites, n, strings.Join(all, ", "))
		}
		ids = append(ids, id)
	}
	return ids, only13, nil
}
