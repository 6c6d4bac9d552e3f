package broker

import (
	"context"
	"sync"

	"github.com/runnel/runnel/controller"
)

// producerIDBlockSize is how many producer ids a broker takes from etcd at
// a time (Kafka's ProducerIdManager also hands out blocks of 1000).
const producerIDBlockSize = 1000

// producerIDs hands out producer ids from blocks reserved in etcd, so ids
// are unique across the cluster and across restarts.
type producerIDs struct {
	ctrl *controller.Controller

	mu         sync.Mutex
	next, stop int64 // [next, stop) is what is left of the current block
}

func newProducerIDs(ctrl *controller.Controller) *producerIDs {
	return &producerIDs{ctrl: ctrl}
}

// next returns a fresh producer id.
func (p *producerIDs) nextID(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.stop {
		first, err := p.ctrl.AllocateProducerIDs(ctx, producerIDBlockSize)
		if err != nil {
			return 0, err
		}
		p.next, p.stop = first, first+producerIDBlockSize
	}
	id := p.next
	p.next++
	return id, nil
}
