package integration

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The corpus of TestDifferentialConformance: every API key Runnel serves,
// at the oldest and newest version both brokers serve where a step allows
// it, with the error cases clients meet. Each scenario names its own
// topics, groups and transactional ids: the brokers are shared.

func conformanceScenarios() []confScenario {
	return []confScenario{
		{name: "ApiVersions", steps: []confStep{
			{name: "versions", key: 18, versions: []int16{0, vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrApiVersionsRequest()
				r.ClientSoftwareName, r.ClientSoftwareVersion = "conformance", "1"
				return r
			}},
			{name: "invalid-software-name", key: 18, versions: []int16{3}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrApiVersionsRequest()
				r.ClientSoftwareName, r.ClientSoftwareVersion = "bad name!", "1"
				return r
			}},
		}},
		{name: "Metadata", steps: []confStep{
			createTopic("cf-meta", 3),
			metadataStep("known", []string{"cf-meta"}, true),
			metadataStep("unknown-no-autocreate", []string{"cf-meta-absent"}, false, 4, vMax),
			metadataStep("invalid-name", []string{"bad topic!"}, false),
			metadataStep("invalid-name-autocreate", []string{"bad topic!"}, true),
			{name: "autocreate", key: 3, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrMetadataRequest()
				t := kmsg.NewMetadataRequestTopic()
				t.Topic = kmsg.StringPtr("cf-meta-auto")
				r.Topics = append(r.Topics, t)
				r.AllowAutoTopicCreation = true
				return r
			}},
			{name: "unknown-topic-id", key: 3, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrMetadataRequest()
				t := kmsg.NewMetadataRequestTopic()
				t.TopicID = [16]byte{1, 2, 3}
				r.Topics = append(r.Topics, t)
				return r
			}},
		}},
		{name: "DescribeTopicPartitions", steps: []confStep{
			createTopic("cf-dtp", 2),
			{name: "known-and-unknown", key: 75, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDescribeTopicPartitionsRequest()
				for _, name := range []string{"cf-dtp", "cf-dtp-absent"} {
					t := kmsg.NewDescribeTopicPartitionsRequestTopic()
					t.Topic = name
					r.Topics = append(r.Topics, t)
				}
				r.ResponsePartitionLimit = 1
				return r
			}},
		}},
		{name: "CreateTopics", steps: []confStep{
			createTopicsStep("valid", nil, ctopic("cf-ct-a", 2, 1)),
			createTopicsStep("exists", nil, ctopic("cf-ct-a", 2, 1)),
			createTopicsStep("invalid-name", nil, ctopic("bad topic!", 1, 1)),
			createTopicsStep("dot-name", nil, ctopic("..", 1, 1)),
			createTopicsStep("zero-partitions", nil, ctopic("cf-ct-zero", 0, 1)),
			createTopicsStep("replication-too-high", nil, ctopic("cf-ct-rf", 1, 3)),
			createTopicsStep("default-partitions", []int16{vMax}, ctopic("cf-ct-default", -1, -1)),
			createTopicsStep("unknown-config", nil, ctopic("cf-ct-cfg", 1, 1, "no.such.config", "1")),
			createTopicsStep("invalid-config-value", nil, ctopic("cf-ct-cfg2", 1, 1, "retention.ms", "abc")),
			createTopicsStep("invalid-cleanup-policy", nil, ctopic("cf-ct-cfg3", 1, 1, "cleanup.policy", "sometimes")),
			createTopicsStep("duplicate-in-request", nil, ctopic("cf-ct-dup", 1, 1), ctopic("cf-ct-dup", 1, 1)),
			createTopicsStep("name-too-long", nil, ctopic(string(make([]byte, 250)), 1, 1)),
			createTopicsStep("colliding-name", []int16{vMax}, ctopic("cf_ct_a", 1, 1)),
			createTopicsStep("zero-replication", nil, ctopic("cf-ct-rf0", 1, 0)),
			createTopicsStep("assignment-and-count", []int16{vMax}, func() kmsg.CreateTopicsRequestTopic {
				t := ctopic("cf-ct-both", 2, 1)
				a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				a.Partition, a.Replicas = 0, []int32{1}
				t.ReplicaAssignment = append(t.ReplicaAssignment, a)
				return t
			}()),
			createTopicsStep("min-isr-above-rf", nil, ctopic("cf-ct-minisr", 1, 1, "min.insync.replicas", "0")),
			{name: "validate-only", key: 19, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrCreateTopicsRequest()
				r.Topics = []kmsg.CreateTopicsRequestTopic{ctopic("cf-ct-validate", 4, 1, "retention.ms", "1000")}
				r.ValidateOnly = true
				r.TimeoutMillis = 30000
				return r
			}},
			{name: "manual-assignment", key: 19, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrCreateTopicsRequest()
				t := ctopic("cf-ct-manual", -1, -1)
				for p := int32(0); p < 2; p++ {
					a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
					a.Partition, a.Replicas = p, []int32{1}
					t.ReplicaAssignment = append(t.ReplicaAssignment, a)
				}
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
			{name: "assignment-unknown-broker", key: 19, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrCreateTopicsRequest()
				t := ctopic("cf-ct-badassign", -1, -1)
				a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				a.Partition, a.Replicas = 0, []int32{7}
				t.ReplicaAssignment = append(t.ReplicaAssignment, a)
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
		}},
		{name: "DeleteTopics", steps: []confStep{
			createTopic("cf-dt-a", 1),
			createTopic("cf-dt-b", 1),
			{name: "existing", key: 20, versions: []int16{vMin}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				r.TopicNames = []string{"cf-dt-a"}
				r.TimeoutMillis = 30000
				return r
			}},
			{name: "by-id", key: 20, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				t := kmsg.NewDeleteTopicsRequestTopic()
				t.TopicID = s.topicIDs["cf-dt-b"]
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
			{name: "unknown", key: 20, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				r.TopicNames = []string{"cf-dt-absent"}
				t := kmsg.NewDeleteTopicsRequestTopic()
				t.Topic = kmsg.StringPtr("cf-dt-absent")
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
			{name: "unknown-id", key: 20, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				t := kmsg.NewDeleteTopicsRequestTopic()
				t.TopicID = [16]byte{9, 9, 9}
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
		}},
		{name: "ProduceFetch", steps: []confStep{
			createTopic("cf-pf", 2),
			createTopic("cf-pf-small", 1, "max.message.bytes", "1024"),
			produceStep("first", "cf-pf", 0, confBatch(-1, -1, -1, false, "a", "b", "c")),
			produceStep("second", "cf-pf", 0, confBatch(-1, -1, -1, false, "d")),
			produceStep("unknown-topic", "cf-pf-absent", 0, confBatch(-1, -1, -1, false, "x")),
			produceStep("unknown-partition", "cf-pf", 9, confBatch(-1, -1, -1, false, "x")),
			produceStep("corrupt-crc", "cf-pf", 1, corruptCRC(confBatch(-1, -1, -1, false, "x"))),
			produceStep("transactional-without-txn", "cf-pf", 1, confBatch(77, 0, 0, true, "x")),
			produceStep("idempotent-unknown-producer", "cf-pf", 1, confBatch(123456, 0, 5, false, "x")),
			{name: "invalid-acks", key: 0, versions: produceVersions, build: func(s *confSide, v int16) kmsg.Request {
				r := produceRequest(s, "cf-pf", 0, nil, confBatch(-1, -1, -1, false, "x"))
				r.Acks = 2
				return r
			}},
			produceStep("too-large-for-topic", "cf-pf-small", 0, confBatch(-1, -1, -1, false, string(make([]byte, 2048)))),
			fetchStep("from-zero", "cf-pf", 0, 0, 0),
			fetchStep("from-middle", "cf-pf", 0, 2, 0),
			fetchStep("at-end", "cf-pf", 0, 4, 0),
			fetchStep("out-of-range", "cf-pf", 0, 100, 0),
			fetchStep("unknown-partition", "cf-pf", 9, 0, 0),
			fetchStep("unknown-topic", "cf-pf-absent", 0, 0, 0),
			fetchStep("fenced-epoch", "cf-pf", 0, 0, 5),
			fetchStep("read-committed", "cf-pf", 0, 0, -1, 1),
			{name: "unknown-topic-id", key: 1, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := fetchRequest(s, "cf-pf", 0, 0, -1, 0)
				r.Topics[0].TopicID = [16]byte{4, 5, 6}
				return r
			}},
		}},
		{name: "ListOffsets", steps: []confStep{
			createTopic("cf-lo", 1),
			produceStep("records", "cf-lo", 0, confBatch(-1, -1, -1, false, "a", "b")),
			listOffsetsStep("earliest", "cf-lo", 0, -2, -1),
			listOffsetsStep("latest", "cf-lo", 0, -1, -1),
			listOffsetsStep("max-timestamp", "cf-lo", 0, -3, -1),
			listOffsetsStep("earliest-local", "cf-lo", 0, -4, -1, 7, 8),
			listOffsetsStep("latest-tiered", "cf-lo", 0, -5, -1, 8, 9),
			listOffsetsStep("invalid-negative", "cf-lo", 0, -9, -1),
			listOffsetsStep("by-timestamp", "cf-lo", 0, 1_600_000_000_000, -1),
			listOffsetsStep("after-last-timestamp", "cf-lo", 0, 1_800_000_000_000, -1),
			listOffsetsStep("unknown-partition", "cf-lo", 3, -1, -1),
			listOffsetsStep("unknown-topic", "cf-lo-absent", 0, -1, -1),
			listOffsetsStep("fenced-epoch", "cf-lo", 0, -1, 7),
		}},
		{name: "OffsetForLeaderEpoch", steps: []confStep{
			createTopic("cf-ofle", 1),
			produceStep("records", "cf-ofle", 0, confBatch(-1, -1, -1, false, "a")),
			ofleStep("epoch-0", "cf-ofle", 0, 0, -1),
			ofleStep("future-epoch", "cf-ofle", 0, 3, -1),
			ofleStep("fenced-current", "cf-ofle", 0, 0, 4),
			ofleStep("unknown-partition", "cf-ofle", 5, 0, -1),
			ofleStep("unknown-topic", "cf-ofle-absent", 0, 0, -1),
		}},
		{name: "DeleteRecords", steps: []confStep{
			createTopic("cf-dr", 1),
			produceStep("records", "cf-dr", 0, confBatch(-1, -1, -1, false, "a", "b", "c")),
			deleteRecordsStep("to-1", "cf-dr", 0, 1, []int16{vMin}),
			deleteRecordsStep("to-hw", "cf-dr", 0, -1, []int16{vMax}),
			deleteRecordsStep("beyond-hw", "cf-dr", 0, 10, nil),
			deleteRecordsStep("unknown-partition", "cf-dr", 4, 0, nil),
			deleteRecordsStep("unknown-topic", "cf-dr-absent", 0, 0, nil),
			listOffsetsStep("earliest-after", "cf-dr", 0, -2, -1),
		}},
		{name: "CreatePartitions", steps: []confStep{
			createTopic("cf-cp", 2),
			createPartitionsStep("increase", "cf-cp", 3, false, []int16{vMin}),
			createPartitionsStep("increase-again", "cf-cp", 4, false, []int16{vMax}),
			createPartitionsStep("same", "cf-cp", 4, false, nil),
			createPartitionsStep("decrease", "cf-cp", 2, false, nil),
			createPartitionsStep("unknown-topic", "cf-cp-absent", 3, false, nil),
			createPartitionsStep("validate-only", "cf-cp", 6, true, nil),
		}},
		{name: "Configs", steps: []confStep{
			createTopic("cf-cfg", 1, "retention.ms", "3600000"),
			describeConfigsStep("topic-keys", 2, "cf-cfg", []string{"retention.ms", "cleanup.policy", "segment.bytes", "min.insync.replicas", "max.message.bytes"}),
			describeConfigsStep("topic-unknown", 2, "cf-cfg-absent", []string{"retention.ms"}),
			describeConfigsStep("broker-keys", 4, "1", []string{"num.partitions", "log.retention.hours", "auto.create.topics.enable", "message.max.bytes", "default.replication.factor"}),
			describeConfigsStep("other-broker", 4, "7", []string{"num.partitions"}),
			describeConfigsStep("invalid-broker-name", 4, "one", []string{"num.partitions"}),
			alterConfigsStep("alter-valid", 2, "cf-cfg", "retention.ms", "7200000", false),
			alterConfigsStep("alter-unknown-key", 2, "cf-cfg", "no.such.config", "1", false),
			alterConfigsStep("alter-invalid-value", 2, "cf-cfg", "retention.ms", "soon", false),
			alterConfigsStep("alter-unknown-topic", 2, "cf-cfg-absent", "retention.ms", "1", false),
			alterConfigsStep("alter-validate-only", 2, "cf-cfg", "retention.ms", "1", true),
			incrementalAlterStep("incremental-set", 2, "cf-cfg", "segment.ms", 0, "600000"),
			incrementalAlterStep("incremental-delete", 2, "cf-cfg", "retention.ms", 1, ""),
			incrementalAlterStep("incremental-unknown-key", 2, "cf-cfg", "no.such.config", 0, "1"),
			incrementalAlterStep("incremental-invalid-value", 2, "cf-cfg", "segment.ms", 0, "often"),
			incrementalAlterStep("incremental-append-non-list", 2, "cf-cfg", "segment.ms", 2, "1"),
			incrementalAlterStep("incremental-append-list", 2, "cf-cfg", "cleanup.policy", 2, "compact"),
			incrementalAlterStep("incremental-unknown-topic", 2, "cf-cfg-absent", "segment.ms", 0, "1"),
			describeConfigsStep("topic-after", 2, "cf-cfg", []string{"retention.ms", "segment.ms", "cleanup.policy"}),
			incrementalAlterStep("broker-dynamic", 4, "1", "log.cleaner.threads", 0, "2"),
			incrementalAlterStep("broker-read-only", 4, "1", "log.dirs", 0, "/tmp/x"),
			incrementalAlterStep("broker-unknown-key", 4, "1", "no.such.config", 0, "1"),
			incrementalAlterStep("cluster-default", 4, "", "log.retention.ms", 0, "86400000"),
			incrementalAlterStep("other-broker", 4, "7", "log.cleaner.threads", 0, "2"),
			describeConfigsStep("broker-after", 4, "1", []string{"log.cleaner.threads", "log.retention.ms"}),
			describeConfigsStep("cluster-defaults", 4, "", nil),
			incrementalAlterStep("cluster-default-delete", 4, "", "log.retention.ms", 1, ""),
			incrementalAlterStep("broker-dynamic-delete", 4, "1", "log.cleaner.threads", 1, ""),
		}},
		{name: "DescribeCluster", steps: []confStep{
			{name: "cluster", key: 60, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDescribeClusterRequest()
				r.IncludeClusterAuthorizedOperations = true
				return r
			}},
		}},
		{name: "DescribeLogDirs", steps: []confStep{
			createTopic("cf-dld", 1),
			{name: "log created", key: 35, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDescribeLogDirsRequest()
				t := kmsg.NewDescribeLogDirsRequestTopic()
				t.Topic, t.Partitions = "cf-dld", []int32{0}
				r.Topics = append(r.Topics, t)
				return r
			}, until: func(_ *confSide, resp kmsg.Response) bool {
				for _, d := range resp.(*kmsg.DescribeLogDirsResponse).Dirs {
					if len(d.Topics) > 0 {
						return true
					}
				}
				return false
			}},
			{name: "topic", key: 35, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDescribeLogDirsRequest()
				t := kmsg.NewDescribeLogDirsRequestTopic()
				t.Topic, t.Partitions = "cf-dld", []int32{0, 3}
				r.Topics = append(r.Topics, t)
				return r
			}},
		}},
		{name: "ElectLeaders", steps: []confStep{
			createTopic("cf-el", 1),
			{name: "preferred", key: 43, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrElectLeadersRequest()
				t := kmsg.NewElectLeadersRequestTopic()
				t.Topic, t.Partitions = "cf-el", []int32{0}
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
			{name: "unknown", key: 43, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrElectLeadersRequest()
				t := kmsg.NewElectLeadersRequestTopic()
				t.Topic, t.Partitions = "cf-el-absent", []int32{0}
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
		}},
		{name: "Reassignments", steps: []confStep{
			createTopic("cf-ra", 1),
			{name: "list-none", key: 46, build: func(s *confSide, v int16) kmsg.Request {
				return kmsg.NewPtrListPartitionReassignmentsRequest()
			}},
			reassignStep("unknown-broker", "cf-ra", 0, []int32{7}),
			reassignStep("unknown-topic", "cf-ra-absent", 0, []int32{1}),
			reassignStep("cancel-none", "cf-ra", 0, nil),
			reassignStep("same-replicas", "cf-ra", 0, []int32{1}),
		}},
		aclScenario(),
		authorizationScenario(),
		{name: "ScramCredentials", steps: []confStep{
			{name: "describe-unknown", key: 50, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
				u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
				u.Name = "cf-nobody"
				r.Users = append(r.Users, u)
				return r
			}},
			scramUpsertStep("too-few-iterations", "cf-alice", 1, 1000),
			scramUpsertStep("unknown-mechanism", "cf-alice", 9, 8192),
			scramUpsertStep("valid", "cf-alice", 1, 8192),
			// Kafka answers once its controller took the change; its broker
			// learns it a moment later.
			{name: "cf-alice visible", key: 50, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
				u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
				u.Name = "cf-alice"
				r.Users = append(r.Users, u)
				return r
			}, until: func(_ *confSide, resp kmsg.Response) bool {
				res := resp.(*kmsg.DescribeUserSCRAMCredentialsResponse).Results
				return len(res) == 1 && res[0].ErrorCode == 0
			}},
			{name: "describe-all", key: 50, build: func(s *confSide, v int16) kmsg.Request {
				return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
			}},
			{name: "delete-unknown", key: 51, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
				d.Name, d.Mechanism = "cf-nobody", 1
				r.Deletions = append(r.Deletions, d)
				return r
			}},
			{name: "empty-user", key: 51, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
				d.Name, d.Mechanism = "", 1
				r.Deletions = append(r.Deletions, d)
				return r
			}},
		}},
		classicGroupScenario(),
		staticGroupScenario(),
		{name: "GroupErrors", steps: []confStep{
			findCoordinatorReady("cf-ge"),
			groupReady("cf-ge"),
			groupReady("cf-ge-absent"),
			heartbeatStep("unknown-group", "cf-ge-absent", "m", 1),
			syncStep("unknown-group", "cf-ge-absent", "m", 1),
			{name: "leave-unknown-group", key: 13, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrLeaveGroupRequest()
				r.Group = "cf-ge-absent"
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = "m"
				r.Members = append(r.Members, m)
				return r
			}},
			joinStep("invalid-session-timeout", "cf-ge", "", 1, "consumer", nil),
			joinStep("empty-protocol-type", "cf-ge", "", 10000, "", nil),
			{name: "describe-unknown", key: 15, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDescribeGroupsRequest()
				r.Groups = []string{"cf-ge-absent"}
				return r
			}},
			{name: "delete-unknown", key: 42, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDeleteGroupsRequest()
				r.Groups = []string{"cf-ge-absent"}
				return r
			}},
			offsetFetchStep("unknown-group", "cf-ge-absent", "cf-ge-topic"),
			{name: "commit-metadata-too-large", key: 8, build: func(s *confSide, v int16) kmsg.Request {
				r := offsetCommitRequest("cf-ge", "", -1, "cf-ge-topic", 0, 1)
				r.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(string(make([]byte, 5000)))
				return r
			}},
			{name: "commit-unknown-topic", key: 8, build: func(s *confSide, v int16) kmsg.Request {
				return offsetCommitRequest("cf-ge", "", -1, "cf-ge-absent-topic", 0, 1)
			}},
			// Once __consumer_offsets exists (creating it by hand before
			// would leave Kafka's group coordinator without its partitions).
			createTopicsStep("internal-name", nil, ctopic("__consumer_offsets", 1, 1)),
			produceStep("internal-topic", "__consumer_offsets", 0, confBatch(-1, -1, -1, false, "x")),
			{name: "commit-empty-group-id", key: 8, build: func(s *confSide, v int16) kmsg.Request {
				return offsetCommitRequest("", "", -1, "cf-ge-topic", 0, 1)
			}},
			{name: "find-coordinator-bad-type", key: 10, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrFindCoordinatorRequest()
				r.CoordinatorType = 5
				r.CoordinatorKeys = []string{"cf-ge"}
				return r
			}},
		}},
		consumerGroupScenario(),
		transactionScenario(),
		{name: "Idempotence", steps: []confStep{
			createTopic("cf-idem", 1),
			{name: "producer ids ready", key: 22, versions: []int16{vMax}, build: func(s *confSide, v int16) kmsg.Request {
				return kmsg.NewPtrInitProducerIDRequest()
			}, until: func(_ *confSide, resp kmsg.Response) bool { return resp.(*kmsg.InitProducerIDResponse).ErrorCode == 0 }},
			initProducerIDStep("init", nil, "idem"),
			idemProduceStep("seq-0", "cf-idem", "idem", 0, 0, "a", "b"),
			idemProduceStep("duplicate", "cf-idem", "idem", 0, 0, "a", "b"),
			idemProduceStep("gap", "cf-idem", "idem", 0, 5, "x"),
			idemProduceStep("seq-2", "cf-idem", "idem", 0, 2, "c"),
			idemProduceStep("old-epoch", "cf-idem", "idem", -1, 3, "d"),
			idemProduceStep("future-epoch", "cf-idem", "idem", 3, 0, "d"),
			{name: "describe-producers", key: 61, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDescribeProducersRequest()
				t := kmsg.NewDescribeProducersRequestTopic()
				t.Topic, t.Partitions = "cf-idem", []int32{0, 2}
				r.Topics = append(r.Topics, t)
				return r
			}},
		}},
		// Last: a request that would break the brokers' state if either
		// accepted it.
		{name: "Destructive", steps: []confStep{
			{name: "delete-internal-topic", key: 20, build: func(s *confSide, v int16) kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				r.TopicNames = []string{"__consumer_offsets"}
				t := kmsg.NewDeleteTopicsRequestTopic()
				t.Topic = kmsg.StringPtr("__consumer_offsets")
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
		}},
	}
}
