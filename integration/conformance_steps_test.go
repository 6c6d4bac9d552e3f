package integration

import (
	"fmt"
	"math"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Step builders of the conformance corpus (conformance_scenarios_test.go).

// createTopic is preparation: the topic exists with a leader on both
// brokers, and its id is known to later steps.
func createTopic(name string, partitions int32, configs ...string) confStep {
	return confStep{name: "create " + name, key: 19, versions: []int16{vMax},
		build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.Topics = []kmsg.CreateTopicsRequestTopic{ctopic(name, partitions, 1, configs...)}
			r.TimeoutMillis = 30000
			return r
		},
		until: func(_ *confSide, resp kmsg.Response) bool {
			code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
			return code == 0 || code == 36 // TOPIC_ALREADY_EXISTS
		},
		capture: func(s *confSide, resp kmsg.Response) {
			// Wait for every partition's leader, as a client would before producing.
			for {
				r := kmsg.NewPtrMetadataRequest()
				t := kmsg.NewMetadataRequestTopic()
				t.Topic = kmsg.StringPtr(name)
				r.Topics = append(r.Topics, t)
				r.SetVersion(12)
				m, err := s.conn.do(r)
				if err == nil {
					mt := m.(*kmsg.MetadataResponse).Topics[0]
					ready := mt.ErrorCode == 0 && len(mt.Partitions) == int(partitions)
					for _, p := range mt.Partitions {
						ready = ready && p.Leader >= 0 && p.ErrorCode == 0
					}
					if ready {
						s.topicIDs[name] = mt.TopicID
						return
					}
				}
				sleepBriefly()
			}
		}}
}

func ctopic(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		t.Configs = append(t.Configs, c)
	}
	return t
}

func createTopicsStep(name string, versions []int16, topics ...kmsg.CreateTopicsRequestTopic) confStep {
	return confStep{name: name, key: 19, versions: versions, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.Topics = append(r.Topics, topics...)
		r.TimeoutMillis = 30000
		return r
	}}
}

func metadataStep(name string, topics []string, autoCreate bool, versions ...int16) confStep {
	return confStep{name: name, key: 3, versions: versions, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		for _, topic := range topics {
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = kmsg.StringPtr(topic)
			r.Topics = append(r.Topics, t)
		}
		r.AllowAutoTopicCreation = autoCreate
		r.IncludeTopicAuthorizedOperations = true
		return r
	}}
}

// produceVersions: Kafka 4 advertises Produce v0–v2 (librdkafka
// reads a missing v0 as "no broker") but closes the connection on them;
// v3 is the oldest it serves.
var produceVersions = []int16{3, vMax}

func produceStep(name, topic string, partition int32, batch []byte) confStep {
	return confStep{name: name, key: 0, versions: produceVersions, build: func(s *confSide, v int16) kmsg.Request {
		return produceRequest(s, topic, partition, nil, batch)
	}}
}

func produceRequest(s *confSide, topic string, partition int32, txnID *string, batch []byte) *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.Acks, r.TimeoutMillis, r.TransactionID = -1, 30000, txnID
	t := kmsg.NewProduceRequestTopic()
	t.Topic, t.TopicID = topic, s.topicIDs[topic]
	p := kmsg.NewProduceRequestTopicPartition()
	p.Partition, p.Records = partition, batch
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}

// corruptCRC flips a bit of the batch's last record: its CRC no longer
// matches.
func corruptCRC(batch []byte) []byte {
	b := append([]byte(nil), batch...)
	b[len(b)-2] ^= 1
	return b
}

func fetchStep(name, topic string, partition int32, offset int64, currentEpoch int32, isolation ...int8) confStep {
	var iso int8
	if len(isolation) > 0 {
		iso = isolation[0]
	}
	return confStep{name: name, key: 1, build: func(s *confSide, v int16) kmsg.Request {
		return fetchRequest(s, topic, partition, offset, currentEpoch, iso)
	}}
}

