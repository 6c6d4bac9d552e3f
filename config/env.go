package config

import (
	"strings"
)

// EnvVar is one environment variable that maps to a config key.
type EnvVar struct {
	Name  string // the variable, e.g. KAFKA_ADVERTISED_LISTENERS
	Key   string // the key, e.g. advertised.listeners
	Value string
}

// envIgnored are KAFKA_* variables the Apache, Confluent and Bitnami
// images read themselves (JVM, logging, image plumbing); they are not
// broker keys and are skipped without a note.
var envIgnored = map[string]bool{
	"KAFKA_HEAP_OPTS":                   true,
	"KAFKA_OPTS":                        true,
	"KAFKA_JVM_PERFORMANCE_OPTS":        true,
	"KAFKA_GC_LOG_OPTS":                 true,
	"KAFKA_LOG4J_OPTS":                  true,
	"KAFKA_DEBUG":                       true,
	"KAFKA_VERSION":                     true,
	"KAFKA_HOME":                        true,
	"KAFKA_CLUSTER_ID":                  true, // read as the cluster id hint
	"KAFKA_KRAFT_CLUSTER_ID":            true, // Bitnami; cluster id hint
	"KAFKA_ENABLE_KRAFT":                true, // Bitnami
	"KAFKA_KRAFT_BOOTSTRAP_SCRAM_USERS": true,
	"KAFKA_TOOLS_LOG4J_LOGLEVEL":        true,
	"KAFKA_CONF_FILE":                   true, // Bitnami
	"KAFKA_MOUNTED_CONF_DIR":            true, // Bitnami
	"KAFKA_BASE_DIR":                    true, // Bitnami
	"KAFKA_VOLUME_DIR":                  true, // Bitnami
	"KAFKA_DATA_DIR":                    true, // Bitnami
	"KAFKA_CONF_DIR":                    true, // Bitnami
	"KAFKA_CERTS_DIR":                   true, // Bitnami
	"KAFKA_INITSCRIPTS_DIR":             true, // Bitnami
	"KAFKA_DAEMON_USER":                 true, // Bitnami
	"KAFKA_DAEMON_GROUP":                true, // Bitnami
	"KAFKA_TLS_TYPE":                    true, // Bitnami
	"KAFKA_TLS_CLIENT_AUTH":             true, // Bitnami
	"KAFKA_CERTIFICATE_PASSWORD":        true, // Bitnami
	"KAFKA_CLIENT_USERS":                true, // Bitnami
	"KAFKA_CLIENT_PASSWORDS":            true, // Bitnami
	"KAFKA_CLIENT_LISTENER_NAME":        true, // Bitnami
	"KAFKA_INTER_BROKER_USER":           true, // Bitnami
	"KAFKA_INTER_BROKER_PASSWORD":       true, // Bitnami
	"KAFKA_CONTROLLER_USER":             true, // Bitnami
	"KAFKA_CONTROLLER_PASSWORD":         true, // Bitnami
	"KAFKA_SKIP_KRAFT_STORAGE_INIT":     true, // Bitnami
	"KAFKA_INITIAL_CONTROLLERS":         true, // Bitnami
}

// envIgnoredPrefixes extend envIgnored to families of variables.
var envIgnoredPrefixes = []string{
	"KAFKA_JMX_",   // KAFKA_JMX_OPTS, KAFKA_JMX_PORT, KAFKA_JMX_HOSTNAME
	"KAFKA_LOG4J_", // KAFKA_LOG4J_ROOT_LOGLEVEL, KAFKA_LOG4J_LOGGERS
	"KAFKA_ZOOKEEPER_TLS_",
	"KAFKA_ZOOKEEPER_PROTOCOL",
	"KAFKA_ZOOKEEPER_USER",
	"KAFKA_ZOOKEEPER_PASSWORD",
	"KAFKA_CFG_", // handled on its own
}

// EnvKey maps an environment variable name to a config key by the
// Confluent and Apache image convention: drop the prefix, lower-case, then
// "___" → "-", "__" → "_", "_" → ".". It returns ok=false for names
// without the prefix. prefix is "KAFKA_" or Bitnami's "KAFKA_CFG_".
func EnvKey(name, prefix string) (key string, ok bool) {
	if !strings.HasPrefix(name, prefix) || len(name) == len(prefix) {
		return "", false
	}
	s := strings.ToLower(name[len(prefix):])
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '_' {
			b.WriteByte(s[i])
			i++
			continue
		}
		n := 0
		for i+n < len(s) && s[i+n] == '_' {
			n++
		}
		i += n
		// Runs longer than three are read greedily as "___" groups then
		// the remainder.
		for n >= 3 {
			b.WriteByte('-')
			n -= 3
		}
		switch n {
		case 2:
			b.WriteByte('_')
		case 1:
			b.WriteByte('.')
		}
	}
	return b.String(), true
}

// EnvConfig picks the config variables out of an environment (as
// os.Environ gives it): KAFKA_<KEY> and Bitnami's KAFKA_CFG_<KEY>, skipping
// the variables the images use for themselves. When the same key comes
// from both forms, KAFKA_CFG_ wins. The cluster id hint comes from
// CLUSTER_ID, KAFKA_CLUSTER_ID or KAFKA_KRAFT_CLUSTER_ID.
func EnvConfig(environ []string) (vars []EnvVar, clusterIDHint string) {
	var plain, cfg []EnvVar
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch name {
		case "CLUSTER_ID", "KAFKA_CLUSTER_ID", "KAFKA_KRAFT_CLUSTER_ID":
			if value != "" {
				clusterIDHint = value
			}
			continue
		}
		if key, ok := EnvKey(name, "KAFKA_CFG_"); ok {
			cfg = append(cfg, EnvVar{Name: name, Key: key, Value: value})
			continue
		}
		if !strings.HasPrefix(name, "KAFKA_") || envIgnored[name] {
			continue
		}
		skip := false
		for _, p := range envIgnoredPrefixes {
			if strings.HasPrefix(name, p) {
				skip = true
				break
			}
		}
		if skip {
			continue
		}
		if key, ok := EnvKey(name, "KAFKA_"); ok {
			plain = append(plain, EnvVar{Name: name, Key: key, Value: value})
		}
	}
	return append(plain, cfg...), clusterIDHint
}
