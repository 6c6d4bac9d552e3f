package broker

import (
	"maps"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/coordinator"
)

// KIP-848 glue: consumer groups assign partitions on the broker, so they
// must learn when the topic list changes — a topic created after a
// consumer started may match its regex, a topic may be deleted or grow
// partitions. start848 subscribes to metadata snapshots and tells the
// coordinator whenever the topics (name, id, partition count) differ
// from the last snapshot's; the coordinator then starts a new epoch in
// each group whose subscribed topics changed. Internal topics are
// included: Kafka 4's group coordinator resolves a subscription's regular
// expression against every topic (then drops those the member may not
// DESCRIBE), so a regex that matches __consumer_offsets is assigned it.

// start848 is called once from startGroups; the subscription ends with
// gc.unsubscribe.
func (gc *groupCoordinator) start848() {
	var last map[string]coordinator.TopicInfo // only the subscriber goroutine touches it
	cancel := gc.b.ctrl.Subscribe(func(snap *controller.Snapshot) {
		topics := topicInfos(snap)
		if last != nil && maps.Equal(last, topics) {
			return
		}
		last = topics
		gc.coord.TopicsChanged(topics)
	})
	prev := gc.unsubscribe
	gc.unsubscribe = func() {
		cancel()
		prev()
	}
}

// topicInfos is the coordinator's view of a snapshot's topics.
func topicInfos(snap *controller.Snapshot) map[string]coordinator.TopicInfo {
	out := make(map[string]coordinator.TopicInfo, len(snap.Topics))
	for name, t := range snap.Topics {
		out[name] = coordinator.TopicInfo{ID: t.ID, Partitions: int32(len(t.Partitions))}
	}
	return out
}

// snapshotGroupConfigs gives the coordinator each consumer group's own
// session timeout and heartbeat interval (config resource GROUP, set with
// IncrementalAlterConfigs) from the current metadata snapshot, so a change
// made through any broker applies at the group's next heartbeat.
type snapshotGroupConfigs struct{ b *Broker }

func (s snapshotGroupConfigs) ConsumerGroupTimeouts(group string) (session, heartbeat time.Duration) {
	overrides := s.b.ctrl.Snapshot().GroupConfigs[group]
	if len(overrides) == 0 {
		return 0, 0
	}
	if ms, ok := config.GroupTimeoutMs(overrides, config.GroupConsumerSessionTimeoutMs); ok {
		session = time.Duration(ms) * time.Millisecond
	}
	if ms, ok := config.GroupTimeoutMs(overrides, config.GroupConsumerHeartbeatIntervalMs); ok {
		heartbeat = time.Duration(ms) * time.Millisecond
	}
	return session, heartbeat
}
