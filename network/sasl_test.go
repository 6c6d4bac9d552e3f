package network

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/wiretest"

	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/sasl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// saslTestServer is a Server with a SASL listener (PLAIN alice/alice-secret
// and SCRAM-SHA-256 bob/bob-secret) and a PLAINTEXT listener, serving a
// Metadata stub that records the principal of each request.
type saslTestServer struct {
	*Server
	saslAddr, plainAddr string
	logs                *observer.ObservedLogs
	mu                  sync.Mutex
	principals          []string
	auths               atomic.Int32 // successful SASL sessions
}

func startSASLServer(t *testing.T, lifetime time.Duration, maxReceive int32) *saslTestServer {
	t.Helper()
	return startSASLServerDelay(t, lifetime, maxReceive, 0)
}

// startSASLServerDelay is startSASLServer with
// connection.failed.authentication.delay.ms.
func startSASLServerDelay(t *testing.T, lifetime time.Duration, maxReceive int32, authDelay time.Duration) *saslTestServer {
	t.Helper()
	bobCred, err := sasl.NewScramCredential(sasl.ScramSHA256, "bob-secret", 4096)
	if err != nil {
		t.Fatal(err)
	}
	scramSrv, err := sasl.NewScramServer(sasl.ScramSHA256, func(u string) (sasl.ScramCredential, bool) { return bobCred, u == "bob" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := &saslTestServer{}
	sl := &SASLListener{
		Mechanisms: []string{sasl.Plain, sasl.ScramSHA256},
		NewSession: func(m string) (sasl.Session, bool) {
			switch m {
			case sasl.Plain:
				return countingSession{sasl.NewPlain(sasl.PlainUsers{"alice": "alice-secret"}), &ts.auths}, true
			case sasl.ScramSHA256:
				return countingSession{scramSrv.NewSession(), &ts.auths}, true
			}
			return nil, false
		},
		SessionLifetime: lifetime,
		MaxReceiveSize:  maxReceive,
	}
	core, logs := observer.New(zapcore.DebugLevel)
	metadata := func(_ context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
		ts.mu.Lock()
		ts.principals = append(ts.principals, cc.Principal())
		ts.mu.Unlock()
		return Response{Msg: req.Body.(*kmsg.MetadataRequest).ResponseKind()}, nil
	}
	s, err := NewServer(Config{
		Listeners: []Listener{
			{Name: "SASL_PLAINTEXT", Addr: "127.0.0.1:0", SASL: sl},
			{Name: "PLAINTEXT", Addr: "127.0.0.1:0"},
		},
		MaxRequestSize:            1 << 20,
		Logger:                    zap.New(core),
		FailedAuthenticationDelay: authDelay,
	}, map[int16]Handler{3: {MaxVersion: 12, Handle: metadata}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ts.Server, ts.logs = s, logs
	ts.saslAddr, ts.plainAddr = s.Addrs()[0].String(), s.Addrs()[1].String()
	return ts
}

type countingSession struct {
	sasl.Session
	n *atomic.Int32
}

func (c countingSession) Step(msg []byte) ([]byte, bool, error) {
	reply, done, err := c.Session.Step(msg)
	if done && err == nil {
		c.n.Add(1)
	}
	return reply, done, err
}

func (ts *saslTestServer) lastPrincipal() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.principals) == 0 {
		return ""
	}
	return ts.principals[len(ts.principals)-1]
}

// closeReason waits for the "closing connection" line after the first
// before ones and returns its error.
func (ts *saslTestServer) closeReason(t *testing.T, before int) string {
	t.Helper()
	waitUntil(t, "closing connection logged", func() bool { return ts.logs.FilterMessage("closing connection").Len() > before })
	return ts.logs.FilterMessage("closing connection").All()[before].ContextMap()["error"].(string)
}

func handshake(t *testing.T, c net.Conn, version int16, mech string, corr int32) *kmsg.SASLHandshakeResponse {
	t.Helper()
	r := kmsg.NewPtrSASLHandshakeRequest()
	r.Version, r.Mechanism = version, mech
	wiretest.Send(t, c, r, corr)
	got, body := wiretest.ReadResponse(t, c)
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.Version = version
	if err := resp.ReadFrom(body); err != nil || got != corr {
		t.Fatalf("SaslHandshake: corr %d err %v", got, err)
	}
	return resp
}

func authenticate(t *testing.T, c net.Conn, token []byte, corr int32) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	r := kmsg.NewPtrSASLAuthenticateRequest()
	r.Version, r.SASLAuthBytes = 1, token
	wiretest.Send(t, c, r, corr)
	got, body := wiretest.ReadResponse(t, c)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = 1
	if err := resp.ReadFrom(body); err != nil || got != corr {
		t.Fatalf("SaslAuthenticate: corr %d err %v", got, err)
	}
	return resp
}

func metadataOK(t *testing.T, c net.Conn, corr int32) {
	t.Helper()
	r := kmsg.NewPtrMetadataRequest()
	r.Version = 1
	wiretest.Send(t, c, r, corr)
	if got, _ := wiretest.ReadResponse(t, c); got != corr {
		t.Fatalf("Metadata corr %d, want %d", got, corr)
	}
}

func TestSASLGate(t *testing.T) {
	ts := startSASLServer(t, 0, 4096)

	t.Run("request before authentication closes", func(t *testing.T) {
		c := wiretest.Dial(t, ts.saslAddr)
		apiVersions(t, c, 3, 1) // allowed before authentication
		r := kmsg.NewPtrMetadataRequest()
		r.Version = 1
		wiretest.Send(t, c, r, 2)
		expectClosed(t, c)
	})
	t.Run("request between handshake and authenticate closes", func(t *testing.T) {
		c := wiretest.Dial(t, ts.saslAddr)
		if resp := handshake(t, c, 1, "PLAIN", 1); resp.ErrorCode != 0 {
			t.Fatalf("handshake: %d", resp.ErrorCode)
		}
		r := kmsg.NewPtrMetadataRequest()
		r.Version = 1
		wiretest.Send(t, c, r, 2)
		expectClosed(t, c)
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := wiretest.Dial(t, ts.saslAddr)
		resp := handshake(t, c, 1, "GSSAPI", 1)
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(resp.SupportedMechanisms, ",") != "PLAIN,SCRAM-SHA-256" {
			t.Fatalf("got %d %v", resp.ErrorCode, resp.SupportedMechanisms)
		}
		expectClosed(t, c)
	})
	t.Run("wrong password", func(t *testing.T) {
		c := wiretest.Dial(t, ts.saslAddr)
		handshake(t, c, 1, "PLAIN", 1)
		resp := authenticate(t, c, []byte("\x00alice\x00wrong"), 2)
		if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil || !strings.Contains(*resp.ErrorMessage, "Invalid username or password") {
			t.Fatalf("got %d %v", resp.ErrorCode, resp.ErrorMessage)
		}
		expectClosed(t, c)
	})
	t.Run("handshake v1 then authenticate", func(t *testing.T) {
		c := wiretest.Dial(t, ts.saslAddr)
		handshake(t, c, 1, "PLAIN", 1)
		resp := authenticate(t, c, []byte("\x00alice\x00alice-secret"), 2)
		if resp.ErrorCode != 0 || resp.SessionLifetimeMillis != 0 {
			t.Fatalf("got %d lifetime %d", resp.ErrorCode, resp.SessionLifetimeMillis)
		}
		metadataOK(t, c, 3)
		if p := ts.lastPrincipal(); p != "User:alice" {
			t.Fatalf("principal %q", p)
		}
		// SaslAuthenticate after authentication: ILLEGAL_SASL_STATE, open.
		if resp := authenticate(t, c, []byte("x"), 4); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("late SaslAuthenticate: %d", resp.ErrorCode)
		}
		// A SaslHandshake after a v1 authentication re-authenticates.
		if resp := handshake(t, c, 1, "PLAIN", 5); resp.ErrorCode != 0 {
			t.Fatalf("re-auth handshake: %d", resp.ErrorCode)
		}
		resp = authenticate(t, c, []byte("\x00alice\x00alice-secret"), 6)
		if resp.ErrorCode != 0 {
			t.Fatalf("re-auth: %d", resp.ErrorCode)
		}
		metadataOK(t, c, 7)
	})
	t.Run("re-authentication cannot change the mechanism", func(t *testing.T) {
		ts2 := startSASLServer(t, 0, 0)
		c := wiretest.Dial(t, ts2.saslAddr)
		handshake(t, c, 1, "PLAIN", 1)
		authenticate(t, c, []byte("\x00alice\x00alice-secret"), 2)
		resp := handshake(t, c, 1, "SCRAM-SHA-256", 3)
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code {
			t.Fatalf("mechanism change: %d", resp.ErrorCode)
		}
		expectClosed(t, c)
	})
	t.Run("handshake v0 and raw tokens (kafka-python)", func(t *testing.T) {
		c := wiretest.Dial(t, ts.saslAddr)
		if resp := handshake(t, c, 0, "PLAIN", 1); resp.ErrorCode != 0 {
			t.Fatalf("handshake v0: %d", resp.ErrorCode)
		}
		if _, err := c.Write(wiretest.Sized([]byte("alice\x00alice\x00alice-secret"))); err != nil {
			t.Fatal(err)
		}
		var reply [4]byte
		if _, err := io.ReadFull(c, reply[:]); err != nil || reply != [4]byte{} {
			t.Fatalf("raw reply %v %v", reply, err)
		}
		metadataOK(t, c, 2)
		if p := ts.lastPrincipal(); p != "User:alice" {
			t.Fatalf("principal %q", p)
		}
	})
	t.Run("raw token with wrong password closes", func(t *testing.T) {
		before := ts.logs.FilterMessage("closing connection").Len()
		c := wiretest.Dial(t, ts.saslAddr)
		handshake(t, c, 0, "PLAIN", 1)
		if _, err := c.Write(wiretest.Sized([]byte("\x00alice\x00nope"))); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
		// The close is logged after the socket closes: wait for it, so
		// that the next subtest reads its own connection's reason.
		if reason := ts.closeReason(t, before); !strings.Contains(reason, "authentication failed") {
			t.Fatalf("closed because %q", reason)
		}
	})
	t.Run("oversized request before authentication closes", func(t *testing.T) {
		// Only the size is sent: the connection closes without waiting
		// for (or allocating) the body.
		before := ts.logs.FilterMessage("closing connection").Len()
		c := wiretest.Dial(t, ts.saslAddr)
		if _, err := c.Write(binary.BigEndian.AppendUint32(nil, 8192)); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
		if reason := ts.closeReason(t, before); !strings.Contains(reason, "frame size") {
			t.Fatalf("closed because %q", reason)
		}
	})
	t.Run("refused from the header, body never decoded", func(t *testing.T) {
		// A Metadata header followed by bytes no decoder accepts: the gate
		// refuses it from the header, so the reason is the SASL state,
		// not a malformed body.
		for _, stage := range []string{"before handshake", "after handshake"} {
			before := ts.logs.FilterMessage("closing connection").Len()
			c := wiretest.Dial(t, ts.saslAddr)
			if stage == "after handshake" {
				handshake(t, c, 1, "PLAIN", 1)
			}
			hdr := binary.BigEndian.AppendUint16(nil, 3) // Metadata
			hdr = binary.BigEndian.AppendUint16(hdr, 12)
			hdr = binary.BigEndian.AppendUint32(hdr, 2)
			hdr = append(hdr, 0xff, 0xff, 0 /* tags */, 0x7f, 0xff, 0xff, 0xff /* garbage */)
			if _, err := c.Write(wiretest.Sized(hdr)); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
			if reason := ts.closeReason(t, before); !strings.Contains(reason, "illegal SASL state") || strings.Contains(reason, "malformed") {
				t.Fatalf("%s: closed because %q", stage, reason)
			}
		}
	})
	t.Run("PLAINTEXT listener", func(t *testing.T) {
		c := wiretest.Dial(t, ts.plainAddr)
		if resp := handshake(t, c, 1, "PLAIN", 1); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake on PLAINTEXT: %d", resp.ErrorCode)
		}
		metadataOK(t, c, 2) // still open
		if p := ts.lastPrincipal(); p != AnonymousPrincipal {
			t.Fatalf("principal %q", p)
		}
	})
}