func fetchRequest(s *confSide, topic string, partition int32, offset int64, currentEpoch int32, isolation int8) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.MaxWaitMillis, r.MinBytes, r.MaxBytes, r.IsolationLevel = 0, 1, 1<<20, isolation
	r.SessionID, r.SessionEpoch = 0, -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic, t.TopicID = topic, s.topicIDs[topic]
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition, p.FetchOffset, p.PartitionMaxBytes, p.CurrentLeaderEpoch = partition, offset, 1<<20, currentEpoch
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}

func listOffsetsStep(name, topic string, partition int32, timestamp int64, currentEpoch int32, versions ...int16) confStep {
	return confStep{name: name, key: 2, versions: versions, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrListOffsetsRequest()
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = topic
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Partition, p.Timestamp, p.CurrentLeaderEpoch = partition, timestamp, currentEpoch
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}}
}

func ofleStep(name, topic string, partition, epoch, currentEpoch int32) confStep {
	return confStep{name: name, key: 23, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic = topic
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.Partition, p.LeaderEpoch, p.CurrentLeaderEpoch = partition, epoch, currentEpoch
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}}
}

func deleteRecordsStep(name, topic string, partition int32, offset int64, versions []int16) confStep {
	return confStep{name: name, key: 21, versions: versions, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrDeleteRecordsRequest()
		t := kmsg.NewDeleteRecordsRequestTopic()
		t.Topic = topic
		p := kmsg.NewDeleteRecordsRequestTopicPartition()
		p.Partition, p.Offset = partition, offset
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		r.TimeoutMillis = 30000
		return r
	}}
}

func createPartitionsStep(name, topic string, count int32, validateOnly bool, versions []int16) confStep {
	return confStep{name: name, key: 37, versions: versions, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrCreatePartitionsRequest()
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic, t.Count = topic, count
		r.Topics = append(r.Topics, t)
		r.TimeoutMillis, r.ValidateOnly = 30000, validateOnly
		return r
	}}
}

func describeConfigsStep(name string, resourceType kmsg.ConfigResourceType, resource string, keys []string) confStep {
	return confStep{name: name, key: 32, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrDescribeConfigsRequest()
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName, res.ConfigNames = resourceType, resource, keys
		r.Resources = append(r.Resources, res)
		r.IncludeSynonyms, r.IncludeDocumentation = true, false
		return r
	}}
}

func alterConfigsStep(name string, resourceType kmsg.ConfigResourceType, resource, key, value string, validateOnly bool) confStep {
	return confStep{name: name, key: 33, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrAlterConfigsRequest()
		res := kmsg.NewAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = resourceType, resource
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = key, kmsg.StringPtr(value)
		res.Configs = append(res.Configs, c)
		r.Resources, r.ValidateOnly = append(r.Resources, res), validateOnly
		return r
	}}
}

func incrementalAlterStep(name string, resourceType kmsg.ConfigResourceType, resource, key string, op kmsg.IncrementalAlterConfigOp, value string) confStep {
	return confStep{name: name, key: 44, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = resourceType, resource
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op = key, op
		if op != 1 {
			c.Value = kmsg.StringPtr(value)
		}
		res.Configs = append(res.Configs, c)
		r.Resources = append(r.Resources, res)
		return r
	}}
}

func reassignStep(name, topic string, partition int32, replicas []int32) confStep {
	return confStep{name: name, key: 45, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		r.TimeoutMillis = 30000
		t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		t.Topic = topic
		p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		p.Partition, p.Replicas = partition, replicas
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}}
}

func scramUpsertStep(name, user string, mechanism int8, iterations int32) confStep {
	return confStep{name: name, key: 51, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations = user, mechanism, iterations
		u.Salt, u.SaltedPassword = []byte("salt-salt-salt"), make([]byte, 32)
		r.Upsertions = append(r.Upsertions, u)
		return r
	}}
}

// Groups.

func findCoordinatorReady(key string, txn ...bool) confStep {
	var typ int8
	if len(txn) > 0 && txn[0] {
		typ = 1
	}
	return confStep{name: "coordinator " + key, key: 10, versions: []int16{vMax},
		build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorType, r.CoordinatorKeys = typ, []string{key}
			return r
		},
		until: func(_ *confSide, resp kmsg.Response) bool {
			c := resp.(*kmsg.FindCoordinatorResponse).Coordinators
			return len(c) == 1 && c[0].ErrorCode == 0
		}}
}

