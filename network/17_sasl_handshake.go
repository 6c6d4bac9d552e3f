package network

import (
	"context"
	"fmt"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saslHandshakeMaxVersion: v0 (tokens follow as bare frames) and v1 (tokens
// follow in SaslAuthenticate), as Kafka 4 serves.
const saslHandshakeMaxVersion int16 = 1

// handleSASLHandshake chooses the mechanism of a SASL exchange, as
// Kafka's SaslServerAuthenticator does:
//   - on a listener without SASL it answers ILLEGAL_SASL_STATE (Kafka's
//     KafkaApis does) and the connection stays open;
//   - a mechanism not enabled on the listener gets UNSUPPORTED_SASL_MECHANISM
//     with the enabled list, and the connection closes after the answer;
//   - on an authenticated connection it starts a re-authentication
//     (KIP-368) when the client authenticated with SaslAuthenticate v1+
//     and asks for the same mechanism; otherwise ILLEGAL_SASL_STATE.
func (s *Server) handleSASLHandshake(_ context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
	r := req.Body.(*kmsg.SASLHandshakeRequest)
	resp := kmsg.NewPtrSASLHandshakeResponse()
	sc := cc.sasl
	if sc == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return Response{Msg: resp}, nil
	}
	resp.SupportedMechanisms = sc.cfg.Mechanisms
	reauth := false
	switch sc.getStage() {
	case saslAwaitHandshake:
	case saslAuthenticated:
		if sc.authVersion < 1 || req.Version < 1 {
			resp.ErrorCode = kerr.IllegalSaslState.Code
			return Response{Msg: resp}, nil
		}
		if r.Mechanism != sc.mech {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
			return Response{Msg: resp, CloseAfter: authFailure{fmt.Errorf("re-authentication with %q, not the session's mechanism %s", r.Mechanism, sc.mech)}}, nil
		}
		reauth = true
	default:
		return Response{}, fmt.Errorf("%w: second SaslHandshake", errSASLState)
	}
	session, ok := sc.cfg.NewSession(r.Mechanism)
	if !ok {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return Response{Msg: resp, CloseAfter: authFailure{fmt.Errorf("client asked for SASL mechanism %q, not enabled on listener %s", r.Mechanism, cc.Listener)}}, nil
	}
	sc.mech, sc.session = r.Mechanism, session
	switch {
	case reauth:
		sc.setStage(saslReauthenticating)
	case req.Version == 0:
		sc.setStage(saslRawTokens)
	default:
		sc.setStage(saslAwaitAuthenticate)
	}
	return Response{Msg: resp}, nil
}