// franz-go authenticates with PLAIN and SCRAM; a wrong password is a
// SASL_AUTHENTICATION_FAILED error.
func TestSASLFranzClient(t *testing.T) {
	ts := startSASLServer(t, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for _, c := range []struct {
		name string
		opt  kgo.Opt
		user string
		ok   bool
	}{
		{"plain", kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()), "User:alice", true},
		{"scram", kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism()), "User:bob", true},
		{"plain wrong", kgo.SASL(plain.Auth{User: "alice", Pass: "x"}.AsMechanism()), "", false},
		{"scram wrong", kgo.SASL(scram.Auth{User: "bob", Pass: "x"}.AsSha256Mechanism()), "", false},
		{"scram-512 not enabled", kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism()), "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(ts.saslAddr), c.opt, kgo.RequestRetries(0))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if c.ok {
				if err != nil || ts.lastPrincipal() != c.user {
					t.Fatalf("err %v principal %q", err, ts.lastPrincipal())
				}
				return
			}
			want := kerr.SaslAuthenticationFailed
			if strings.Contains(c.name, "not enabled") {
				want = kerr.UnsupportedSaslMechanism
			}
			if !errors.Is(err, want) {
				t.Fatalf("got %v, want %v", err, want)
			}
		})
	}
}

// With connections.max.reauth.ms set, franz-go re-authenticates on its
// connection before the session ends, and requests keep working.
func TestSASLReauthenticationFranz(t *testing.T) {
	ts := startSASLServer(t, 1500*time.Millisecond, 0)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.saslAddr), kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for ts.auths.Load() < 3 {
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
			t.Fatalf("request failed after %d authentications: %v", ts.auths.Load(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := ts.logs.FilterMessage("closing connection").Len(); n != 0 {
		t.Fatalf("%d connections closed; re-authentication should keep them open", n)
	}
}

// A client that does not re-authenticate loses its connection on the first
// request after the session expired.
func TestSASLSessionExpiry(t *testing.T) {
	ts := startSASLServer(t, 50*time.Millisecond, 0)
	c := wiretest.Dial(t, ts.saslAddr)
	handshake(t, c, 1, "PLAIN", 1)
	resp := authenticate(t, c, []byte("\x00alice\x00alice-secret"), 2)
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis <= 0 || resp.SessionLifetimeMillis > 50 {
		t.Fatalf("got %d lifetime %d", resp.ErrorCode, resp.SessionLifetimeMillis)
	}
	time.Sleep(100 * time.Millisecond) // past the session's end
	r := kmsg.NewPtrMetadataRequest()
	r.Version = 1
	wiretest.Send(t, c, r, 3)
	expectClosed(t, c)
}

// TestFailedAuthenticationDelay: a failed authentication is answered, and
// its connection closed, no sooner than
// connection.failed.authentication.delay.ms (a lower bound, which cannot
// fail on a slow machine), for a wrong password, a raw-token failure and
// an unknown mechanism; a successful one is not delayed.
func TestFailedAuthenticationDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	ts := startSASLServerDelay(t, 0, 0, delay)

	c := wiretest.Dial(t, ts.saslAddr)
	handshake(t, c, 1, "PLAIN", 1)
	start := time.Now()
	resp := authenticate(t, c, []byte("\x00alice\x00wrong"), 2)
	if took := time.Since(start); took < delay {
		t.Fatalf("failure answered after %v, before the %v delay", took, delay)
	}
	if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("code %d", resp.ErrorCode)
	}
	expectClosed(t, c)

	c = wiretest.Dial(t, ts.saslAddr)
	handshake(t, c, 0, "PLAIN", 1)
	start = time.Now()
	if _, err := c.Write(wiretest.Sized([]byte("\x00alice\x00wrong"))); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	if took := time.Since(start); took < delay {
		t.Fatalf("raw-token failure closed after %v, before the %v delay", took, delay)
	}

	c = wiretest.Dial(t, ts.saslAddr)
	r := kmsg.NewPtrSASLHandshakeRequest()
	r.SetVersion(1)
	r.Mechanism = "NOPE"
	start = time.Now()
	wiretest.Send(t, c, r, 1)
	wiretest.ReadResponse(t, c)
	if took := time.Since(start); took < delay {
		t.Fatalf("unknown mechanism answered after %v, before the %v delay", took, delay)
	}
	expectClosed(t, c)

	c = wiretest.Dial(t, ts.saslAddr)
	handshake(t, c, 1, "PLAIN", 1)
	if resp := authenticate(t, c, []byte("\x00alice\x00alice-secret"), 2); resp.ErrorCode != 0 {
		t.Fatalf("code %d", resp.ErrorCode)
	}
	metadataOK(t, c, 3)
}
