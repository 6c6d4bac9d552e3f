package coordinator

import "github.com/twmb/franz-go/pkg/kerr"

// consumerGroup is the KIP-848 state of a group.
type consumerGroup struct {
	members map[string]*consumerMember
}

type consumerMember struct{}

func (cg *consumerGroup) stopTimers() {}

func (cg *consumerGroup) subscribedTopics() map[string]bool { return nil }

func (cg *consumerGroup) validateCommit(memberID string, epoch int32) *kerr.Error { return nil }

func (cg *consumerGroup) validateFetch(memberID string, epoch int32) *kerr.Error { return nil }