// groupReady is preparation: the coordinator of group's offsets
// partition has loaded it (DescribeGroups answers with no coordinator
// error), as a client's retries would wait for.
func groupReady(group string) confStep {
	return confStep{name: "group ready " + group, key: 15, versions: []int16{vMax},
		build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups = []string{group}
			return r
		},
		until: func(_ *confSide, resp kmsg.Response) bool {
			g := resp.(*kmsg.DescribeGroupsResponse).Groups
			if len(g) != 1 {
				return false
			}
			switch g[0].ErrorCode {
			case 14, 15, 16: // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
				return false
			}
			return true
		}}
}

// consumerProtocol is a JoinGroup "consumer" protocol subscribed to topics.
func consumerProtocol(topics ...string) []kmsg.JoinGroupRequestProtocol {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version, meta.Topics = 0, topics
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", meta.AppendTo(nil)
	return []kmsg.JoinGroupRequestProtocol{p}
}

func joinStep(name, group, memberKey string, sessionTimeout int32, protocolType string, protocols []kmsg.JoinGroupRequestProtocol) confStep {
	return confStep{name: name, key: 11, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = group, sessionTimeout, 30000
		r.MemberID, r.ProtocolType, r.Protocols = s.strVal(memberKey), protocolType, protocols
		if r.Protocols == nil {
			r.Protocols = consumerProtocol("cf-ge-topic")
		}
		return r
	}, capture: func(s *confSide, resp kmsg.Response) {
		j := resp.(*kmsg.JoinGroupResponse)
		if j.MemberID != "" && memberKey != "" {
			s.vals[memberKey] = j.MemberID
		}
		if j.ErrorCode == 0 {
			s.vals[group+".generation"] = j.Generation
		}
	}}
}

func heartbeatStep(name, group, memberKey string, generationDelta int32) confStep {
	return confStep{name: name, key: 12, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrHeartbeatRequest()
		r.Group, r.MemberID = group, s.strVal(memberKey)
		if r.MemberID == "" {
			r.MemberID = memberKey
		}
		r.Generation = s.int32Val(group+".generation") + generationDelta
		return r
	}}
}

func syncStep(name, group, memberKey string, generationDelta int32) confStep {
	return confStep{name: name, key: 14, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.MemberID = group, s.strVal(memberKey)
		if r.MemberID == "" {
			r.MemberID = memberKey
		}
		r.Generation = s.int32Val(group+".generation") + generationDelta
		r.ProtocolType, r.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		if generationDelta == 0 {
			a := kmsg.NewSyncGroupRequestGroupAssignment()
			assignment := kmsg.NewConsumerMemberAssignment()
			t := kmsg.NewConsumerMemberAssignmentTopic()
			t.Topic, t.Partitions = "cf-cg-t", []int32{0, 1}
			assignment.Topics = append(assignment.Topics, t)
			a.MemberID, a.MemberAssignment = r.MemberID, assignment.AppendTo(nil)
			r.GroupAssignment = append(r.GroupAssignment, a)
		}
		return r
	}}
}

func offsetCommitRequest(group, member string, generation int32, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Group, r.MemberID, r.Generation = group, member, generation
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = partition, offset, -1, kmsg.StringPtr("m")
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}

func offsetCommitStep(name, group, memberKey string, generationDelta int32, topic string, partition int32, offset int64, versions []int16) confStep {
	return confStep{name: name, key: 8, versions: versions, build: func(s *confSide, v int16) kmsg.Request {
		gen := int32(-1)
		if memberKey != "" {
			gen = s.int32Val(group+".generation") + generationDelta
		}
		return offsetCommitRequest(group, s.strVal(memberKey), gen, topic, partition, offset)
	}}
}

func offsetFetchStep(name, group, topic string) confStep {
	return confStep{name: name, key: 9, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Group = group
		t := kmsg.NewOffsetFetchRequestTopic()
		t.Topic, t.Partitions = topic, []int32{0, 1}
		r.Topics = append(r.Topics, t)
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = group
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = topic, []int32{0, 1}
		g.Topics = append(g.Topics, gt)
		r.Groups = append(r.Groups, g)
		return r
	}}
}

