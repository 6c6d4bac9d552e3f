package config

import (
	"reflect"
	"strings"
	"testing"
)

// A compose file's SASL environment maps to Kafka's keys, which load
// without warnings, and the accessors find the per-listener values.
func TestSASLEnvironment(t *testing.T) {
	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret";`
	env := []string{
		"KAFKA_LISTENERS=PLAINTEXT://:9092,SASL_PLAINTEXT://:9093",
		"KAFKA_SASL_ENABLED_MECHANISMS=PLAIN,SCRAM-SHA-256",
		"KAFKA_LISTENER_NAME_SASL__PLAINTEXT_SASL_ENABLED_MECHANISMS=plain",
		"KAFKA_LISTENER_NAME_SASL__PLAINTEXT_PLAIN_SASL_JAAS_CONFIG=" + jaas,
		"KAFKA_LISTENER_NAME_SASL__PLAINTEXT_SCRAM___SHA___256_SASL_JAAS_CONFIG=x required;",
		"KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL=PLAIN",
		"KAFKA_SASL_JAAS_CONFIG=fallback",
		"KAFKA_CONNECTIONS_MAX_REAUTH_MS=60000",
		"KAFKA_SASL_KERBEROS_SERVICE_NAME=kafka",
	}
	b, warnings := mustLoad(t, "", env, nil)
	if len(warnings) != 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	if _, ok := b.Raw["listener.name.sasl_plaintext.plain.sasl.jaas.config"]; !ok {
		t.Fatalf("raw keys: %v", b.Raw)
	}
	if got := b.SASLEnabledMechanisms("SASL_PLAINTEXT"); !reflect.DeepEqual(got, []string{"PLAIN"}) {
		t.Fatalf("listener mechanisms %v", got)
	}
	if got := b.SASLEnabledMechanisms("OTHER"); !reflect.DeepEqual(got, []string{"PLAIN", "SCRAM-SHA-256"}) {
		t.Fatalf("default mechanisms %v", got)
	}
	vals, keys := b.SASLJAASConfigs("SASL_PLAINTEXT", "PLAIN")
	if len(vals) != 2 || vals[0] != jaas || keys[0] != "listener.name.sasl_plaintext.plain.sasl.jaas.config" || keys[1] != "sasl.jaas.config" {
		t.Fatalf("jaas %v %v", vals, keys)
	}
	if vals, _ := b.SASLJAASConfigs("SASL_PLAINTEXT", "SCRAM-SHA-256"); vals[0] != "x required;" {
		t.Fatalf("scram jaas %v", vals)
	}
	if b.SASLMechanismInterBroker() != "PLAIN" || b.ConnectionsMaxReauthMs() != 60000 || b.SASLMaxReceiveSize() != 524288 {
		t.Fatal("scalar SASL keys")
	}
	// Passwords never show in DescribeConfigs.
	for _, e := range DescribeBroker(b, Dynamic{}) {
		if e.Name == SASLJAASConfigKey && (e.Value != nil || !e.Sensitive) {
			t.Fatalf("sasl.jaas.config described as %+v", e)
		}
		if e.Value != nil && strings.Contains(*e.Value, "admin-secret") {
			t.Fatalf("%s reveals a password", e.Name)
		}
	}
}

func TestSASLDefaults(t *testing.T) {
	b, _ := mustLoad(t, "", nil, nil)
	if got := b.SASLEnabledMechanisms("SASL_PLAINTEXT"); !reflect.DeepEqual(got, []string{"GSSAPI"}) {
		t.Fatalf("default %v", got)
	}
	if b.SASLMechanismInterBroker() != "GSSAPI" || b.ConnectionsMaxReauthMs() != 0 {
		t.Fatal("defaults")
	}
	if vals, _ := b.SASLJAASConfigs("SASL_PLAINTEXT", "PLAIN"); len(vals) != 0 {
		t.Fatalf("jaas %v", vals)
	}
}
