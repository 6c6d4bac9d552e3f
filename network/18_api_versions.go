package network

import (
	"context"
	"sort"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

const (
	apiVersionsKey int16 = 18
	// apiVersionsMaxVersion is the highest ApiVersions version served (Kafka 4's).
	apiVersionsMaxVersion int16 = 5
)

// handleAPIVersions answers ApiVersions v0–v5 with the broker's version
// table and, from v3, its features. It records the client's software name
// and version (v3+), refusing malformed ones with INVALID_REQUEST as Kafka
// does. From v5 (KIP-1242) a client names the cluster and node it expects
// to have reached: both or neither (else INVALID_REQUEST), and a mismatch
// is REBOOTSTRAP_REQUIRED, so a client routed to the wrong broker starts
// over from its bootstrap servers.
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
	if req.Version >= 5 {
		hasCluster, hasNode := r.ClusterID != nil, r.NodeID != -1
		if hasCluster != hasNode {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return Response{Msg: resp}, nil
		}
		if hasCluster && s.cfg.Identity != nil {
			if cluster, node := s.cfg.Identity(); *r.ClusterID != cluster || r.NodeID != node {
				cc.Log.Debug("client expected another broker", zap.String("cluster_id", *r.ClusterID), zap.Int32("node_id", r.NodeID))
				resp.ErrorCode = kerr.RebootstrapRequired.Code
				return Response{Msg: resp}, nil
			}
		}
	}
	resp.ApiKeys = s.table.APIKeys()
	resp.FinalizedFeaturesEpoch = -1
	if s.cfg.Features != nil {
		appendFeatures(resp, req.Version, s.cfg.Features())
	}
	return Response{Msg: resp}, nil
}

// appendFeatures fills the feature fields of an ApiVersions response as
// Kafka's ApiVersionsResponse does: below v4 a supported feature whose
// minimum level is 0 is left out (older clients fail to parse it,
// KAFKA-17492); a finalized feature is listed with its level as both
// minimum and maximum, and only when above 0. Both lists are sorted by
// name.
func appendFeatures(resp *kmsg.ApiVersionsResponse, version int16, f Features) {
	for _, sf := range f.Supported {
		if version < 4 && sf.Min == 0 {
			continue
		}
		k := kmsg.NewApiVersionsResponseSupportedFeature()
		k.Name, k.MinVersion, k.MaxVersion = sf.Name, sf.Min, sf.Max
		resp.SupportedFeatures = append(resp.SupportedFeatures, k)
	}
	sort.Slice(resp.SupportedFeatures, func(i, j int) bool { return resp.SupportedFeatures[i].Name < resp.SupportedFeatures[j].Name })
	for name, level := range f.Finalized {
		if level <= 0 {
			continue
		}
		k := kmsg.NewApiVersionsResponseFinalizedFeature()
		k.Name, k.MinVersionLevel, k.MaxVersionLevel = name, level, level
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, k)
	}
	sort.Slice(resp.FinalizedFeatures, func(i, j int) bool { return resp.FinalizedFeatures[i].Name < resp.FinalizedFeatures[j].Name })
	resp.FinalizedFeaturesEpoch = f.Epoch
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