func classicGroupScenario() confScenario {
	const g = "cf-cg"
	return confScenario{name: "ClassicGroup", steps: []confStep{
		createTopic("cf-cg-t", 2),
		findCoordinatorReady(g),
		groupReady(g),
		groupReady("cf-cg-absent"),
		{name: "find-coordinator", key: 10, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorKey, r.CoordinatorKeys = g, []string{g}
			return r
		}},
		joinStep("join-member-id-required", g, "m1", 30000, "consumer", consumerProtocol("cf-cg-t")),
		joinStep("join", g, "m1", 30000, "consumer", consumerProtocol("cf-cg-t")),
		joinStep("join-other-protocol-type", g, "", 30000, "connect", consumerProtocol("cf-cg-t")),
		syncStep("sync-wrong-generation", g, "m1", 1),
		syncStep("sync-unknown-member", g, "nobody", 0),
		syncStep("sync", g, "m1", 0),
		heartbeatStep("heartbeat", g, "m1", 0),
		heartbeatStep("heartbeat-wrong-generation", g, "m1", 1),
		heartbeatStep("heartbeat-unknown-member", g, "nobody", 0),
		offsetCommitStep("commit", g, "m1", 0, "cf-cg-t", 0, 5, nil),
		offsetCommitStep("commit-wrong-generation", g, "m1", 3, "cf-cg-t", 0, 6, []int16{vMax}),
		offsetCommitStep("commit-simple-on-active-group", g, "", 0, "cf-cg-t", 1, 6, []int16{vMax}),
		offsetCommitStep("commit-unknown-partition", g, "m1", 0, "cf-cg-t", 7, 6, []int16{vMax}),
		offsetFetchStep("fetch", g, "cf-cg-t"),
		{name: "describe", key: 15, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups = []string{g}
			return r
		}},
		{name: "list", key: 16, build: func(s *confSide, v int16) kmsg.Request {
			return kmsg.NewPtrListGroupsRequest()
		}},
		{name: "delete-non-empty", key: 42, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{g}
			return r
		}},
		offsetDeleteStep("offset-delete-subscribed", g, "cf-cg-t"),
		{name: "leave", key: 13, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group = g
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = s.strVal("m1")
			r.Members = append(r.Members, m)
			return r
		}},
		offsetFetchStep("fetch-after-leave", g, "cf-cg-t"),
		offsetDeleteStep("offset-delete", g, "cf-cg-t"),
		offsetDeleteStep("offset-delete-unknown-group", "cf-cg-absent", "cf-cg-t"),
		{name: "delete", key: 42, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{g}
			return r
		}},
	}}
}

// staticGroupScenario: static membership (KIP-345) — a member with an
// instance id rejoining under a new member id fences the old one.
func staticGroupScenario() confScenario {
	const g = "cf-static"
	join := func(name, memberKey string) confStep {
		return confStep{name: name, key: 11, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = g, 30000, 30000
			r.InstanceID, r.ProtocolType, r.Protocols = kmsg.StringPtr("i1"), "consumer", consumerProtocol("cf-cg-t")
			return r
		}, capture: func(s *confSide, resp kmsg.Response) {
			j := resp.(*kmsg.JoinGroupResponse)
			if j.ErrorCode == 0 {
				s.vals[memberKey], s.vals[g+".generation"] = j.MemberID, j.Generation
			}
		}}
	}
	heartbeat := func(name, memberKey string) confStep {
		return confStep{name: name, key: 12, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Group, r.MemberID, r.InstanceID = g, s.strVal(memberKey), kmsg.StringPtr("i1")
			r.Generation = s.int32Val(g + ".generation")
			return r
		}}
	}
	return confScenario{name: "StaticGroup", steps: []confStep{
		findCoordinatorReady(g),
		groupReady(g),
		join("join", "first"),
		syncStep("sync", g, "first", 0),
		{name: "sync-inconsistent-protocol", key: 14, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrSyncGroupRequest()
			r.Group, r.MemberID, r.Generation = g, s.strVal("first"), s.int32Val(g+".generation")
			r.ProtocolType, r.Protocol = kmsg.StringPtr("connect"), kmsg.StringPtr("range")
			return r
		}},
		heartbeat("heartbeat", "first"),
		join("rejoin-new-member-id", "second"),
		heartbeat("heartbeat-fenced", "first"),
		heartbeat("heartbeat-new", "second"),
		{name: "describe", key: 15, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups = []string{g}
			return r
		}},
		{name: "leave-by-instance", key: 13, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group = g
			m := kmsg.NewLeaveGroupRequestMember()
			m.InstanceID = kmsg.StringPtr("i1")
			r.Members = append(r.Members, m)
			return r
		}},
	}}
}

