package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestBrokerOnlyActions: a follower Fetch and WriteTxnMarkers are refused
// on a client listener (TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_
// FAILED as Kafka answers without CLUSTER_ACTION) and change nothing; on
// the inter-broker listener they are served.
func TestBrokerOnlyActions(t *testing.T) {
	tb := startTestBroker(t,
		"listeners=CLIENT://127.0.0.1:0,BROKER://127.0.0.1:0",
		"listener.security.protocol.map=CLIENT:PLAINTEXT,BROKER:PLAINTEXT",
		"inter.broker.listener.name=BROKER",
	)
	addrs := tb.Addrs()
	client, brokerSide := addrs[0].String(), addrs[1].String()
	dataTopic(t, tb, "f", 1, nil)
	ctx := testCtx(t)
	on := func(addr string) *kgo.Client {
		v := kversion.Stable()
		v.SetMaxKeyVersion(1, 12) // Fetch by topic name
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	producer := on(client)
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "f", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	followerFetch := func(cl *kgo.Client) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = 2
		req.MaxWaitMillis, req.MaxBytes = 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "f"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = 0, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := followerFetch(on(client)); p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.RecordBatches) != 0 {
		t.Errorf("follower fetch on the client listener: %v with %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
	if p := followerFetch(on(brokerSide)); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Errorf("follower fetch on the inter-broker listener: %v with %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}

	markers := func(cl *kgo.Client) int16 {
		t.Helper()
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = 12345, 0, true, 1<<30
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = "f", []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		if err != nil {
			t.Fatal(err)
		}
		return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	if code := markers(on(client)); code != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("WriteTxnMarkers on the client listener: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	// Nothing was written: the log still ends after the one record.
	if end := tb.replicas.All()[0].Log().LogEndOffset(); end != 1 {
		t.Errorf("log end %d after refused markers, want 1", end)
	}
}
