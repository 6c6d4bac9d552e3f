package broker

import "github.com/runnel/runnel/network"

// handlers is the table of every API the broker serves, sorted by key, with
// the highest version its handler implements (the floor is Kafka 4's, from
// protocol). Each handler and its max version live in the file named for
// its key (00_produce.go … 75_describe_topic_partitions.go).
// ApiVersions (18) is answered by the Server itself from this table, and
// SaslHandshake (17) and SaslAuthenticate (36), which are connection state,
// by the Server too.
func (b *Broker) handlers() map[int16]network.Handler {
	hs := b.handlerTable()
	for k, h := range hs {
		h.Handle = b.withQuotas(k, h.Handle) // quotas.go
		hs[k] = h
	}
	return hs
}

func (b *Broker) handlerTable() map[int16]network.Handler {
	return map[int16]network.Handler{
		0:  {MaxVersion: produceMaxVersion, Handle: b.handleProduce},
		1:  {MaxVersion: fetchMaxVersion, Handle: b.handleFetch},
		2:  {MaxVersion: listOffsetsMaxVersion, Handle: b.handleListOffsets},
		3:  {MaxVersion: metadataMaxVersion, Handle: b.handleMetadata},
		8:  {MaxVersion: offsetCommitMaxVersion, Handle: b.handleOffsetCommit},
		9:  {MaxVersion: offsetFetchMaxVersion, Handle: b.handleOffsetFetch},
		10: {MaxVersion: findCoordinatorMaxVersion, Handle: b.handleFindCoordinator},
		11: {MaxVersion: joinGroupMaxVersion, Handle: b.handleJoinGroup},
		12: {MaxVersion: heartbeatMaxVersion, Handle: b.handleHeartbeat},
		13: {MaxVersion: leaveGroupMaxVersion, Handle: b.handleLeaveGroup},
		14: {MaxVersion: syncGroupMaxVersion, Handle: b.handleSyncGroup},
		15: {MaxVersion: describeGroupsMaxVersion, Handle: b.handleDescribeGroups},
		16: {MaxVersion: listGroupsMaxVersion, Handle: b.handleListGroups},
		19: {MaxVersion: createTopicsMaxVersion, Handle: b.handleCreateTopics},
		20: {MaxVersion: deleteTopicsMaxVersion, Handle: b.handleDeleteTopics},
		21: {MaxVersion: deleteRecordsMaxVersion, Handle: b.handleDeleteRecords},
		22: {MaxVersion: initProducerIDMaxVersion, Handle: b.handleInitProducerID},
		23: {MaxVersion: offsetForLeaderEpochMaxVersion, Handle: b.handleOffsetForLeaderEpoch},
		24: {MaxVersion: addPartitionsToTxnMaxVersion, Handle: b.handleAddPartitionsToTxn},
		25: {MaxVersion: addOffsetsToTxnMaxVersion, Handle: b.handleAddOffsetsToTxn},
		26: {MaxVersion: endTxnMaxVersion, Handle: b.handleEndTxn},
		27: {MaxVersion: writeTxnMarkersMaxVersion, Handle: b.handleWriteTxnMarkers},
		28: {MaxVersion: txnOffsetCommitMaxVersion, Handle: b.handleTxnOffsetCommit},
		29: {MaxVersion: aclAPIsMaxVersion, Handle: b.handleDescribeACLs},
		30: {MaxVersion: aclAPIsMaxVersion, Handle: b.handleCreateACLs},
		31: {MaxVersion: aclAPIsMaxVersion, Handle: b.handleDeleteACLs},
		32: {MaxVersion: describeConfigsMaxVersion, Handle: b.handleDescribeConfigs},
		33: {MaxVersion: alterConfigsMaxVersion, Handle: b.handleAlterConfigs},
		35: {MaxVersion: describeLogDirsMaxVersion, Handle: b.handleDescribeLogDirs},
		37: {MaxVersion: createPartitionsMaxVersion, Handle: b.handleCreatePartitions},
		42: {MaxVersion: deleteGroupsMaxVersion, Handle: b.handleDeleteGroups},
		43: {MaxVersion: electLeadersMaxVersion, Handle: b.handleElectLeaders},
		44: {MaxVersion: incrementalAlterConfigsMaxVersion, Handle: b.handleIncrementalAlterConfigs},
		45: {MaxVersion: alterPartitionReassignmentsMaxVersion, Handle: b.handleAlterPartitionReassignments},
		46: {MaxVersion: listPartitionReassignmentsMaxVersion, Handle: b.handleListPartitionReassignments},
		47: {MaxVersion: offsetDeleteMaxVersion, Handle: b.handleOffsetDelete},
		48: {MaxVersion: describeClientQuotasMaxVersion, Handle: b.handleDescribeClientQuotas},
		49: {MaxVersion: alterClientQuotasMaxVersion, Handle: b.handleAlterClientQuotas},
		50: {MaxVersion: describeUserScramCredentialsMaxVersion, Handle: b.handleDescribeUserScramCredentials},
		51: {MaxVersion: alterUserScramCredentialsMaxVersion, Handle: b.handleAlterUserScramCredentials},
		57: {MaxVersion: updateFeaturesMaxVersion, Handle: b.handleUpdateFeatures},
		60: {MaxVersion: describeClusterMaxVersion, Handle: b.handleDescribeCluster},
		61: {MaxVersion: describeProducersMaxVersion, Handle: b.handleDescribeProducers},
		65: {MaxVersion: describeTransactionsMaxVersion, Handle: b.handleDescribeTransactions},
		66: {MaxVersion: listTransactionsMaxVersion, Handle: b.handleListTransactions},
		68: {MaxVersion: consumerGroupHeartbeatMaxVersion, Handle: b.handleConsumerGroupHeartbeat},
		69: {MaxVersion: consumerGroupDescribeMaxVersion, Handle: b.handleConsumerGroupDescribe},
		74: {MaxVersion: listConfigResourcesMaxVersion, Handle: b.handleListConfigResources},
		75: {MaxVersion: describeTopicPartitionsMaxVersion, Handle: b.handleDescribeTopicPartitions},
		76: {MaxVersion: shareGroupHeartbeatMaxVersion, Handle: b.handleShareGroupHeartbeat},
		77: {MaxVersion: shareGroupDescribeMaxVersion, Handle: b.handleShareGroupDescribe},
		78: {MaxVersion: shareFetchMaxVersion, Handle: b.handleShareFetch},
		79: {MaxVersion: shareAcknowledgeMaxVersion, Handle: b.handleShareAcknowledge},
		84: {MaxVersion: readShareGroupStateMaxVersion, Handle: b.handleReadShareGroupState},
		85: {MaxVersion: writeShareGroupStateMaxVersion, Handle: b.handleWriteShareGroupState},
		90: {MaxVersion: describeShareGroupOffsetsMaxVersion, Handle: b.handleDescribeShareGroupOffsets},
		91: {MaxVersion: alterShareGroupOffsetsMaxVersion, Handle: b.handleAlterShareGroupOffsets},
		92: {MaxVersion: deleteShareGroupOffsetsMaxVersion, Handle: b.handleDeleteShareGroupOffsets},
	}
}
