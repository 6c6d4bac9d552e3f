package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// authzCase is one API key's authorization as Kafka's KafkaApis does it:
// the resource and operation a request needs, the request (built for
// alice), and where its answer carries the refusal.
type authzCase struct {
	key  int16
	name string // a label when a key has several cases
	rt   kmsg.ACLResourceType
	res  string
	op   kmsg.ACLOperation
	// denied is the code a client without the ACL gets.
	denied *kerr.Error
	req    func() kmsg.Request
	// code extracts the code to compare from the answer.
	code func(kmsg.Response) int16
	// clientV3Txn: sent by a client that speaks AddPartitionsToTxn up to
	// v3, as producers do (v4+ is the brokers' batched form).
	clientV3Txn bool
	// onlyDenied: the allowed side is not this table's to show (a gate
	// other than the ACL also applies; see the reason).
	onlyDenied string
}

// Keys whose authorization this table does not list, and why.
var authzTableExempt = map[int16]string{
	17: "SaslHandshake: before authentication, in network/",
	18: "ApiVersions: no check in Kafka",
	36: "SaslAuthenticate: before authentication, in network/",
	60: "DescribeCluster: no check in Kafka; its authorized operations are checked in TestAuthorizationOperationsFields",
}

const (
	azTopic = "az-t"
	azGroup = "az-g"
	azTxn   = "az-tx"
)

