package broker

import (
	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Broker-only actions. A follower's Fetch (a replica id >= 0) moves the
// high watermark and ISR, and WriteTxnMarkers commits or aborts any
// producer's transaction: Kafka lets only CLUSTER_ACTION on the cluster
// do either. Runnel enforces the part of that which needs no authorizer:
// such requests are accepted only on the inter-broker listener and, when
// it authenticates with SASL, only from the inter-broker user. On a
// listener that clients share with brokers (one PLAINTEXT listener, the
// quickstart's setup) nothing tells a broker from a client, as in Kafka
// without an authorizer.

// fromBroker reports whether a connection may perform broker-only actions.
func (b *Broker) fromBroker(cc *network.ConnContext) bool {
	if cc.Listener != b.cfg.InterBrokerListenerName {
		return false
	}
	if ib := b.interBrokerSASL; ib != nil {
		return cc.Principal() == "User:"+ib.user
	}
	return true
}

// refusedFollowerFetch answers a follower Fetch from a connection that may
// not make one as Kafka answers a follower without CLUSTER_ACTION: every
// partition TOPIC_AUTHORIZATION_FAILED, nothing read or recorded, no
// fetch session.
func refusedFollowerFetch(req *protocol.Request, r *kmsg.FetchRequest) network.Response {
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return network.Response{Frame: protocol.EncodeFetchResponse(req.Version, req.CorrelationID, resp, nil)}
}
