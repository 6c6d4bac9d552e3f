package sasl

import (
	"fmt"
	"strings"
)

// JAAS is one login module entry of a sasl.jaas.config value:
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required
//	    username="admin" password="admin-secret" user_alice="alice-secret";
type JAAS struct {
	LoginModule string // fully qualified class name
	Flag        string // required, requisite, sufficient or optional
	Options     map[string]string
}

// Known login modules.
const (
	PlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	ScramLoginModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
)

// ModuleFor returns the login module Kafka uses for a mechanism.
func ModuleFor(mechanism string) string {
	switch mechanism {
	case Plain:
		return PlainLoginModule
	case ScramSHA256, ScramSHA512:
		return ScramLoginModule
	}
	return ""
}

// ParseJAAS parses a sasl.jaas.config value, which must hold exactly one
// login module (as Kafka requires). Option values are double-quoted strings
// (with backslash escapes) or bare words. Errors never quote values, which
// may be passwords.
func ParseJAAS(s string) (JAAS, error) {
	toks, err := jaasTokens(s)
	if err != nil {
		return JAAS{}, err
	}
	if len(toks) < 3 || toks[0].quoted || toks[1].quoted {
		return JAAS{}, fmt.Errorf("JAAS config must be '<LoginModule> <flag> [key=value ...];'")
	}
	j := JAAS{LoginModule: toks[0].s, Flag: strings.ToLower(toks[1].s), Options: map[string]string{}}
	switch j.Flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return JAAS{}, fmt.Errorf("JAAS config: login module control flag %q is not required, requisite, sufficient or optional", toks[1].s)
	}
	rest := toks[2:]
	for len(rest) > 0 {
		t := rest[0]
		if !t.quoted && t.s == ";" {
			if len(rest) > 1 {
				return JAAS{}, fmt.Errorf("JAAS config must contain exactly one login module")
			}
			return j, nil
		}
		if t.quoted {
			return JAAS{}, fmt.Errorf("JAAS config: a quoted value stands where an option name should")
		}
		if len(rest) < 3 || rest[1].quoted || rest[1].s != "=" || (!rest[2].quoted && (rest[2].s == ";" || rest[2].s == "=")) {
			return JAAS{}, fmt.Errorf("JAAS config: option %s is not key=value", t.s)
		}
		if _, dup := j.Options[t.s]; dup {
			return JAAS{}, fmt.Errorf("JAAS config: option %s given twice", t.s)
		}
		j.Options[t.s] = rest[2].s
		rest = rest[3:]
	}
	return JAAS{}, fmt.Errorf("JAAS config must end with ';'")
}

type jaasToken struct {
	s      string
	quoted bool
}

// jaasTokens splits s into words, quoted strings, '=' and ';'.
func jaasTokens(s string) ([]jaasToken, error) {
	var out []jaasToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '=' || c == ';':
			out = append(out, jaasToken{s: string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("JAAS config: unterminated quoted string")
			}
			out = append(out, jaasToken{s: b.String(), quoted: true})
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n=;\"", rune(s[j])) {
				j++
			}
			out = append(out, jaasToken{s: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// PlainUsersFrom returns the user_<name>="<password>" options of a
// PlainLoginModule entry.
func (j JAAS) PlainUsersFrom() PlainUsers {
	u := PlainUsers{}
	for k, v := range j.Options {
		if name, ok := strings.CutPrefix(k, "user_"); ok && name != "" {
			u[name] = v
		}
	}
	return u
}

// ClientCredentials are the username and password options: what the broker
// itself uses when it is the client (inter-broker connections).
func (j JAAS) ClientCredentials() (user, pass string, ok bool) {
	user, ok1 := j.Options["username"]
	pass, ok2 := j.Options["password"]
	return user, pass, ok1 && ok2
}