func authzCases(topicID [16]byte) []authzCase {
	topic := func() []kmsg.MetadataRequestTopic {
		t := kmsg.NewMetadataRequestTopic()
		n := azTopic
		t.Topic = &n
		return []kmsg.MetadataRequestTopic{t}
	}
	str := func(s string) *string { return &s }
	return []authzCase{
		{key: 0, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationWrite, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrProduceRequest()
				r.Acks, r.TimeoutMillis = 1, 5000
				t := kmsg.NewProduceRequestTopic()
				t.Topic, t.TopicID = azTopic, topicID
				p := kmsg.NewProduceRequestTopicPartition()
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode }},
		{key: 0, name: "transactional", rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn, op: kmsg.ACLOperationWrite, denied: kerr.TransactionalIDAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrProduceRequest()
				r.Acks, r.TimeoutMillis, r.TransactionID = 1, 5000, str(azTxn)
				t := kmsg.NewProduceRequestTopic()
				t.Topic, t.TopicID = azTopic, topicID
				t.Partitions = append(t.Partitions, kmsg.NewProduceRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode }},
		{key: 1, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationRead, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrFetchRequest()
				r.Version, r.MaxBytes = 12, 1<<20
				t := kmsg.NewFetchRequestTopic()
				t.Topic, t.TopicID = azTopic, topicID
				p := kmsg.NewFetchRequestTopicPartition()
				p.PartitionMaxBytes = 1 << 20
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode }},
		{key: 2, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationDescribe, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrListOffsetsRequest()
				t := kmsg.NewListOffsetsRequestTopic()
				t.Topic = azTopic
				p := kmsg.NewListOffsetsRequestTopicPartition()
				p.Timestamp = -1
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode }},
		{key: 3, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationDescribe, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrMetadataRequest()
				r.Topics = topic()
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }},
		{key: 8, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrOffsetCommitRequest()
				r.Group, r.Generation = azGroup, -1
				t := kmsg.NewOffsetCommitRequestTopic()
				t.Topic, t.TopicID = azTopic, topicID
				t.Partitions = append(t.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode }},
		{key: 8, name: "topic", rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationRead, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrOffsetCommitRequest()
				r.Group, r.Generation = azGroup+"-open", -1
				t := kmsg.NewOffsetCommitRequestTopic()
				t.Topic, t.TopicID = azTopic, topicID
				t.Partitions = append(t.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode }},
		{key: 9, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationDescribe, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrOffsetFetchRequest()
				r.Version = 8
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = azGroup
				r.Groups = append(r.Groups, g)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetFetchResponse).Groups[0].ErrorCode }},
		{key: 10, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationDescribe, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrFindCoordinatorRequest()
				r.CoordinatorKeys = []string{azGroup}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode }},
		{key: 10, name: "transaction", rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn, op: kmsg.ACLOperationDescribe, denied: kerr.TransactionalIDAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrFindCoordinatorRequest()
				r.CoordinatorType, r.CoordinatorKeys = 1, []string{azTxn}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode }},
		{key: 11, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrJoinGroupRequest()
				r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.ProtocolType = azGroup, 10000, 10000, "consumer"
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name = "range"
				r.Protocols = append(r.Protocols, p)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }},
		{key: 12, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrHeartbeatRequest()
				r.Group, r.MemberID = azGroup, "m"
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }},
		{key: 13, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrLeaveGroupRequest()
				r.Group = azGroup
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = "m"
				r.Members = append(r.Members, m)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode }},
		{key: 14, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrSyncGroupRequest()
				r.Group, r.MemberID = azGroup, "m"
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }},
		{key: 15, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationDescribe, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeGroupsRequest()
				r.Groups = []string{azGroup}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }},
		{key: 16, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationDescribe, denied: kerr.GroupAuthorizationFailed,
			req:  func() kmsg.Request { return kmsg.NewPtrListGroupsRequest() },
			code: listed(func(r kmsg.Response) bool { return hasGroup(r.(*kmsg.ListGroupsResponse), azGroup) }, kerr.GroupAuthorizationFailed)},
		{key: 19, rt: kmsg.ACLResourceTypeTopic, res: "az-new", op: kmsg.ACLOperationCreate, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrCreateTopicsRequest()
				r.ValidateOnly, r.TimeoutMillis = true, 5000
				t := kmsg.NewCreateTopicsRequestTopic()
				t.Topic, t.NumPartitions, t.ReplicationFactor = "az-new", 1, 1
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }},
		{key: 20, rt: kmsg.ACLResourceTypeTopic, res: "az-doomed", op: kmsg.ACLOperationDelete, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				r.TimeoutMillis = 5000
				t := kmsg.NewDeleteTopicsRequestTopic()
				t.Topic = str("az-doomed")
				r.Topics, r.TopicNames = append(r.Topics, t), []string{"az-doomed"}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }},
		{key: 21, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationDelete, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteRecordsRequest()
				r.TimeoutMillis = 5000
				t := kmsg.NewDeleteRecordsRequestTopic()
				t.Topic = azTopic
				p := kmsg.NewDeleteRecordsRequestTopicPartition()
				p.Offset = 0
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode }},
		{key: 22, rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn, op: kmsg.ACLOperationWrite, denied: kerr.TransactionalIDAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrInitProducerIDRequest()
				r.TransactionalID, r.TransactionTimeoutMillis = str(azTxn), 10000
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{key: 22, name: "idempotent", rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationIdempotentWrite, denied: kerr.ClusterAuthorizationFailed,
			req:  func() kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{key: 22, name: "idempotent by topic", rt: kmsg.ACLResourceTypeTopic, res: "any-topic", op: kmsg.ACLOperationWrite, denied: kerr.ClusterAuthorizationFailed,
			req:  func() kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{key: 23, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationDescribe, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrOffsetForLeaderEpochRequest()
				r.ReplicaID = -1
				t := kmsg.NewOffsetForLeaderEpochRequestTopic()
				t.Topic = azTopic
				p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				p.CurrentLeaderEpoch, p.LeaderEpoch = -1, 0
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 24, rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn, op: kmsg.ACLOperationWrite, denied: kerr.TransactionalIDAuthorizationFailed,
			clientV3Txn: true,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAddPartitionsToTxnRequest()
				r.Version, r.TransactionalID, r.ProducerID = 3, azTxn, 1
				t := kmsg.NewAddPartitionsToTxnRequestTopic()
				t.Topic, t.Partitions = azTopic, []int32{0}
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 24, name: "broker batch", rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationClusterAction, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAddPartitionsToTxnRequest()
				r.Version = 4
				tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
				tx.TransactionalID, tx.ProducerID, tx.VerifyOnly = azTxn, 1, true
				r.Transactions = append(r.Transactions, tx)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AddPartitionsToTxnResponse).ErrorCode }},
		{key: 25, rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn, op: kmsg.ACLOperationWrite, denied: kerr.TransactionalIDAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAddOffsetsToTxnRequest()
				r.TransactionalID, r.ProducerID, r.Group = azTxn, 1, azGroup
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode }},
		{key: 26, rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn, op: kmsg.ACLOperationWrite, denied: kerr.TransactionalIDAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrEndTxnRequest()
				r.TransactionalID, r.ProducerID = azTxn, 1
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode }},
		{key: 27, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationClusterAction, denied: kerr.ClusterAuthorizationFailed,
			onlyDenied: "a client listener is never a broker's (TestBrokerOnlyActions)",
			req: func() kmsg.Request {
				r := kmsg.NewPtrWriteTxnMarkersRequest()
				m := kmsg.NewWriteTxnMarkersRequestMarker()
				m.ProducerID = 1
				t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				t.Topic, t.Partitions = azTopic, []int32{0}
				m.Topics = append(m.Topics, t)
				r.Markers = append(r.Markers, m)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
			}},
		{key: 28, rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn, op: kmsg.ACLOperationWrite, denied: kerr.TransactionalIDAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrTxnOffsetCommitRequest()
				r.TransactionalID, r.Group, r.ProducerID = azTxn, azGroup, 1
				t := kmsg.NewTxnOffsetCommitRequestTopic()
				t.Topic, t.TopicID = azTopic, topicID
				t.Partitions = append(t.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 29, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationDescribe, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeACLsRequest()
				r.ResourceType, r.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
				r.Operation, r.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeACLsResponse).ErrorCode }},
		{key: 30, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationAlter, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrCreateACLsRequest()
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "x", kmsg.ACLResourcePatternTypeLiteral
				c.Principal, c.Host, c.Operation, c.PermissionType = "User:x", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
				r.Creations = append(r.Creations, c)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode }},
		{key: 31, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationAlter, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteACLsRequest()
				f := kmsg.NewDeleteACLsRequestFilter()
				f.ResourceType, f.ResourceName, f.ResourcePatternType = kmsg.ACLResourceTypeTopic, str("x"), kmsg.ACLResourcePatternTypeLiteral
				f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				r.Filters = append(r.Filters, f)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteACLsResponse).Results[0].ErrorCode }},
		{key: 32, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationDescribeConfigs, denied: kerr.TopicAuthorizationFailed,
			req:  func() kmsg.Request { return azDescribeConfigs(kmsg.ConfigResourceTypeTopic, azTopic) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }},
		{key: 32, name: "broker", rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationDescribeConfigs, denied: kerr.ClusterAuthorizationFailed,
			req:  func() kmsg.Request { return azDescribeConfigs(kmsg.ConfigResourceTypeBroker, "1") },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }},
		{key: 32, name: "group", rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationDescribeConfigs, denied: kerr.GroupAuthorizationFailed,
			req:  func() kmsg.Request { return azDescribeConfigs(kmsg.ConfigResourceTypeGroupConfig, azGroup) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }},
		{key: 33, name: "group", rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationAlterConfigs, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterConfigsRequest()
				r.ValidateOnly = true
				res := kmsg.NewAlterConfigsRequestResource()
				res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, azGroup
				r.Resources = append(r.Resources, res)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode }},
		{key: 44, name: "group", rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationAlterConfigs, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrIncrementalAlterConfigsRequest()
				r.ValidateOnly = true
				res := kmsg.NewIncrementalAlterConfigsRequestResource()
				res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, azGroup
				r.Resources = append(r.Resources, res)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode }},
		{key: 74, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationDescribeConfigs, denied: kerr.ClusterAuthorizationFailed,
			req:  func() kmsg.Request { return kmsg.NewPtrListConfigResourcesRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ListConfigResourcesResponse).ErrorCode }},
		{key: 33, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationAlterConfigs, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterConfigsRequest()
				r.ValidateOnly = true
				res := kmsg.NewAlterConfigsRequestResource()
				res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, azTopic
				r.Resources = append(r.Resources, res)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode }},
		{key: 35, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationDescribe, denied: kerr.ClusterAuthorizationFailed,
			req:  func() kmsg.Request { r := kmsg.NewPtrDescribeLogDirsRequest(); r.Version = 3; return r },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeLogDirsResponse).ErrorCode }},
		{key: 37, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationAlter, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrCreatePartitionsRequest()
				r.ValidateOnly, r.TimeoutMillis = true, 5000
				t := kmsg.NewCreatePartitionsRequestTopic()
				t.Topic, t.Count = azTopic, 2
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }},
		{key: 42, rt: kmsg.ACLResourceTypeGroup, res: azGroup + "-none", op: kmsg.ACLOperationDelete, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteGroupsRequest()
				r.Groups = []string{azGroup + "-none"}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }},
		{key: 43, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationAlter, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrElectLeadersRequest()
				r.TimeoutMillis = 5000
				t := kmsg.NewElectLeadersRequestTopic()
				t.Topic, t.Partitions = azTopic, []int32{0}
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ElectLeadersResponse).ErrorCode }},
		{key: 44, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationAlterConfigs, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrIncrementalAlterConfigsRequest()
				r.ValidateOnly = true
				res := kmsg.NewIncrementalAlterConfigsRequestResource()
				res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, azTopic
				r.Resources = append(r.Resources, res)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode }},
		{key: 45, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationAlter, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
				r.TimeoutMillis = 5000
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterPartitionAssignmentsResponse).ErrorCode }},
		{key: 46, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationDescribe, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrListPartitionReassignmentsRequest()
				r.TimeoutMillis = 5000
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode }},
		{key: 47, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationDelete, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrOffsetDeleteRequest()
				r.Group = azGroup
				t := kmsg.NewOffsetDeleteRequestTopic()
				t.Topic = azTopic
				t.Partitions = append(t.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode }},
		{key: 48, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationDescribeConfigs, denied: kerr.ClusterAuthorizationFailed,
			req:  func() kmsg.Request { return kmsg.NewPtrDescribeClientQuotasRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeClientQuotasResponse).ErrorCode }},
		{key: 49, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationAlterConfigs, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterClientQuotasRequest()
				r.ValidateOnly = true
				e := kmsg.NewAlterClientQuotasRequestEntry()
				ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
				ent.Type, ent.Name = "client-id", kmsg.StringPtr("authz-table")
				e.Entity = append(e.Entity, ent)
				op := kmsg.NewAlterClientQuotasRequestEntryOp()
				op.Key, op.Value = "producer_byte_rate", 1024
				e.Ops = append(e.Ops, op)
				r.Entries = append(r.Entries, e)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode }},
		{key: 50, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationDescribe, denied: kerr.ClusterAuthorizationFailed,
			req:  func() kmsg.Request { return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode }},
		{key: 51, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationAlter, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
				d.Name, d.Mechanism = "nobody", 1
				r.Deletions = append(r.Deletions, d)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode }},
		{key: 57, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationAlter, denied: kerr.ClusterAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrUpdateFeaturesRequest()
				r.ValidateOnly, r.TimeoutMillis = true, 5000
				u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
				u.Feature, u.MaxVersionLevel, u.UpgradeType = "transaction.version", 2, 1
				r.FeatureUpdates = append(r.FeatureUpdates, u)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.UpdateFeaturesResponse).ErrorCode }},
		{key: 61, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationRead, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeProducersRequest()
				t := kmsg.NewDescribeProducersRequestTopic()
				t.Topic, t.Partitions = azTopic, []int32{0}
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 65, rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn, op: kmsg.ACLOperationDescribe, denied: kerr.TransactionalIDAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeTransactionsRequest()
				r.TransactionalIDs = []string{azTxn}
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
			}},
		{key: 66, rt: kmsg.ACLResourceTypeTransactionalId, res: azTxn + "-listed", op: kmsg.ACLOperationDescribe, denied: kerr.TransactionalIDAuthorizationFailed,
			req: func() kmsg.Request { return kmsg.NewPtrListTransactionsRequest() },
			code: listed(func(r kmsg.Response) bool {
				for _, s := range r.(*kmsg.ListTransactionsResponse).TransactionStates {
					if s.TransactionalID == azTxn+"-listed" {
						return true
					}
				}
				return false
			}, kerr.TransactionalIDAuthorizationFailed)},
		{key: 68, rt: kmsg.ACLResourceTypeGroup, res: azGroup + "-848", op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				r.Group, r.MemberID, r.RebalanceTimeoutMillis = azGroup+"-848", "az-member-0000000001", 10000
				r.SubscribedTopicNames = []string{}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode }},
		{key: 68, name: "subscribed topic", rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationDescribe, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				r.Group, r.MemberID, r.RebalanceTimeoutMillis = azGroup+"-open", "az-member-0000000002", 10000
				r.SubscribedTopicNames = []string{azTopic}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode }},
		{key: 69, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationDescribe, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrConsumerGroupDescribeRequest()
				r.Groups = []string{azGroup}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode }},
		{key: 76, rt: kmsg.ACLResourceTypeGroup, res: azGroup + "-share", op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrShareGroupHeartbeatRequest()
				r.GroupID, r.MemberID = azGroup+"-share", "az-share-member-1"
				r.SubscribedTopicNames = []string{}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode }},
		{key: 76, name: "subscribed topic", rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationDescribe, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrShareGroupHeartbeatRequest()
				r.GroupID, r.MemberID = azGroup+"-open", "az-share-member-2"
				r.SubscribedTopicNames = []string{azTopic}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode }},
		{key: 77, rt: kmsg.ACLResourceTypeGroup, res: azGroup, op: kmsg.ACLOperationDescribe, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrShareGroupDescribeRequest()
				r.GroupIDs = []string{azGroup}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareGroupDescribeResponse).Groups[0].ErrorCode }},
		{key: 78, rt: kmsg.ACLResourceTypeGroup, res: azGroup + "-sf", op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrShareFetchRequest()
				r.GroupID, r.MemberID = str(azGroup+"-sf"), str("az-share-member-3")
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareFetchResponse).ErrorCode }},
		{key: 78, name: "topic", rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationRead, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrShareFetchRequest()
				r.GroupID, r.MemberID = str(azGroup+"-open"), str("az-share-member-4")
				t := kmsg.NewShareFetchRequestTopic()
				t.TopicID = topicID
				p := kmsg.NewShareFetchRequestTopicPartition()
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.ShareFetchResponse)
				if resp.ErrorCode != 0 || len(resp.Topics) == 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].Partitions[0].ErrorCode
			}},
		{key: 79, rt: kmsg.ACLResourceTypeGroup, res: azGroup + "-sa", op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrShareAcknowledgeRequest()
				r.GroupID, r.MemberID, r.ShareSessionEpoch = str(azGroup+"-sa"), str("az-share-member-5"), 1
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareAcknowledgeResponse).ErrorCode }},
		{key: 90, rt: kmsg.ACLResourceTypeGroup, res: azGroup + "-offsets", op: kmsg.ACLOperationDescribe, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
				g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
				g.GroupID = azGroup + "-offsets"
				r.Groups = append(r.Groups, g)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeShareGroupOffsetsResponse).Groups[0].ErrorCode }},
		{key: 91, rt: kmsg.ACLResourceTypeGroup, res: azGroup + "-alter", op: kmsg.ACLOperationRead, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterShareGroupOffsetsRequest()
				r.GroupID = azGroup + "-alter"
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterShareGroupOffsetsResponse).ErrorCode }},
		{key: 92, rt: kmsg.ACLResourceTypeGroup, res: azGroup + "-delete", op: kmsg.ACLOperationDelete, denied: kerr.GroupAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
				r.GroupID = azGroup + "-delete"
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteShareGroupOffsetsResponse).ErrorCode }},
		{key: 84, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationClusterAction, denied: kerr.ClusterAuthorizationFailed,
			onlyDenied: "inter-broker only: the request must also come from a broker on the inter-broker listener",
			req: func() kmsg.Request {
				r := kmsg.NewPtrReadShareGroupStateRequest()
				r.GroupID = azGroup
				t := kmsg.NewReadShareGroupStateRequestTopic()
				t.TopicID = topicID
				t.Partitions = append(t.Partitions, kmsg.NewReadShareGroupStateRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.ReadShareGroupStateResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 85, rt: kmsg.ACLResourceTypeCluster, res: "kafka-cluster", op: kmsg.ACLOperationClusterAction, denied: kerr.ClusterAuthorizationFailed,
			onlyDenied: "inter-broker only: the request must also come from a broker on the inter-broker listener",
			req: func() kmsg.Request {
				r := kmsg.NewPtrWriteShareGroupStateRequest()
				r.GroupID = azGroup
				t := kmsg.NewWriteShareGroupStateRequestTopic()
				t.TopicID = topicID
				t.Partitions = append(t.Partitions, kmsg.NewWriteShareGroupStateRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.WriteShareGroupStateResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 75, rt: kmsg.ACLResourceTypeTopic, res: azTopic, op: kmsg.ACLOperationDescribe, denied: kerr.TopicAuthorizationFailed,
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeTopicPartitionsRequest()
				t := kmsg.NewDescribeTopicPartitionsRequestTopic()
				t.Topic = azTopic
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeTopicPartitionsResponse).Topics[0].ErrorCode }},
	}
}

