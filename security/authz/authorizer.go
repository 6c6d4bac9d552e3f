package authz

import (
	"net"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config is what the authorizer takes from the broker's configuration.
type Config struct {
	// SuperUsers are principals allowed everything (super.users).
	SuperUsers []string
	// AllowEveryoneIfNoACL answers for a resource that no ACL applies to
	// (allow.everyone.if.no.acl.found; Kafka's default is false).
	AllowEveryoneIfNoACL bool
}

// ParseSuperUsers splits super.users: principals separated by ';', as
// "User:admin;User:broker".
func ParseSuperUsers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Requester is who asks: the connection's principal and the client's
// address.
type Requester struct {
	Principal string // "User:alice"; "User:ANONYMOUS" on PLAINTEXT
	Host      string // the client's IP address (net.IP.String form)
}

// HostOf is the Requester host of a client address: its IP in Go's
// canonical form, which is also the form Authorizer stores ACL hosts in.
func HostOf(addr net.Addr) string {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return canonicalHost(host)
}

// canonicalHost writes an IP address the way net.IP.String does, so that
// "0:0:0:0:0:0:0:1" (Java's form) and "::1" are one host; anything that is
// not an IP address stays as it is.
func canonicalHost(h string) string {
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

// Authorizer answers authorization questions over one immutable set of
// ACLs. It is safe for concurrent use; a change of ACLs builds a new one.
type Authorizer struct {
	superUsers   map[string]struct{}
	allowIfNoACL bool
	byType       map[kmsg.ACLResourceType]*typeACLs
	bindings     []Binding
}

// typeACLs indexes the ACLs of one resource type by how they apply to a
// resource name: an exact literal name, the literal wildcard, or a prefix.
// prefixLens lists the distinct lengths of the prefixes, ascending, so a
// lookup for name N probes N[:l] for each l rather than every prefix ACL.
type typeACLs struct {
	literal    map[string]*resourceACLs
	wildcard   *resourceACLs
	prefixed   map[string]*resourceACLs
	prefixLens []int
}

// resourceACLs are the entries of one resource pattern, by principal.
type resourceACLs struct {
	byPrincipal map[string][]entry
}

type entry struct {
	host  string // WildcardHost or a canonical IP address
	op    kmsg.ACLOperation
	allow bool
}

// New builds an Authorizer over bindings, which must be valid
// (Binding.Validate); duplicates are kept once.
func New(bindings []Binding, cfg Config) *Authorizer {
	a := &Authorizer{
		superUsers:   make(map[string]struct{}, len(cfg.SuperUsers)),
		allowIfNoACL: cfg.AllowEveryoneIfNoACL,
		byType:       make(map[kmsg.ACLResourceType]*typeACLs),
	}
	for _, u := range cfg.SuperUsers {
		a.superUsers[u] = struct{}{}
	}
	seen := make(map[Binding]struct{}, len(bindings))
	for _, b := range bindings {
		if _, dup := seen[b]; dup {
			continue
		}
		seen[b] = struct{}{}
		a.bindings = append(a.bindings, b)
		t := a.byType[b.ResourceType]
		if t == nil {
			t = &typeACLs{literal: map[string]*resourceACLs{}, prefixed: map[string]*resourceACLs{}}
			a.byType[b.ResourceType] = t
		}
		var r *resourceACLs
		switch {
		case b.PatternType == kmsg.ACLResourcePatternTypeLiteral && b.ResourceName == WildcardResource:
			if t.wildcard == nil {
				t.wildcard = &resourceACLs{byPrincipal: map[string][]entry{}}
			}
			r = t.wildcard
		case b.PatternType == kmsg.ACLResourcePatternTypeLiteral:
			r = t.literal[b.ResourceName]
			if r == nil {
				r = &resourceACLs{byPrincipal: map[string][]entry{}}
				t.literal[b.ResourceName] = r
			}
		case b.PatternType == kmsg.ACLResourcePatternTypePrefixed:
			r = t.prefixed[b.ResourceName]
			if r == nil {
				r = &resourceACLs{byPrincipal: map[string][]entry{}}
				t.prefixed[b.ResourceName] = r
				if !slices.Contains(t.prefixLens, len(b.ResourceName)) {
					t.prefixLens = append(t.prefixLens, len(b.ResourceName))
				}
			}
		default:
			continue // not valid: never applies
		}
		host := b.Host
		if host != WildcardHost {
			host = canonicalHost(host)
		}
		r.byPrincipal[b.Principal] = append(r.byPrincipal[b.Principal], entry{
			host: host, op: b.Operation, allow: b.Permission == kmsg.ACLPermissionTypeAllow,
		})
	}
	for _, t := range a.byType {
		slices.Sort(t.prefixLens)
	}
	return a
}

// Bindings returns the ACLs the filter selects.
func (a *Authorizer) Bindings(f Filter) []Binding {
	var out []Binding
	for _, b := range a.bindings {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}

// Len is the number of distinct ACLs.
func (a *Authorizer) Len() int { return len(a.bindings) }

// IsSuperUser reports whether the principal is in super.users.
func (a *Authorizer) IsSuperUser(principal string) bool {
	_, ok := a.superUsers[principal]
	return ok
}

// Authorize decides whether who may perform op on the resource of type rt
// named name (see the package doc for the rules).
func (a *Authorizer) Authorize(who Requester, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if a.IsSuperUser(who.Principal) {
		return true
	}
	t := a.byType[rt]
	if t == nil {
		return a.allowIfNoACL
	}
	var v verdict
	v.apply(t.literal[name], who, op)
	v.apply(t.wildcard, who, op)
	for _, l := range t.prefixLens {
		if l > len(name) || v.deny {
			break
		}
		v.apply(t.prefixed[name[:l]], who, op)
	}
	switch {
	case v.deny:
		return false
	case v.allow:
		return true
	case !v.resourceHasACLs:
		return a.allowIfNoACL
	}
	return false
}

// verdict accumulates what the ACLs of one resource say.
type verdict struct {
	resourceHasACLs bool // some ACL applies to the resource, for anyone
	allow, deny     bool // some ACL for the requester allows / denies
}

func (v *verdict) apply(r *resourceACLs, who Requester, op kmsg.ACLOperation) {
	if r == nil || v.deny {
		return
	}
	v.resourceHasACLs = true
	v.applyEntries(r.byPrincipal[who.Principal], who.Host, op)
	if who.Principal != WildcardPrincipal {
		v.applyEntries(r.byPrincipal[WildcardPrincipal], who.Host, op)
	}
}

func (v *verdict) applyEntries(es []entry, host string, op kmsg.ACLOperation) {
	for _, e := range es {
		if e.host != WildcardHost && e.host != host {
			continue
		}
		if !grants(e, op) {
			continue
		}
		if !e.allow {
			v.deny = true
			return
		}
		v.allow = true
	}
}

// grants reports whether an entry's operation covers op: ALL covers every
// operation; an ALLOW for READ, WRITE, DELETE or ALTER also covers
// DESCRIBE, and one for ALTER_CONFIGS covers DESCRIBE_CONFIGS. A DENY
// covers only its own operation (and ALL).
func grants(e entry, op kmsg.ACLOperation) bool {
	if e.op == kmsg.ACLOperationAll || e.op == op {
		return true
	}
	if !e.allow {
		return false
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch e.op {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return e.op == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// AuthorizeAny decides whether who may perform op on at least one
// resource of type rt, as Kafka's Authorizer.authorizeByResourceType
// does (an idempotent producer without IDEMPOTENT_WRITE needs WRITE on
// some topic, KIP-679): allowed if a check against an arbitrary name
// passes (super users, the no-ACL default), or if some ALLOW ACL for op
// (or ALL) that applies to who is not overridden by a DENY — a literal
// DENY of the same name or a prefixed DENY of a prefix of it; a literal
// wildcard DENY denies outright. Operation implications do not apply.
func (a *Authorizer) AuthorizeAny(who Requester, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	// Kafka checks the hard-coded name "hardcode"; any name no ACL
	// singles out does the same.
	if a.Authorize(who, op, rt, "hardcode") {
		return true
	}
	denyLiteral := map[string]bool{}
	denyPrefixed := map[string]bool{}
	var allowLiteral, allowPrefixed []string
	wildcardAllow := false
	for _, b := range a.bindings {
		if b.ResourceType != rt ||
			(b.Principal != who.Principal && b.Principal != WildcardPrincipal) ||
			(b.Host != WildcardHost && canonicalHost(b.Host) != who.Host) ||
			(b.Operation != op && b.Operation != kmsg.ACLOperationAll) {
			continue
		}
		literal := b.PatternType == kmsg.ACLResourcePatternTypeLiteral
		switch {
		case b.Permission == kmsg.ACLPermissionTypeDeny && literal && b.ResourceName == WildcardResource:
			return false
		case b.Permission == kmsg.ACLPermissionTypeDeny && literal:
			denyLiteral[b.ResourceName] = true
		case b.Permission == kmsg.ACLPermissionTypeDeny:
			denyPrefixed[b.ResourceName] = true
		case literal && b.ResourceName == WildcardResource:
			wildcardAllow = true
		case literal:
			allowLiteral = append(allowLiteral, b.ResourceName)
		default:
			allowPrefixed = append(allowPrefixed, b.ResourceName)
		}
	}
	if wildcardAllow {
		return true
	}
	dominated := func(name string) bool {
		for i := 1; i <= len(name); i++ {
			if denyPrefixed[name[:i]] {
				return true
			}
		}
		return false
	}
	for _, n := range allowLiteral {
		if !denyLiteral[n] && !dominated(n) {
			return true
		}
	}
	for _, n := range allowPrefixed {
		if !dominated(n) {
			return true
		}
	}
	return false
}
