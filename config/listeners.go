package config

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Listener is one entry of listeners or advertised.listeners.
type Listener struct {
	// Name is the listener name, upper-cased as Kafka normalises it
	// (PLAINTEXT, INTERNAL, …).
	Name string
	// Host is the host or IP, without brackets. In listeners, "" binds
	// every interface; in advertised listeners it is never "" after Load.
	Host string
	// Port is 0..65535. Port 0 in listeners asks the OS for a free port;
	// the broker then advertises the port it got.
	Port int
	// SecurityProtocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL,
	// from listener.security.protocol.map.
	SecurityProtocol string
}

// Addr is host:port for net.Listen or net.Dial (IPv6 hosts bracketed).
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// String prints the listener as Kafka writes it: NAME://host:port.
func (l Listener) String() string { return l.Name + "://" + l.Addr() }

var listenerRE = regexp.MustCompile(`^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$`)

// ParseListeners parses a listeners or advertised.listeners value: a
// comma-separated list of NAME://host:port, where host may be empty,
// a name, an IPv4 address or a bracketed IPv6 address. Names are
// upper-cased and must be unique. SecurityProtocol is left empty.
func ParseListeners(key, v string) ([]Listener, error) {
	var out []Listener
	seen := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		m := listenerRE.FindStringSubmatch(item)
		if m == nil {
			return nil, &ValueError{Key: key, Value: v, Problem: fmt.Sprintf("%q is not NAME://host:port", item)}
		}
		port, err := strconv.Atoi(m[3])
		if err != nil || port < 0 || port > 65535 {
			return nil, &ValueError{Key: key, Value: v, Problem: fmt.Sprintf("port %s of %q is not in 0..65535", m[3], item)}
		}
		name := strings.ToUpper(m[1])
		if name == "" {
			return nil, &ValueError{Key: key, Value: v, Problem: fmt.Sprintf("%q has no listener name", item)}
		}
		if seen[name] {
			return nil, &ValueError{Key: key, Value: v, Problem: fmt.Sprintf("listener name %s appears twice; each listener must have a different name", name)}
		}
		seen[name] = true
		out = append(out, Listener{Name: name, Host: m[2], Port: port})
	}
	return out, nil
}

// ParseProtocolMap parses listener.security.protocol.map: NAME:PROTOCOL
// pairs separated by commas. Names are upper-cased.
func ParseProtocolMap(v string) (map[string]string, error) {
	const key = "listener.security.protocol.map"
	m := map[string]string{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, proto, ok := strings.Cut(item, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" {
			return nil, &ValueError{Key: key, Value: v, Problem: fmt.Sprintf("%q is not NAME:PROTOCOL", item)}
		}
		if !isSecurityProtocol(proto) {
			return nil, &ValueError{Key: key, Value: v, Problem: fmt.Sprintf("%s is not a security protocol (%s)", proto, strings.Join(securityProtocols, ", "))}
		}
		if _, dup := m[name]; dup {
			return nil, &ValueError{Key: key, Value: v, Problem: fmt.Sprintf("listener name %s appears twice", name)}
		}
		m[name] = proto
	}
	return m, nil
}

func isSecurityProtocol(p string) bool {
	for _, s := range securityProtocols {
		if p == s {
			return true
		}
	}
	return false
}

func isWildcard(host string) bool { return host == "0.0.0.0" || host == "::" }