func offsetDeleteStep(name, group, topic string) confStep {
	return confStep{name: name, key: 47, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		t := kmsg.NewOffsetDeleteRequestTopic()
		t.Topic = topic
		p := kmsg.NewOffsetDeleteRequestTopicPartition()
		p.Partition = 0
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}}
}

// KIP-848 consumer groups.

const cf848Member = "cf848member0000000001A"

func cgHeartbeatStep(name string, member string, epochKey string, epochDelta int32, topics []string) confStep {
	return confStep{name: name, key: 68, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Group, r.MemberID = "cf-848", member
		r.MemberEpoch = s.int32Val(epochKey) + epochDelta
		r.RebalanceTimeoutMillis = 30000
		r.SubscribedTopicNames = topics
		if r.MemberEpoch == 0 {
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		return r
	}, capture: func(s *confSide, resp kmsg.Response) {
		h := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
		if h.ErrorCode == 0 && epochKey != "" {
			s.vals[epochKey] = h.MemberEpoch
		}
	}}
}

// kafkaGroupPartition is the __consumer_offsets partition of a group in
// Kafka (GroupCoordinatorService.partitionFor): the absolute value of the
// group id's Java String.hashCode modulo the partition count.
func kafkaGroupPartition(group string, partitions int32) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(c)
	}
	if h == math.MinInt32 {
		return 0
	}
	if h < 0 {
		h = -h
	}
	return h % partitions
}

// warmGroupFor is a group id in the same Kafka coordinator shard as
// group, with offsets.topic.num.partitions at its default (50).
func warmGroupFor(group string) string {
	want := kafkaGroupPartition(group, 50)
	for i := 0; ; i++ {
		if g := fmt.Sprintf("%s-warm-%d", group, i); kafkaGroupPartition(g, 50) == want {
			return g
		}
	}
}

func consumerGroupScenario() confScenario {
	// Kafka's group coordinator learns of a new topic from its own copy of
	// the metadata image, a little after CreateTopics and Metadata show
	// it. A member joining before then is at group epoch 1 with nothing
	// assigned, and the topic's arrival bumps the group to epoch 2 at its
	// next heartbeat (a metadata refresh); joining after, it is at epoch 1
	// with its partitions at once, as in Runnel. So that the compared
	// epochs do not depend on that race, a member of another group in the
	// same coordinator shard first heartbeats until it is assigned the
	// topic (the shard's image has it), then leaves.
	warm := warmGroupFor("cf-848")
	return confScenario{name: "ConsumerGroup", steps: []confStep{
		createTopic("cf-848-t", 2),
		findCoordinatorReady("cf-848"),
		groupReady("cf-848"),
		groupReady("cf-848-absent"),
		{name: "coordinator sees the topic", key: 68, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Group, r.MemberID, r.MemberEpoch = warm, "cf848warmmember000001A", s.int32Val("warm-epoch")
			r.RebalanceTimeoutMillis, r.SubscribedTopicNames = 30000, []string{"cf-848-t"}
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			return r
		}, capture: func(s *confSide, resp kmsg.Response) {
			if h := resp.(*kmsg.ConsumerGroupHeartbeatResponse); h.ErrorCode == 0 {
				s.vals["warm-epoch"] = h.MemberEpoch
			}
		}, until: func(_ *confSide, resp kmsg.Response) bool {
			h := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
			return h.ErrorCode == 0 && h.Assignment != nil && len(h.Assignment.Topics) > 0
		}},
		{name: "warm-up member leaves", key: 68, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Group, r.MemberID, r.MemberEpoch = warm, "cf848warmmember000001A", -1
			return r
		}, until: func(_ *confSide, resp kmsg.Response) bool { return true }},
		// Preparation too: heartbeat until the assignment has arrived
		// (after the warm-up, the first heartbeat carries it), then
		// compare.
		{name: "join and await assignment", key: 68, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Group, r.MemberID, r.MemberEpoch = "cf-848", cf848Member, s.int32Val("epoch")
			r.RebalanceTimeoutMillis, r.SubscribedTopicNames = 30000, []string{"cf-848-t"}
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			return r
		}, capture: func(s *confSide, resp kmsg.Response) {
			h := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
			if h.ErrorCode == 0 {
				s.vals["epoch"] = h.MemberEpoch
				if h.Assignment != nil && len(h.Assignment.Topics) > 0 {
					s.vals["assigned"] = true
				}
			}
		}, until: func(s *confSide, _ kmsg.Response) bool { return s.vals["assigned"] == true }},
		cgHeartbeatStep("steady", cf848Member, "epoch", 0, nil),
		cgHeartbeatStep("join-without-subscription", "cf848member0000000002B", "", 0, nil),
		cgHeartbeatStep("fenced-epoch", cf848Member, "epoch", 5, nil),
		cgHeartbeatStep("unknown-member", "cf848member0000000003C", "", 3, nil),
		{name: "describe", key: 69, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupDescribeRequest()
			r.Groups = []string{"cf-848", "cf-848-absent"}
			return r
		}},
		{name: "classic-join-to-consumer-group", key: 11, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = "cf-848", 30000, 30000
			r.MemberID, r.ProtocolType, r.Protocols = "", "connect", consumerProtocol("cf-848-t")
			return r
		}},
		cgHeartbeatStep("leave", cf848Member, "leave-epoch", -1, nil),
	}}
}

