package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"
)

// Anonymous is the principal of a client that presented no certificate.
const Anonymous = "User:ANONYMOUS"

// Principal returns the Kafka principal of a TLS connection, as Kafka's
// DefaultKafkaPrincipalBuilder names it: "User:" plus the client
// certificate's subject in RFC 2253 form, mapped through rules
// (ssl.principal.mapping.rules), or User:ANONYMOUS when the client sent no
// certificate. A subject no rule maps is an error (Kafka fails the
// authentication).
func Principal(cs tls.ConnectionState, rules *MappingRules) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return Anonymous, nil
	}
	dn, err := SubjectDN(cs.PeerCertificates[0])
	if err != nil {
		return "", err
	}
	name, err := rules.Map(dn)
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}

// rdnSET and atv mirror pkix's RDN types but keep each value's raw DER,
// which the RFC 2253 "#hex" form of unnamed attribute types needs. The
// SET suffix makes encoding/asn1 read a SET OF.
type rdnSET []atv

type atv struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rfc2253Keywords are the only attribute names Java's X500Principal
// prints in RFC 2253 form; every other type is printed as its OID.
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// SubjectDN prints a certificate's subject as Java's
// X500Principal.getName() does (RFC 2253): RDNs last to first, separated
// by ",", multi-valued RDNs joined by "+", special characters escaped,
// and attributes without an RFC 2253 keyword as OID=#<DER in hex>.
func SubjectDN(cert *x509.Certificate) (string, error) {
	var seq []rdnSET
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil || len(rest) > 0 {
		return "", fmt.Errorf("certificate subject: cannot parse (%v)", err)
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if i != len(seq)-1 {
			b.WriteByte(',')
		}
		for j, a := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			kw, named := rfc2253Keywords[a.Type.String()]
			s, isString := directoryString(a.Value)
			if !named || !isString {
				b.WriteString(a.Type.String())
				b.WriteString("=#")
				b.WriteString(hex.EncodeToString(a.Value.FullBytes))
				continue
			}
			b.WriteString(kw)
			b.WriteByte('=')
			b.WriteString(escapeRFC2253(s))
		}
	}
	return b.String(), nil
}

// directoryString decodes the string types a DirectoryString may be.
func directoryString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString:
		return string(v.Bytes), true
	case asn1.TagT61String: // read as Latin-1, as Java does
		r := make([]rune, len(v.Bytes))
		for i, c := range v.Bytes {
			r[i] = rune(c)
		}
		return string(r), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}

// escapeRFC2253 escapes a value as RFC 2253 section 2.4 asks.
func escapeRFC2253(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(s)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MappingRules is a parsed ssl.principal.mapping.rules: a list of
// RULE:pattern/replacement/[LU] entries and DEFAULT, tried in order.
type MappingRules struct {
	rules []mappingRule
}

type mappingRule struct {
	isDefault   bool
	re          *regexp.Regexp
	replacement string
	lower       bool
	upper       bool
}

var ruleRE = regexp.MustCompile(`^\s*(?:(DEFAULT)|RULE:((?:\\/|[^/])*)/((?:\\/|[^/])*)/([LU]?))\s*(?:,|$)`)

// ParseMappingRules parses ssl.principal.mapping.rules. Patterns are Go
// regular expressions (RE2), which agree with Java's for the patterns the
// Kafka documentation shows; replacements use $1 … as in Java.
func ParseMappingRules(v string) (*MappingRules, error) {
	mr := &MappingRules{}
	rest := strings.TrimSpace(v)
	if rest == "" {
		rest = "DEFAULT"
	}
	for strings.TrimSpace(rest) != "" {
		m := ruleRE.FindStringSubmatchIndex(rest)
		if m == nil {
			return nil, fmt.Errorf("%s: invalid rule at %q (want DEFAULT or RULE:pattern/replacement/[LU])", PrincipalMappingRules, rest)
		}
		sub := func(i int) string {
			if m[2*i] < 0 {
				return ""
			}
			return rest[m[2*i]:m[2*i+1]]
		}
		if sub(1) != "" {
			mr.rules = append(mr.rules, mappingRule{isDefault: true})
		} else {
			pattern := strings.ReplaceAll(sub(2), `\/`, `/`)
			re, err := regexp.Compile(`^(?:` + pattern + `)$`)
			if err != nil {
				return nil, fmt.Errorf("%s: pattern %q: %w", PrincipalMappingRules, pattern, err)
			}
			repl := strings.ReplaceAll(sub(3), `\/`, `/`)
			// Java's $1 is Go's ${1}: Go would read "$1x" as a group named 1x.
			repl = regexp.MustCompile(`\$(\d+)`).ReplaceAllString(repl, `$${$1}`)
			mr.rules = append(mr.rules, mappingRule{re: re, replacement: repl, lower: sub(4) == "L", upper: sub(4) == "U"})
		}
		rest = rest[m[1]:]
	}
	return mr, nil
}

// Map applies the first rule that matches the distinguished name. A nil
// MappingRules is DEFAULT.
func (mr *MappingRules) Map(dn string) (string, error) {
	if mr == nil {
		return dn, nil
	}
	for _, r := range mr.rules {
		if r.isDefault {
			return dn, nil
		}
		m := r.re.FindStringSubmatchIndex(dn)
		if m == nil {
			continue
		}
		out := string(r.re.ExpandString(nil, r.replacement, dn, m))
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("no rule of %s maps the certificate subject %q", PrincipalMappingRules, dn)
}
