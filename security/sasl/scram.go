package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// SCRAM iteration bounds, as Kafka enforces them on stored credentials.
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// ScramCredential is what a server keeps for one user and mechanism
// (RFC 5802 section 3): never the password, nor the salted password.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int
}

// hashFor returns the hash of a SCRAM mechanism, or nil.
func hashFor(mechanism string) func() hash.Hash {
	switch mechanism {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// IsScram reports whether mechanism is one of the SCRAM mechanisms served.
func IsScram(mechanism string) bool { return hashFor(mechanism) != nil }

// SaltPassword is Hi(password, salt, iterations): PBKDF2 with the
// mechanism's HMAC, one block long.
func SaltPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h := hashFor(mechanism)
	if h == nil {
		return nil, fmt.Errorf("sasl: %s is not a SCRAM mechanism", mechanism)
	}
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// CredentialFromSaltedPassword derives the stored key and server key from a
// salted password, as the server does with what AlterUserScramCredentials
// sends.
func CredentialFromSaltedPassword(mechanism string, salted, salt []byte, iterations int) (ScramCredential, error) {
	h := hashFor(mechanism)
	if h == nil {
		return ScramCredential{}, fmt.Errorf("sasl: %s is not a SCRAM mechanism", mechanism)
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{
		Salt:       append([]byte(nil), salt...),
		StoredKey:  stored.Sum(nil),
		ServerKey:  hmacSum(h, salted, []byte("Server Key")),
		Iterations: iterations,
	}, nil
}

// NewScramCredential salts password with a fresh random salt.
func NewScramCredential(mechanism, password string, iterations int) (ScramCredential, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return ScramCredential{}, err
	}
	salted, err := SaltPassword(mechanism, password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	return CredentialFromSaltedPassword(mechanism, salted, salt, iterations)
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// ScramLookup finds the credential of a user for the server's mechanism.
type ScramLookup func(user string) (ScramCredential, bool)

// ScramServer starts SCRAM exchanges for one mechanism. It is safe for
// concurrent use.
type ScramServer struct {
	mechanism string
	h         func() hash.Hash
	lookup    ScramLookup
	rand      io.Reader
	// fakeKey derives a stable fake salt for unknown users, so that the
	// exchange does not reveal which users exist (RFC 5802 section 9).
	fakeKey []byte
	// nonce returns the server's part of the nonce; tests replace it to
	// replay RFC 7677's example.
	nonce func() (string, error)
}

// NewScramServer returns a server for mechanism (SCRAM-SHA-256 or -512)
// that finds credentials with lookup. random (nil: crypto/rand) supplies
// server nonces.
func NewScramServer(mechanism string, lookup ScramLookup, random io.Reader) (*ScramServer, error) {
	h := hashFor(mechanism)
	if h == nil {
		return nil, fmt.Errorf("sasl: %s is not a SCRAM mechanism", mechanism)
	}
	if random == nil {
		random = rand.Reader
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(random, key); err != nil {
		return nil, err
	}
	s := &ScramServer{mechanism: mechanism, h: h, lookup: lookup, rand: random, fakeKey: key}
	s.nonce = s.randomNonce
	return s, nil
}

// randomNonce is 18 random bytes in URL-safe base64 (24 printable
// characters, no ',').
func (s *ScramServer) randomNonce() (string, error) {
	b := make([]byte, 18)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewSession starts one exchange.
func (s *ScramServer) NewSession() Session { return &scramSession{srv: s} }

type scramSession struct {
	srv   *ScramServer
	state int // 0: want client-first; 1: want client-final; 2: finished

	user        string
	known       bool
	cred        ScramCredential
	gs2Header   string
	clientFirst string // client-first-message-bare
	serverFirst string
	nonce       string // client nonce + server nonce
	clientNonce string
}

func (s *scramSession) Mechanism() string { return s.srv.mechanism }

func (s *scramSession) User() string {
	if s.state != 2 {
		return ""
	}
	return s.user
}

func (s *scramSession) Step(msg []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		s.state = 3 // failed unless the step succeeds
		cf, err := ParseScramClientFirst(string(msg))
		if err != nil {
			return nil, false, err
		}
		if cf.Extensions["tokenauth"] == "true" {
			return nil, false, failf("Authentication failed: delegation tokens are not supported")
		}
		if cf.Authzid != "" && cf.Authzid != cf.User {
			return nil, false, failf("Authentication failed: authorization id %s is not the user name", cf.Authzid)
		}
		s.user, s.gs2Header, s.clientFirst = cf.User, cf.GS2Header, cf.Bare
		s.cred, s.known = s.srv.lookup(cf.User)
		if !s.known {
			s.cred = s.fakeCredential(cf.User)
		}
		snonce, err := s.srv.nonce()
		if err != nil {
			return nil, false, err
		}
		s.clientNonce, s.nonce = cf.Nonce, cf.Nonce+snonce
		s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
		s.state = 1
		return []byte(s.serverFirst), false, nil
	case 1:
		s.state = 3
		cf, err := ParseScramClientFinal(string(msg))
		if err != nil {
			return nil, false, err
		}
		if cf.ChannelBinding != base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) {
			return nil, false, failf("Invalid SCRAM client final message: channel binding does not match the client first message")
		}
		// librdkafka before 2.2 sends its own nonce again in front of the
		// combined one; Kafka accepts any nonce ending in the server's
		// (ScramSaslServer), we accept exactly that quirk. The proof
		// covers the message as sent, so this weakens nothing.
		if cf.Nonce != s.nonce && cf.Nonce != s.clientNonce+s.nonce {
			return nil, false, failf("Invalid SCRAM client final message: nonce does not match")
		}
		authMsg := s.clientFirst + "," + s.serverFirst + "," + cf.WithoutProof
		clientSig := hmacSum(s.srv.h, s.cred.StoredKey, []byte(authMsg))
		if len(cf.Proof) != len(clientSig) || !s.known {
			return nil, false, s.invalid()
		}
		clientKey := make([]byte, len(clientSig))
		for i := range clientKey {
			clientKey[i] = cf.Proof[i] ^ clientSig[i]
		}
		h := s.srv.h()
		h.Write(clientKey)
		if subtle.ConstantTimeCompare(h.Sum(nil), s.cred.StoredKey) != 1 {
			return nil, false, s.invalid()
		}
		serverSig := hmacSum(s.srv.h, s.cred.ServerKey, []byte(authMsg))
		s.state = 2
		return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), true, nil
	default:
		return nil, false, failf("Invalid SCRAM exchange: unexpected client message")
	}
}

func (s *scramSession) invalid() error {
	return failf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", s.srv.mechanism)
}

// fakeCredential is a stable, unusable credential for an unknown user.
func (s *scramSession) fakeCredential(user string) ScramCredential {
	mac := hmacSum(sha256.New, s.srv.fakeKey, []byte(s.srv.mechanism+"\x00"+user))
	return ScramCredential{Salt: mac[:16], StoredKey: mac, ServerKey: mac, Iterations: ScramMinIterations}
}

// ScramClientFirst is a parsed client-first-message.
type ScramClientFirst struct {
	GS2Header  string // "n,," or "y,," or "n,a=<authzid>,"
	Authzid    string
	User       string // decoded saslname
	Nonce      string
	Extensions map[string]string
	Bare       string // client-first-message-bare, for the AuthMessage
}

// ParseScramClientFirst parses gs2-header client-first-message-bare
// (RFC 5802 section 7). Channel binding ("p=") is refused: Kafka does not
// offer the -PLUS mechanisms.
func ParseScramClientFirst(msg string) (ScramClientFirst, error) {
	var cf ScramClientFirst
	bad := func(why string) (ScramClientFirst, error) {
		return ScramClientFirst{}, failf("Invalid SCRAM client first message: %s", why)
	}
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return bad("no GS2 header")
	}
	switch flag {
	case "n", "y":
	default:
		return bad("channel binding is not supported")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return bad("no GS2 header")
	}
	if authz != "" {
		a, found := strings.CutPrefix(authz, "a=")
		if !found {
			return bad("malformed authorization id")
		}
		name, err := decodeSaslName(a)
		if err != nil || name == "" {
			return bad("malformed authorization id")
		}
		cf.Authzid = name
	}
	cf.GS2Header = msg[:len(msg)-len(bare)]
	cf.Bare = bare
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 {
		return bad("missing user name or nonce")
	}
	if strings.HasPrefix(attrs[0], "m=") {
		return bad("mandatory extensions are not supported")
	}
	u, ok := strings.CutPrefix(attrs[0], "n=")
	if !ok {
		return bad("no user name")
	}
	name, err := decodeSaslName(u)
	if err != nil || name == "" {
		return bad("malformed user name")
	}
	cf.User = name
	n, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok || !validNonce(n) {
		return bad("malformed nonce")
	}
	cf.Nonce = n
	for _, a := range attrs[2:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return bad("malformed extension")
		}
		if cf.Extensions == nil {
			cf.Extensions = map[string]string{}
		}
		cf.Extensions[k] = v
	}
	return cf, nil
}

// ScramClientFinal is a parsed client-final-message.
type ScramClientFinal struct {
	ChannelBinding string // base64 as sent
	Nonce          string
	Proof          []byte
	WithoutProof   string // client-final-message-without-proof
}

// ParseScramClientFinal parses "c=…,r=…[,ext…],p=…" (RFC 5802 section 7).
func ParseScramClientFinal(msg string) (ScramClientFinal, error) {
	var cf ScramClientFinal
	bad := func(why string) (ScramClientFinal, error) {
		return ScramClientFinal{}, failf("Invalid SCRAM client final message: %s", why)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return bad("no proof")
	}
	cf.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+len(",p="):])
	if err != nil || len(proof) == 0 {
		return bad("malformed proof")
	}
	cf.Proof = proof
	attrs := strings.Split(cf.WithoutProof, ",")
	if len(attrs) < 2 {
		return bad("missing channel binding or nonce")
	}
	c, ok := strings.CutPrefix(attrs[0], "c=")
	if !ok {
		return bad("no channel binding")
	}
	if _, err := base64.StdEncoding.DecodeString(c); err != nil {
		return bad("malformed channel binding")
	}
	cf.ChannelBinding = c
	r, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok || !validNonce(r) {
		return bad("malformed nonce")
	}
	cf.Nonce = r
	for _, a := range attrs[2:] {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			return bad("malformed extension")
		}
	}
	return cf, nil
}

// decodeSaslName undoes RFC 5802's escaping: "=2C" is ',' and "=3D" is
// '='; any other '=' is an error.
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("bad escape in %q", s)
		}
		i += 2
	}
	return b.String(), nil
}

// validNonce: printable ASCII except ',' (RFC 5802 section 7).
func validNonce(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}
