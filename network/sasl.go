package network

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/runnel/runnel/security/sasl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASLListener is what a SASL_PLAINTEXT or SASL_SSL listener requires of
// its connections. The authentication runs over whatever net.Conn the
// listener gives (plain TCP or TLS) and does not care which.
type SASLListener struct {
	// Mechanisms are the enabled mechanisms, as SaslHandshake lists them.
	Mechanisms []string
	// NewSession starts the server side of one exchange; ok is false for
	// a mechanism that is not enabled.
	NewSession func(mechanism string) (s sasl.Session, ok bool)
	// SessionLifetime is connections.max.reauth.ms (KIP-368); 0 means a
	// session never expires.
	SessionLifetime time.Duration
	// MaxReceiveSize bounds requests read before authentication
	// (sasl.server.max.receive.size); 0 means 512 KiB.
	MaxReceiveSize int32
}

// AnonymousPrincipal is the principal of connections on listeners that do
// not authenticate (PLAINTEXT), as Kafka names it.
const AnonymousPrincipal = "User:ANONYMOUS"

// Principal is the connection's authenticated principal, "User:<name>":
// on SASL listeners the SASL user ("" until the client has authenticated),
// on SSL listeners the client certificate's subject through
// ssl.principal.mapping.rules (conn.go handshake), else User:ANONYMOUS, as
// Kafka's DefaultKafkaPrincipalBuilder.
func (cc *ConnContext) Principal() string {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.principal
}

func (cc *ConnContext) setPrincipal(p string) {
	cc.mu.Lock()
	cc.principal = p
	cc.mu.Unlock()
}

// saslStage is where a SASL connection is in its authentication.
type saslStage int

const (
	// saslAwaitHandshake: only ApiVersions and SaslHandshake are allowed.
	saslAwaitHandshake saslStage = iota
	// saslAwaitAuthenticate: a handshake v1 chose a mechanism; only
	// SaslAuthenticate may follow.
	saslAwaitAuthenticate
	// saslRawTokens: a handshake v0 chose a mechanism; the next frames
	// are bare size-prefixed tokens, not Kafka requests.
	saslRawTokens
	// saslAuthenticated: any request is allowed; a SaslHandshake starts a
	// re-authentication (KIP-368).
	saslAuthenticated
	// saslReauthenticating: an authenticated connection's SaslHandshake
	// chose the mechanism again; only SaslAuthenticate may follow.
	saslReauthenticating
)

// saslConn is one connection's SASL state. Only the connection's serve
// goroutine changes it (requests are handled one at a time); the reader
// goroutine reads stage through the atomic.
type saslConn struct {
	cfg     *SASLListener
	stage   atomic.Int32 // saslStage
	mech    string
	session sasl.Session
	// authVersion is the SaslAuthenticate version the client last used;
	// -1 for raw tokens. Kafka re-authenticates only clients at v1+.
	authVersion int16
	user        string
	expires     time.Time // zero: no expiry
}

func (sc *saslConn) getStage() saslStage  { return saslStage(sc.stage.Load()) }
func (sc *saslConn) setStage(s saslStage) { sc.stage.Store(int32(s)) }

// errSASLState closes a connection that sent a request SASL does not allow
// at this point (Kafka: IllegalSaslStateException, connection closed).
var errSASLState = errors.New("illegal SASL state")

// gate decides whether a request of API key may be handled on this
// connection now; it needs the key alone, so before authentication the
// reader asks it from the frame's header and never decodes the body of a
// request it refuses (conn.read). An error closes the connection without a
// response, as Kafka does.
func (sc *saslConn) gate(key int16) error {
	switch sc.getStage() {
	case saslAwaitHandshake:
		if key == apiVersionsKey || key == int16(kmsg.SASLHandshake) {
			return nil
		}
		return fmt.Errorf("%w: %s before SASL authentication", errSASLState, kmsg.NameForKey(key))
	case saslAwaitAuthenticate, saslReauthenticating:
		if key == int16(kmsg.SASLAuthenticate) {
			return nil
		}
		return fmt.Errorf("%w: %s during SASL authentication", errSASLState, kmsg.NameForKey(key))
	case saslAuthenticated:
		if !sc.expires.IsZero() && time.Now().After(sc.expires) && key != int16(kmsg.SASLHandshake) {
			return fmt.Errorf("SASL session of %s expired (connections.max.reauth.ms) without re-authentication", sc.user)
		}
		return nil
	}
	return fmt.Errorf("%w: request while reading SASL tokens", errSASLState)
}

