package network

import (
	"context"
	"errors"
	"fmt"

	"github.com/runnel/runnel/protocol"
	"github.com/runnel/runnel/security/sasl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saslAuthenticateMaxVersion: v1 adds session_lifetime_ms (KIP-368), v2 is
// flexible.
const saslAuthenticateMaxVersion int16 = 2

// handleSASLAuthenticate carries one token of the exchange a SaslHandshake
// v1 started. A failed authentication answers SASL_AUTHENTICATION_FAILED
// with the reason and then closes the connection, as Kafka does. Outside an
// exchange (a PLAINTEXT listener, or an already authenticated connection)
// it answers ILLEGAL_SASL_STATE, as Kafka's KafkaApis does.
func (s *Server) handleSASLAuthenticate(_ context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
	r := req.Body.(*kmsg.SASLAuthenticateRequest)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	sc := cc.sasl
	if sc == nil || (sc.getStage() != saslAwaitAuthenticate && sc.getStage() != saslReauthenticating) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate request received after successful authentication"
		if sc == nil {
			msg = "SaslAuthenticate on a listener without SASL"
		}
		resp.ErrorMessage = &msg
		return Response{Msg: resp}, nil
	}
	sc.authVersion = req.Version
	reply, err := sc.step(cc, r.SASLAuthBytes)
	if err != nil {
		if !errors.Is(err, sasl.ErrAuthFailed) && !errors.Is(err, errSASLState) {
			return Response{}, err
		}
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		return Response{Msg: resp, CloseAfter: authFailure{fmt.Errorf("SASL %s authentication failed: %w", sc.mech, err)}}, nil
	}
	resp.SASLAuthBytes = reply
	if sc.getStage() == saslAuthenticated {
		resp.SessionLifetimeMillis = sc.sessionLifetimeMs()
	}
	return Response{Msg: resp}, nil
}
