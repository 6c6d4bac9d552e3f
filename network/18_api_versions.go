package network

import (
	"context"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

const (
	apiVersionsKey int16 = 18
	// apiVersionsMaxVersion is the highest ApiVersions version served (Kafka 4's).
	apiVersionsMaxVersion int16 = 4
)

// handleAPIVersions answers ApiVersions v0–v4 with the broker's version
// table and, from v3, its features. It records the client's software name
// and version (v3+), refusing malformed ones with INVALID_REQUEST as Kafka
// does.
func (s *Server) handleAPIVersions(_ context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
	r := req.Body.(*kmsg.ApiVersionsRequest)
	resp := kmsg.NewPtrApiVersionsResponse()
	if req.Version >= 3 {
		cc.Log.Debug("client software", zap.String("name", r.ClientSoftwareName), zap.String("version", r.ClientSoftwareVersion))
		if !validSoftwareField(r.ClientSoftwareName) || !validSoftwareField(r.ClientSoftwareVersion) {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return Response{Msg: resp}, nil
		}
		cc.setClientSoftware(r.ClientSoftwareName, r.ClientSoftwareVersion)
	}
	resp.ApiKeys = s.table.APIKeys()
	resp.SupportedFeatures = s.cfg.SupportedFeatures
	resp.FinalizedFeatures = s.cfg.FinalizedFeatures
	resp.FinalizedFeaturesEpoch = s.cfg.FinalizedFeaturesEpoch
	return Response{Msg: resp}, nil
}

// writeUnsupportedAPIVersions answers an ApiVersions request of a version
// the broker does not serve (KIP-511): a v0 response, header v0, with
// UNSUPPORTED_VERSION and the full table, so the client can retry with a
// version both sides know.
func (c *conn) writeUnsupportedAPIVersions(correlationID int32) error {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = c.s.table.APIKeys()
	c.cc.Log.Debug("unsupported ApiVersions version; answering with v0")
	c.wbuf = protocol.AppendResponse(c.wbuf[:0], apiVersionsKey, 0, correlationID, resp)
	return c.write(c.wbuf)
}

// validSoftwareField matches Kafka's rule for client software names and
// versions: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
func validSoftwareField(s string) bool {
	if s == "" {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case alnum(c):
		case (c == '-' || c == '.') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
