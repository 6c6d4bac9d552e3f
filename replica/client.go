package replica

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/tlsconfig"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
)

// replicaConn is a follower's connection to one leader broker: a minimal
// Kafka client that sends one request at a time and reads its response
// (the replica fetcher never pipelines). Requests are framed with kmsg's
// RequestFormatter; responses are read with protocol.ReadFrame and decoded
// by kmsg after the response header (correlation id, plus tagged fields for
// flexible versions).
type replicaConn struct {
	conn    net.Conn
	rd      *bufio.Reader
	fmt     *kmsg.RequestFormatter
	timeout time.Duration
	corr    int32
	buf     []byte

	// closeMu lets close (from another goroutine, to abort a read) race
	// safely with request.
	closeMu sync.Mutex
	closed  bool

	// expires is when the leader ends the SASL session (KIP-368); the
	// fetcher redials before then. Zero: never.
	expires time.Time
}

// dialReplica connects to addr, over TLS when tlsCfg is set (an SSL or
// SASL_SSL inter-broker listener), and with mech set (SASL_PLAINTEXT or
// SASL_SSL) authenticates first. timeout bounds the dial (with the
// handshake) and every request/response round trip
// (replica.socket.timeout.ms).
func dialReplica(ctx context.Context, addr, clientID string, timeout time.Duration, tlsCfg *tls.Config, mech fsasl.Mechanism, user string) (*replicaConn, error) {
	d := net.Dialer{Timeout: min(timeout, 10*time.Second)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		tc := tls.Client(c, tlsconfig.ForAddr(tlsCfg, addr))
		hctx, cancel := context.WithTimeout(ctx, d.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		c = tc
	}
	rc := &replicaConn{
		conn:    c,
		rd:      bufio.NewReaderSize(c, 64<<10),
		fmt:     kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)),
		timeout: timeout,
	}
	if mech != nil {
		if err := rc.authenticate(ctx, mech, user, addr); err != nil {
			rc.close()
			return nil, err
		}
	}
	return rc, nil
}

// authenticate runs SaslHandshake v1 and SaslAuthenticate v1 with the
// inter-broker mechanism (franz-go's client side of it).
func (rc *replicaConn) authenticate(ctx context.Context, mech fsasl.Mechanism, user, addr string) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech.Name()
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	if err := rc.request(hs, hsResp, 0); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
		return fmt.Errorf("replica client: SASL handshake for %s: %w (enabled: %v)", mech.Name(), err, hsResp.SupportedMechanisms)
	}
	host, _, _ := net.SplitHostPort(addr)
	session, msg, err := mech.Authenticate(ctx, host)
	if err != nil {
		return err
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = 1, msg
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		if err := rc.request(req, resp, 0); err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			detail := ""
			if resp.ErrorMessage != nil {
				detail = ": " + *resp.ErrorMessage
			}
			return fmt.Errorf("replica client: SASL %s authentication as %s: %w%s", mech.Name(), user, err, detail)
		}
		done, next, err := session.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return fmt.Errorf("replica client: SASL %s: %w", mech.Name(), err)
		}
		if done {
			if resp.SessionLifetimeMillis > 0 {
				// Redial with a margin, as clients re-authenticate early.
				rc.expires = time.Now().Add(time.Duration(resp.SessionLifetimeMillis) * time.Millisecond * 9 / 10)
			}
			return nil
		}
		msg = next
	}
}

// expired reports whether the leader's SASL session is (nearly) over.
func (rc *replicaConn) expired() bool {
	return !rc.expires.IsZero() && time.Now().After(rc.expires)
}

// close closes the connection; a request in progress fails.
func (rc *replicaConn) close() {
	rc.closeMu.Lock()
	defer rc.closeMu.Unlock()
	if !rc.closed {
		rc.closed = true
		rc.conn.Close()
	}
}

// request sends req at the version set on it and decodes the response into
// resp (whose version is set to match). Any error leaves the connection
// unusable; the caller closes it.
func (rc *replicaConn) request(req kmsg.Request, resp kmsg.Response, extra time.Duration) error {
	rc.corr++
	corr := rc.corr
	rc.buf = rc.fmt.AppendRequest(rc.buf[:0], req, corr)
	if err := rc.conn.SetDeadline(time.Now().Add(rc.timeout + extra)); err != nil {
		return err
	}
	if _, err := rc.conn.Write(rc.buf); err != nil {
		return err
	}
	frame, err := protocol.ReadFrame(rc.rd, 256<<20, nil)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if len(frame) < 4 {
		return errors.New("replica client: short response")
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return fmt.Errorf("replica client: correlation id %d, want %d", got, corr)
	}
	body := frame[4:]
	if protocol.ResponseHeaderFlexible(req.Key(), req.GetVersion()) {
		body, err = skipTags(body)
		if err != nil {
			return err
		}
	}
	resp.SetVersion(req.GetVersion())
	return resp.ReadFrom(body)
}

// skipTags skips a tagged-field section (uvarint count, then per field a
// uvarint tag, uvarint size and the bytes).
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("replica client: bad tagged fields")
	}
	b = b[k:]
	for ; n > 0; n-- {
		_, k = binary.Uvarint(b)
		if k <= 0 {
			return nil, errors.New("replica client: bad tagged fields")
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil, errors.New("replica client: bad tagged fields")
		}
		b = b[k+int(size):]
	}
	return b, nil
}
