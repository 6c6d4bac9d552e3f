package broker

import (
	"testing"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// findCoordinator asks b for the coordinator of group and returns the
// error code.
func findCoordinator(t *testing.T, b *testBroker, group string) int16 {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = []string{group}
	resp, err := req.RequestWith(testCtx(t), b.client(t))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Coordinators[0].ErrorCode
}

// TestOffsetsTopicWaitsForReplicationFactor: as in Kafka,
// __consumer_offsets is not created with fewer replicas than
// offsets.topic.replication.factor (default 3): FindCoordinator answers
// COORDINATOR_NOT_AVAILABLE until enough brokers are registered, then the
// topic has the configured factor.
func TestOffsetsTopicWaitsForReplicationFactor(t *testing.T) {
	url := testenv.StartEtcd(t)
	dir := t.TempDir()
	var bs []*testBroker
	t.Cleanup(func() {
		for _, b := range bs {
			if err := b.Close(); err != nil {
				t.Errorf("close %d: %v", b.id, err)
			}
		}
	})
	bs = append(bs, startClusterBroker(t, url, 1, dir))
	if code := findCoordinator(t, bs[0], "g"); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("one broker of three: FindCoordinator error %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(code))
	}
	if bs[0].ctrl.Snapshot().Topics[offsetsTopicName] != nil {
		t.Fatal("__consumer_offsets created with fewer replicas than configured")
	}
	bs = append(bs, startClusterBroker(t, url, 2, dir), startClusterBroker(t, url, 3, dir))
	testenv.Eventually(t, "three brokers registered", func() bool { return len(bs[0].ctrl.Snapshot().Brokers) == 3 })
	testenv.Eventually(t, "a coordinator", func() bool { return findCoordinator(t, bs[0], "g") == 0 })
	ot := bs[0].ctrl.Snapshot().Topics[offsetsTopicName]
	for _, p := range ot.Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("partition %d replicas %v, want 3", p.Index, p.Replicas)
		}
	}
}

// TestOffsetsTopicSingleNode: a single node (embedded etcd) creates
// __consumer_offsets with one replica when the factor is not configured,
// and honours an explicit factor it cannot meet as Kafka does.
func TestOffsetsTopicSingleNode(t *testing.T) {
	b := startTestBroker(t)
	if code := findCoordinator(t, b, "g"); code != 0 {
		t.Fatalf("single node, factor unset: %v", kerr.ErrorForCode(code))
	}
	if p := b.ctrl.Snapshot().Topics[offsetsTopicName].Partitions[0]; len(p.Replicas) != 1 {
		t.Fatalf("replicas %v", p.Replicas)
	}
	b3 := startTestBroker(t, "offsets.topic.replication.factor=3")
	if code := findCoordinator(t, b3, "g"); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("single node, factor 3: %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(code))
	}
}
