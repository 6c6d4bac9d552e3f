package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeCluster(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)

	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	resp, err := req.RequestWith(ctx, tb.client(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || resp.ClusterID != tb.ctrl.ClusterID() || resp.ControllerID != tb.ID() ||
		len(resp.Brokers) != 1 || resp.Brokers[0].Host+":"+itoa(resp.Brokers[0].Port) != tb.addr ||
		resp.ClusterAuthorizedOperations != allClusterOperations || resp.EndpointType != endpointTypeBroker {
		t.Fatalf("%+v", resp)
	}

	req = kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = endpointTypeController
	resp, err = req.RequestWith(ctx, tb.client(t))
	if err != nil || resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("controller endpoints: %v %+v", err, resp)
	}

	sa := tb.saramaAdmin(t)
	brokers, controller, err := sa.DescribeCluster()
	if err != nil || controller != tb.ID() || len(brokers) != 1 || brokers[0].Addr() != tb.addr {
		t.Fatalf("sarama: %v %d %v", err, controller, brokers)
	}
}
