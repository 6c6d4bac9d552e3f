package broker

import (
	"context"
	"errors"

	"github.com/runnel/runnel/network"
	"github.com/runnel/runnel/security/authz"

	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// metadataMaxVersion is the highest Metadata version served (kmsg's).
const metadataMaxVersion int16 = 13

// handleMetadata answers Metadata v0–v13: the live brokers' endpoints on
// the listener the request came in on, the cluster and controller ids, and
// the requested topics (all of them for a null list, or an empty one at
// v0) with their partitions' leaders, epochs, replicas, ISR and offline
// replicas. Topics may be named or, from v10, given by id.
//
// Unknown topics are created on the spot, with num.partitions and
// default.replication.factor, when auto.create.topics.enable is on and the
// request allows it (always below v4, by AllowAutoTopicCreation from v4),
// unless the name is illegal or looks internal. Kafka 4 answers such a
// first request with LEADER_NOT_AVAILABLE and creates the topic in the
// background; Runnel creates it before answering and waits for its own
// metadata to show it, so the client usually gets the leaders at once.
func (b *Broker) handleMetadata(ctx context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	v := req.Version

	allTopics := r.Topics == nil || (v == 0 && len(r.Topics) == 0)
	allowAuto := !allTopics && b.cfg.AutoCreateTopicsEnable && (v < 4 || r.AllowAutoTopicCreation)

	snap := b.ctrl.Snapshot()
	if !allTopics && metadataMissing(snap, r.Topics) {
		// A topic created through another broker may not have reached
		// this one's snapshot yet: catch up with etcd before calling it
		// unknown (or creating it).
		snap = b.syncMetadata(ctx)
	}

	// Auto-create, before building the answer, so that it shows the new
	// topics. createErr holds the error of a topic that could not be made.
	createErr := map[string]error{}
	mayDescribe := func(name string) bool {
		return b.authorize(cc, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
	}
	if allowAuto {
		var rev int64
		for _, t := range r.Topics {
			if t.Topic == nil || (t.TopicID != [16]byte{}) {
				continue
			}
			name := *t.Topic
			if _, ok := snap.Topics[name]; ok || !autoCreatable(name) || !mayDescribe(name) {
				continue
			}
			if _, done := createErr[name]; done {
				continue
			}
			if !b.authorizeCluster(cc, kmsg.ACLOperationCreate) && !b.authorize(cc, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, name) {
				createErr[name] = kerr.TopicAuthorizationFailed
				continue
			}
			if _, collides := collidingTopic(snap, name); collides {
				createErr[name] = kerr.InvalidTopicException
				continue
			}
			_, wrev, err := b.ctrl.CreateTopic(ctx, controller.TopicSpec{
				Name:              name,
				NumPartitions:     b.cfg.NumPartitions,
				ReplicationFactor: int16(b.cfg.DefaultReplicationFactor),
			}, false)
			switch {
			case err == nil:
				b.log.Info("auto-created topic", zap.String("topic", name), zap.Int32("partitions", b.cfg.NumPartitions),
					zap.Int32("replication.factor", b.cfg.DefaultReplicationFactor))
				rev = max(rev, wrev)
			case errors.Is(err, kerr.TopicAlreadyExists):
				// Someone else made it: it shows once our snapshot has it.
				err = kerr.LeaderNotAvailable
			default:
				b.log.Info("auto-creating topic failed", zap.String("topic", name), zap.Error(err))
			}
			createErr[name] = err
		}
		if rev > 0 {
			b.waitMetadata(ctx, rev)
			snap = b.ctrl.Snapshot()
		}
	}

	for _, id := range liveBrokerIDs(snap, cc.Listener) {
		ep, _ := endpointFor(snap, id, cc.Listener)
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port = id, ep.Host, ep.Port
		if rack := snap.Brokers[id].Rack; rack != "" {
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	clusterID := snap.ClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = controllerIDFor(snap, cc.Listener)
	resp.AuthorizedOperations = authorizedOperationsOmitted
	if r.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = b.authorizedOperations(cc, kmsg.ACLResourceTypeCluster, authz.ClusterResourceName)
	}

	topicOps := func(name string) int32 {
		if !r.IncludeTopicAuthorizedOperations {
			return authorizedOperationsOmitted
		}
		return b.authorizedOperations(cc, kmsg.ACLResourceTypeTopic, name)
	}
	addTopic := func(t *controller.Topic) {
		rt := kmsg.NewMetadataResponseTopic()
		name := t.Name
		rt.Topic = &name
		rt.TopicID = t.ID
		rt.IsInternal = isInternalTopic(t)
		rt.AuthorizedOperations = topicOps(name)
		rt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(t.Partitions))
		for i := range t.Partitions {
			p := &t.Partitions[i]
			pv := viewPartition(snap, p, cc.Listener)
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition = p.Index
			rp.ErrorCode = pv.errCode
			rp.Leader, rp.LeaderEpoch = pv.leader, pv.epoch
			rp.Replicas, rp.ISR, rp.OfflineReplicas = pv.replicas, pv.isr, pv.offline
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	addError := func(name *string, id [16]byte, code int16) {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic, rt.TopicID, rt.ErrorCode = name, id, code
		rt.AuthorizedOperations = authorizedOperationsOmitted
		if name != nil {
			// Kafka computes the operations of the topics it answers
			// for; one the principal may not describe keeps "omitted".
			if code != kerr.TopicAuthorizationFailed.Code {
				rt.AuthorizedOperations = topicOps(*name)
			}
			rt.IsInternal = code != kerr.TopicAuthorizationFailed.Code && isInternalTopicName(*name)
		}
		rt.Partitions = []kmsg.MetadataResponseTopicPartition{}
		resp.Topics = append(resp.Topics, rt)
	}

	if allTopics {
		// Topics the principal may not describe are left out, as Kafka.
		for _, name := range sortedTopicNames(snap) {
			if mayDescribe(name) {
				addTopic(snap.Topics[name])
			}
		}
		return network.Response{Msg: resp}, nil
	}
	seenName := map[string]bool{}
	seenID := map[[16]byte]bool{}
	for _, t := range r.Topics {
		if t.TopicID != [16]byte{} {
			if seenID[t.TopicID] {
				continue
			}
			seenID[t.TopicID] = true
			if top := snap.TopicsByID[controller.TopicID(t.TopicID)]; top != nil && mayDescribe(top.Name) {
				addTopic(top)
			} else if top != nil {
				// Kafka: ids are not secret, the name is.
				addError(nil, t.TopicID, kerr.TopicAuthorizationFailed.Code)
			} else {
				addError(nil, t.TopicID, kerr.UnknownTopicID.Code)
			}
			continue
		}
		if t.Topic == nil {
			// Neither a name nor an id: nothing to look up.
			addError(nil, [16]byte{}, kerr.InvalidRequest.Code)
			continue
		}
		name := *t.Topic
		if seenName[name] {
			continue
		}
		seenName[name] = true
		if !mayDescribe(name) {
			// Whether or not it exists, as Kafka.
			addError(t.Topic, [16]byte{}, kerr.TopicAuthorizationFailed.Code)
			continue
		}
		if top := snap.Topics[name]; top != nil {
			addTopic(top)
			continue
		}
		code := kerr.UnknownTopicOrPartition.Code
		if validateTopicName(name) != nil {
			code = kerr.InvalidTopicException.Code
		} else if err, tried := createErr[name]; tried && err != nil {
			code = errorCode(err)
		} else if tried {
			// Created, but not yet in the snapshot (the wait timed out).
			code = kerr.LeaderNotAvailable.Code
		}
		addError(t.Topic, [16]byte{}, code)
	}
	return network.Response{Msg: resp}, nil
}

// metadataMissing reports whether any requested topic is absent from snap.
func metadataMissing(snap *controller.Snapshot, topics []kmsg.MetadataRequestTopic) bool {
	for _, t := range topics {
		if t.TopicID != [16]byte{} {
			if snap.TopicsByID[controller.TopicID(t.TopicID)] == nil {
				return true
			}
		} else if t.Topic != nil && snap.Topics[*t.Topic] == nil {
			return true
		}
	}
	return false
}

// syncMetadata brings the local snapshot up to etcd's current revision (a
// linearizable read tells what that is) and returns it. On failure it
// returns the snapshot as it is.
func (b *Broker) syncMetadata(ctx context.Context) *controller.Snapshot {
	ctx, cancel := context.WithTimeout(ctx, metadataWaitTimeout)
	defer cancel()
	resp, err := b.ctrl.Client().Get(ctx, "runnel-metadata-sync", clientv3.WithCountOnly())
	if err != nil {
		b.log.Warn("reading the etcd revision", zap.Error(err))
		return b.ctrl.Snapshot()
	}
	b.waitMetadata(ctx, resp.Header.Revision)
	return b.ctrl.Snapshot()
}