// Transactions and idempotence.

func initProducerIDStep(name string, txnID *string, key string) confStep {
	return confStep{name: name, key: 22, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrInitProducerIDRequest()
		r.TransactionalID, r.TransactionTimeoutMillis = txnID, 60000
		return r
	}, capture: func(s *confSide, resp kmsg.Response) {
		p := resp.(*kmsg.InitProducerIDResponse)
		if p.ErrorCode == 0 {
			s.vals[key+".pid"], s.vals[key+".epoch"] = p.ProducerID, p.ProducerEpoch
		}
	}}
}

func idemProduceStep(name, topic, key string, epochDelta int16, seq int32, values ...string) confStep {
	return confStep{name: name, key: 0, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
		batch := confBatch(s.int64Val(key+".pid"), s.int16Val(key+".epoch")+epochDelta, seq, false, values...)
		return produceRequest(s, topic, 0, nil, batch)
	}}
}

func transactionScenario() confScenario {
	const txn, group, topic = "cf-txn", "cf-txn-g", "cf-txn-t"
	txnID := kmsg.StringPtr(txn)
	addPartitions := func(name string, epochDelta int16, pidOverride int64, versions []int16) confStep {
		return confStep{name: name, key: 24, versions: versions, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrAddPartitionsToTxnRequest()
			pid := s.int64Val("txn.pid")
			if pidOverride != 0 {
				pid = pidOverride
			}
			r.TransactionalID, r.ProducerID, r.ProducerEpoch = txn, pid, s.int16Val("txn.epoch")+epochDelta
			t := kmsg.NewAddPartitionsToTxnRequestTopic()
			t.Topic, t.Partitions = topic, []int32{0}
			r.Topics = append(r.Topics, t)
			return r
		}}
	}
	endTxn := func(name string, commit bool, epochDelta int16) confStep {
		return confStep{name: name, key: 26, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrEndTxnRequest()
			r.TransactionalID, r.ProducerID, r.ProducerEpoch = txn, s.int64Val("txn.pid"), s.int16Val("txn.epoch")+epochDelta
			r.Commit = commit
			return r
		}}
	}
	describe := confStep{name: "describe", key: 65, build: func(s *confSide, v int16) kmsg.Request {
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = []string{txn, "cf-txn-absent"}
		return r
	}}
	return confScenario{name: "Transactions", steps: []confStep{
		createTopic(topic, 1),
		findCoordinatorReady(txn, true),
		findCoordinatorReady(group),
		groupReady(group),
		{name: "find-coordinator-txn-unknown", key: 10, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorType = 1
			r.CoordinatorKeys = []string{""}
			return r
		}},
		{name: "init (coordinator loading)", key: 22, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID, r.TransactionTimeoutMillis = txnID, 60000
			return r
		}, until: func(_ *confSide, resp kmsg.Response) bool { return resp.(*kmsg.InitProducerIDResponse).ErrorCode == 0 }},
		initProducerIDStep("init", txnID, "txn"),
		{name: "init-timeout-too-long", key: 22, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID, r.TransactionTimeoutMillis = kmsg.StringPtr("cf-txn-long"), 24*3600*1000
			return r
		}},
		endTxn("end-without-transaction", true, 0),
		addPartitions("add-partitions-old-epoch", -1, 0, []int16{vMin}),
		addPartitions("add-partitions-unknown-producer", 0, 987654, []int16{vMin}),
		addPartitions("add-partitions", 0, 0, []int16{3}),
		{name: "produce", key: 0, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			return produceRequest(s, topic, 0, txnID, confBatch(s.int64Val("txn.pid"), s.int16Val("txn.epoch"), 0, true, "t1"))
		}},
		{name: "add-offsets", key: 25, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrAddOffsetsToTxnRequest()
			r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = txn, s.int64Val("txn.pid"), s.int16Val("txn.epoch"), group
			return r
		}},
		{name: "txn-offset-commit", key: 28, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrTxnOffsetCommitRequest()
			r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = txn, group, s.int64Val("txn.pid"), s.int16Val("txn.epoch")
			r.Generation = -1
			t := kmsg.NewTxnOffsetCommitRequestTopic()
			t.Topic = topic
			p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = 0, 1, -1
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}},
		describe,
		{name: "list", key: 66, build: func(s *confSide, v int16) kmsg.Request {
			return kmsg.NewPtrListTransactionsRequest()
		}},
		fetchStep("read-committed-open-txn", topic, 0, 0, -1, 1),
		endTxn("commit-old-epoch", true, -1),
		endTxn("commit", true, 0),
		{name: "settle", key: 65, versions: []int16{vMax}, build: describe.build, until: func(_ *confSide, resp kmsg.Response) bool {
			ts := resp.(*kmsg.DescribeTransactionsResponse).TransactionStates
			for _, t := range ts {
				if t.TransactionalID == txn {
					return t.State == "CompleteCommit" || t.State == "Empty"
				}
			}
			return false
		}},
		fetchStep("read-committed-after-commit", topic, 0, 0, -1, 1),
		{name: "write-markers-unknown-partition", key: 27, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrWriteTxnMarkersRequest()
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = 424242, 0, true, 0
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic, t.Partitions = "cf-txn-absent", []int32{0}
			m.Topics = append(m.Topics, t)
			r.Markers = append(r.Markers, m)
			return r
		}},
		{name: "fenced-by-new-init", key: 22, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID, r.TransactionTimeoutMillis = txnID, 60000
			return r
		}},
		endTxn("end-after-fenced", false, 0),
		// A second transaction, aborted: read_committed answers list it.
		initProducerIDStep("re-init", txnID, "txn"),
		addPartitions("add-partitions-again", 0, 0, []int16{3}),
		{name: "produce-to-abort", key: 0, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
			return produceRequest(s, topic, 0, txnID, confBatch(s.int64Val("txn.pid"), s.int16Val("txn.epoch"), 0, true, "t2", "t3"))
		}},
		endTxn("abort", false, 0),
		{name: "settle-abort", key: 65, versions: []int16{vMax}, build: describe.build, until: func(_ *confSide, resp kmsg.Response) bool {
			for _, t := range resp.(*kmsg.DescribeTransactionsResponse).TransactionStates {
				if t.TransactionalID == txn {
					return t.State == "CompleteAbort" || t.State == "Empty"
				}
			}
			return false
		}},
		fetchStep("read-committed-after-abort", topic, 0, 2, -1, 1),
		listOffsetsStep("latest-after-abort", topic, 0, -1, -1),
		endTxn("abort-again", false, 0),
	}}
}

func sleepBriefly() { time.Sleep(100 * time.Millisecond) }