// maxFrame is the largest frame the reader accepts next.
func (sc *saslConn) maxFrame(normal int32) int32 {
	if sc.getStage() == saslAuthenticated || sc.getStage() == saslReauthenticating {
		return normal
	}
	m := sc.cfg.MaxReceiveSize
	if m <= 0 {
		m = 512 << 10
	}
	return min(m, normal)
}

// lockstep reports whether the reader must wait for each frame to be
// handled before reading the next: until authentication completes, the
// handling decides how the next frame is read (raw token or request) and
// how large it may be.
func (sc *saslConn) lockstep() bool {
	s := sc.getStage()
	return s != saslAuthenticated && s != saslReauthenticating
}

// step feeds one client token to the session. On success it records the
// principal and the session's expiry. The reply goes to the client either
// way; a non-nil error means authentication failed.
func (sc *saslConn) step(cc *ConnContext, token []byte) (reply []byte, err error) {
	if sc.session == nil {
		return nil, fmt.Errorf("%w: no mechanism chosen", errSASLState)
	}
	reply, done, err := sc.session.Step(token)
	if err != nil {
		sc.session = nil
		return nil, err
	}
	if !done {
		return reply, nil
	}
	user := sc.session.User()
	sc.session = nil
	if sc.getStage() == saslReauthenticating && user != sc.user {
		return nil, fmt.Errorf("%w: Cannot change principals during re-authentication from User:%s to User:%s", sasl.ErrAuthFailed, sc.user, user)
	}
	sc.user = user
	if sc.cfg.SessionLifetime > 0 {
		sc.expires = time.Now().Add(sc.cfg.SessionLifetime)
	}
	sc.setStage(saslAuthenticated)
	cc.setPrincipal("User:" + user)
	cc.Log.Debug("SASL authentication succeeded")
	return reply, nil
}

// sessionLifetimeMs is what SaslAuthenticate v1+ reports.
func (sc *saslConn) sessionLifetimeMs() int64 {
	if sc.expires.IsZero() {
		return 0
	}
	return max(time.Until(sc.expires).Milliseconds(), 1)
}

// handleRawToken serves one token after a SaslHandshake v0: the reply goes
// back as a bare size-prefixed frame. A failure closes the connection
// without a reply (the v0 framing has no way to carry an error).
func (c *conn) handleRawToken(token []byte) error {
	reply, err := c.sasl.step(c.cc, token)
	if err != nil {
		return authFailure{fmt.Errorf("SASL %s authentication failed: %w", c.sasl.mech, err)}
	}
	c.wbuf = binary.BigEndian.AppendUint32(c.wbuf[:0], uint32(len(reply)))
	c.wbuf = append(c.wbuf, reply...)
	return c.write(c.wbuf)
}

// authFailure marks the reason a connection closes after a failed
// authentication (a wrong password, an unknown mechanism, a changed
// principal on re-authentication): Kafka's AuthenticationException, whose
// answer waits for connection.failed.authentication.delay.ms.
type authFailure struct{ error }

func (e authFailure) Unwrap() error { return e.error }

func isAuthFailure(err error) bool {
	var af authFailure
	return errors.As(err, &af)
}

// delayAuthFailure waits connection.failed.authentication.delay.ms (or
// until the server closes) before a failed authentication is answered and
// the connection closed, as Kafka's Selector delays the close — and with
// it the failure response it sends then — of a channel whose
// authentication failed. A client guessing passwords gets one guess per
// delay per connection, and the connection stays unread meanwhile, since
// its one serve goroutine waits here.
func (c *conn) delayAuthFailure(ctx context.Context) {
	d := c.s.cfg.FailedAuthenticationDelay
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
