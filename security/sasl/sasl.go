package sasl

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Mechanism names as clients send them in SaslHandshake.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	GSSAPI      = "GSSAPI"
	OAuthBearer = "OAUTHBEARER"
)

// Supported reports whether this package implements the server side of a
// mechanism.
func Supported(mechanism string) bool {
	switch mechanism {
	case Plain, ScramSHA256, ScramSHA512:
		return true
	}
	return false
}

// ErrAuthFailed is wrapped by every error a Session returns because the
// client's credentials or messages were not acceptable; the broker answers
// SASL_AUTHENTICATION_FAILED with the error's text, which never contains a
// password.
var ErrAuthFailed = errors.New("authentication failed")

// authError is an ErrAuthFailed with the message the client is shown.
type authError struct{ msg string }

func (e *authError) Error() string        { return e.msg }
func (e *authError) Is(target error) bool { return target == ErrAuthFailed }

func failf(format string, args ...any) error { return &authError{msg: fmt.Sprintf(format, args...)} }

// Session is one server-side authentication exchange. Step takes the
// client's next message and returns the reply to send; done is true once
// the client is authenticated (the reply, possibly empty, must still be
// sent). An error ends the exchange: the client is not authenticated.
type Session interface {
	Step(msg []byte) (reply []byte, done bool, err error)
	// User is the authenticated user name once Step returned done.
	User() string
	// Mechanism is the mechanism's name.
	Mechanism() string
}

// PlainUsers are PLAIN's credentials: user name → password, from the JAAS
// user_<name>="<password>" options.
type PlainUsers map[string]string

// NewPlain starts a PLAIN exchange checked against users.
func NewPlain(users PlainUsers) Session { return &plainSession{users: users} }

type plainSession struct {
	users PlainUsers
	user  string
	used  bool
}

func (s *plainSession) Mechanism() string { return Plain }
func (s *plainSession) User() string      { return s.user }

// Step checks the one PLAIN message: [authzid] NUL authcid NUL passwd.
// Kafka's rules: exactly three fields, a non-empty user and password, and
// an authorization id that is empty or the user itself.
func (s *plainSession) Step(msg []byte) ([]byte, bool, error) {
	if s.used {
		return nil, false, failf("Invalid SASL/PLAIN exchange: more than one client message")
	}
	s.used = true
	authzid, user, pass, err := ParsePlain(msg)
	if err != nil {
		return nil, false, err
	}
	if authzid != "" && authzid != user {
		return nil, false, failf("Authentication failed: Client requested an authorization id that is different from username")
	}
	want, known := s.users[user]
	// Compare even for an unknown user so both cases take about as long.
	if !known {
		want = "\x00unknown-user\x00"
	}
	ok := subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1
	if !ok || !known {
		return nil, false, failf("Authentication failed: Invalid username or password")
	}
	s.user = user
	return []byte{}, true, nil
}

// ParsePlain splits a PLAIN client message (RFC 4616) into its fields.
func ParsePlain(msg []byte) (authzid, user, pass string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", failf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(parts))
	}
	authzid, user, pass = string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" {
		return "", "", "", failf("Authentication failed: username not specified")
	}
	if pass == "" {
		return "", "", "", failf("Authentication failed: password not specified")
	}
	return authzid, user, pass, nil
}
