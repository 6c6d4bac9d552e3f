package broker

import (
	"context"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WriteTxnMarkers (key 27), v1–v2: a transaction coordinator on another broker
// asks this one, the leader of the partitions, to append commit or abort
// markers (control batches) for a producer. Each marker is appended on the
// leader path with the coordinator epoch it carries (a marker from an older
// coordinator epoch than the partition last saw is
// TRANSACTION_COORDINATOR_FENCED) and acknowledged once the high watermark
// passes it. v2 (KIP-1228) carries the transaction version of the
// marker's transaction; a TV2 marker's epoch is the one its EndTxn bumped
// to, above the epoch of the transaction's data, and the partition's
// producer state takes that epoch on, which is what fences a late write
// of the old epoch (KIP-890). Runnel accepts every marker epoch at or
// above the producer's current one for both versions.
const writeTxnMarkersMaxVersion int16 = 2

func (b *Broker) handleWriteTxnMarkers(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	// Only a transaction coordinator (a broker) may write markers
	// (broker_actions.go); Kafka answers anyone else
	// CLUSTER_AUTHORIZATION_FAILED on every partition.
	refused := !b.fromBroker(cc) || !b.authorizeCluster(cc, kmsg.ACLOperationClusterAction)
	snap := b.ctrl.Snapshot()
	for _, m := range r.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				if refused {
					rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				} else {
					rp.ErrorCode = errorCode(b.writeMarkerLocal(ctx, snap, t.Topic, p, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch))
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return network.Response{Msg: resp}, nil
}
