package config

import (
	"strings"
	"testing"
)

func TestSSLKeysFromEnvAndPerListener(t *testing.T) {
	env := []string{
		"KAFKA_LISTENERS=PLAINTEXT://:9092,SSL://:9093,INTERNAL://:9094",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,SSL:SSL,INTERNAL:SSL",
		"KAFKA_SSL_KEYSTORE_LOCATION=/etc/kafka/secrets/broker.keystore.jks",
		"KAFKA_SSL_KEYSTORE_PASSWORD=s3cret",
		"KAFKA_SSL_CLIENT_AUTH=required",
		"KAFKA_LISTENER_NAME_INTERNAL_SSL_KEYSTORE_TYPE=PEM",
		"KAFKA_LISTENER_NAME_INTERNAL_SSL_CLIENT_AUTH=none",
	}
	b, warnings := mustLoad(t, "", env, []string{"listener.name.internal.ssl.keystore.location=/x/internal.pem"})
	if len(warnings) != 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	ssl := b.SSLKeys("SSL")
	for k, want := range map[string]string{
		"ssl.keystore.location":                 "/etc/kafka/secrets/broker.keystore.jks",
		"ssl.keystore.password":                 "s3cret",
		"ssl.keystore.type":                     "JKS",
		"ssl.client.auth":                       "required",
		"ssl.enabled.protocols":                 "TLSv1.2,TLSv1.3",
		"ssl.endpoint.identification.algorithm": "https",
	} {
		if ssl[k] != want {
			t.Errorf("SSL %s = %q, want %q", k, ssl[k], want)
		}
	}
	if _, ok := ssl["ssl.truststore.location"]; ok {
		t.Error("a key with a null default and no value is present")
	}
	internal := b.SSLKeys("INTERNAL")
	for k, want := range map[string]string{
		"ssl.keystore.location": "/x/internal.pem",
		"ssl.keystore.type":     "PEM",
		"ssl.client.auth":       "none",
		"ssl.keystore.password": "s3cret", // not overridden: the global value
	} {
		if internal[k] != want {
			t.Errorf("INTERNAL %s = %q, want %q", k, internal[k], want)
		}
	}
}

func TestSSLKeyValidation(t *testing.T) {
	for _, o := range []string{"ssl.client.auth=always", "listener.name.ssl.ssl.client.auth=always"} {
		_, _, err := load("", nil, []string{o}, "h")
		if err == nil || !strings.Contains(err.Error(), "ssl.client.auth") {
			t.Errorf("%s: err %v", o, err)
		}
	}
	// An unknown key under a listener prefix is still an unknown key.
	_, warnings, err := load("", nil, []string{"listener.name.ssl.ssl.nonsense=1"}, "h")
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "unknown config listener.name.ssl.ssl.nonsense") {
		t.Fatalf("err %v, warnings %v", err, warnings)
	}
}

func TestSSLPasswordsAreSensitive(t *testing.T) {
	b, _ := mustLoad(t, "", nil, []string{"ssl.keystore.password=s3cret", "ssl.keystore.location=/ks.jks"})
	es := DescribeBroker(b, Dynamic{})
	for _, name := range []string{"ssl.keystore.password", "ssl.key.password", "ssl.truststore.password", "ssl.keystore.key", "ssl.keystore.certificate.chain", "ssl.truststore.certificates"} {
		e := entryByName(t, es, name)
		if !e.Sensitive || e.Value != nil || e.Type != Password {
			t.Errorf("%s: sensitive %v, value %v, type %v", name, e.Sensitive, val(e.Value), e.Type)
		}
		for _, s := range e.Synonyms {
			if s.Value != nil {
				t.Errorf("%s: synonym %s shows its value", name, s.Name)
			}
		}
	}
	pw := entryByName(t, es, "ssl.keystore.password")
	if pw.Source != SourceStatic {
		t.Errorf("ssl.keystore.password source %v, want static", pw.Source)
	}
	if loc := entryByName(t, es, "ssl.keystore.location"); val(loc.Value) != "/ks.jks" || loc.Sensitive {
		t.Errorf("ssl.keystore.location: %s sensitive %v", val(loc.Value), loc.Sensitive)
	}
	if e := entryByName(t, es, "ssl.keystore.type"); val(e.Value) != "JKS" || e.Source != SourceDefault {
		t.Errorf("ssl.keystore.type: %s source %v", val(e.Value), e.Source)
	}
}
