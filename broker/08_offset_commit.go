package broker

import (
	"context"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit (key 8) is answered by the group coordinator (groups.go).
const offsetCommitMaxVersion int16 = 10

func (b *Broker) handleOffsetCommit(ctx context.Context, cc *ConnContext, req *protocol.Request) (Response, error) {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	return Response{Msg: b.groups.coord.OffsetCommit(ctx, r, b.groupTopicName)}, nil
}