func azDescribeConfigs(rt kmsg.ConfigResourceType, name string) *kmsg.DescribeConfigsRequest {
	r := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = rt, name
	r.Resources = append(r.Resources, res)
	return r
}

// listed turns "the listing shows the resource" into a code: 0, or the
// denial the listing's silent filtering stands for.
func listed(shows func(kmsg.Response) bool, denial *kerr.Error) func(kmsg.Response) int16 {
	return func(r kmsg.Response) int16 {
		if shows(r) {
			return 0
		}
		return denial.Code
	}
}

func hasGroup(r *kmsg.ListGroupsResponse, g string) bool {
	for _, lg := range r.Groups {
		if lg.Group == g {
			return true
		}
	}
	return false
}

// TestAuthorizationTable: for every API key the broker serves, a client
// without ACLs (alice, over SASL) gets Kafka's refusal for the resource
// and operation KafkaApis checks, and with exactly that ACL granted no
// longer gets it. Every served key is in the table or exempt with a
// reason.
func TestAuthorizationTable(t *testing.T) {
	tb, saslAddr := startAuthorizingBroker(t, "group.share.enable=true")
	ctx := testCtx(t)
	adm := tb.admin(t)
	var topicID [16]byte
	for _, name := range []string{azTopic, "az-doomed"} {
		created, err := adm.CreateTopic(ctx, 1, 1, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		if name == azTopic {
			topicID = created.ID
		}
	}
	// The cases on topics inside a group need the group itself allowed.
	grant(t, adm, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Groups(azGroup+"-open").Operations(kadm.OpRead))
	// A group to list and describe, and a transactional id to list.
	if _, err := adm.CommitOffsets(ctx, azGroup, kadm.OffsetsFromRecords(kgo.Record{Topic: azTopic, Partition: 0, Offset: 0})); err != nil {
		t.Fatal(err)
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	listedTxn := azTxn + "-listed"
	ip.TransactionalID, ip.TransactionTimeoutMillis = &listedTxn, 60000
	if resp, err := ip.RequestWith(ctx, tb.client(t)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId as admin: %v %+v", err, resp)
	}

	seed := asUser(t, saslAddr, "alice", "alice-secret").SeedBrokers()[0]
	v3 := kversion.Stable()
	v3.SetMaxKeyVersion(24, 3)
	seedV3Txn := asUser(t, saslAddr, "alice", "alice-secret", kgo.MaxVersions(v3)).SeedBrokers()[0]
	send := func(c authzCase) int16 {
		t.Helper()
		to := seed
		if c.clientV3Txn {
			to = seedV3Txn
		}
		resp, err := to.Request(ctx, c.req())
		if err != nil {
			t.Fatalf("key %d %s: %v", c.key, c.name, err)
		}
		return c.code(resp)
	}
	covered := map[int16]bool{}
	for _, c := range authzCases(topicID) {
		covered[c.key] = true
		label := kmsg.NameForKey(c.key) + " " + c.name
		if got := send(c); got != c.denied.Code {
			t.Errorf("%s without %s on %s %q: %v, want %v", label, c.op, c.rt, c.res, kerr.ErrorForCode(got), c.denied)
			continue
		}
		if c.onlyDenied != "" {
			continue
		}
		acl := kadm.NewACLs().Allow("User:alice").AllowHosts("*").Operations(kadm.ACLOperation(c.op)).ResourcePatternType(kadm.ACLPatternLiteral)
		switch c.rt {
		case kmsg.ACLResourceTypeTopic:
			acl = acl.Topics(c.res)
		case kmsg.ACLResourceTypeGroup:
			acl = acl.Groups(c.res)
		case kmsg.ACLResourceTypeTransactionalId:
			acl = acl.TransactionalIDs(c.res)
		case kmsg.ACLResourceTypeCluster:
			acl = acl.Clusters()
		}
		grant(t, adm, acl)
		if got := send(c); got == c.denied.Code {
			t.Errorf("%s with %s on %s %q still refused", label, c.op, c.rt, c.res)
		}
		if res, err := adm.DeleteACLs(ctx, acl); err != nil || res[0].Err != nil {
			t.Fatalf("%s: revoking: %v %v", label, err, res)
		}
	}
	for key := range tb.handlers() {
		if !covered[key] && authzTableExempt[key] == "" {
			t.Errorf("API key %d (%s) has no authorization case and no exemption", key, kmsg.NameForKey(key))
		}
	}
}

// TestAuthorizationOperationsFields: the authorized-operations bit fields
// follow the ACLs: without any, alice's topic and cluster fields are
// empty; with READ on the topic she sees READ and the DESCRIBE it implies.
func TestAuthorizationOperationsFields(t *testing.T) {
	tb, saslAddr := startAuthorizingBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, azTopic); err != nil {
		t.Fatal(err)
	}
	seed := asUser(t, saslAddr, "alice", "alice-secret").SeedBrokers()[0]
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	resp, err := seed.Request(ctx, dc)
	if err != nil || resp.(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations != 0 {
		t.Fatalf("DescribeCluster: %v %+v", err, resp)
	}
	grant(t, adm, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics(azTopic).Operations(kadm.OpRead))
	md := kmsg.NewPtrMetadataRequest()
	md.IncludeTopicAuthorizedOperations = true
	mresp, err := seed.Request(ctx, md)
	if err != nil {
		t.Fatal(err)
	}
	topics := mresp.(*kmsg.MetadataResponse).Topics
	if len(topics) != 1 || *topics[0].Topic != azTopic || topics[0].AuthorizedOperations != 1<<3|1<<8 {
		t.Fatalf("Metadata for alice: %+v", topics)
	}
	// The admin's ANONYMOUS is a super user: every operation.
	aresp, err := tb.client(t).SeedBrokers()[0].Request(ctx, dc)
	if err != nil || aresp.(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations != allClusterOperations {
		t.Fatalf("DescribeCluster as super user: %v %+v", err, aresp)
	}
}

// grant creates the ACLs b describes, failing the test on any error.
func grant(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(testCtx(t), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("granting %s %s on %s: %v", r.Principal, r.Operation, r.Name, r.Err)
		}
	}
}
