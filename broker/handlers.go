package broker

// handlers is the table of every API the broker serves, by key, with the
// highest version its handler implements (the floor is Kafka 4's, from
// protocol). One file per API family holds each handler, named for its key.
// ApiVersions (18) is answered by the Server itself from this table, and
// SaslHandshake (17) and SaslAuthenticate (36), which are connection state,
// by the Server too.
func (b *Broker) handlers() map[int16]Handler {
	return map[int16]Handler{
		0:  {MaxVersion: 13, Handle: b.handleProduce},
		1:  {MaxVersion: 18, Handle: b.handleFetch},
		2:  {MaxVersion: 11, Handle: b.handleListOffsets},
		21: {MaxVersion: 2, Handle: b.handleDeleteRecords},
		22: {MaxVersion: 5, Handle: b.handleInitProducerID},
		23: {MaxVersion: 4, Handle: b.handleOffsetForLeaderEpoch},
		24: {MaxVersion: addPartitionsToTxnMaxVersion, Handle: b.handleAddPartitionsToTxn},
		25: {MaxVersion: addOffsetsToTxnMaxVersion, Handle: b.handleAddOffsetsToTxn},
		26: {MaxVersion: endTxnMaxVersion, Handle: b.handleEndTxn},
		27: {MaxVersion: writeTxnMarkersMaxVersion, Handle: b.handleWriteTxnMarkers},
		28: {MaxVersion: txnOffsetCommitMaxVersion, Handle: b.handleTxnOffsetCommit},
		61: {MaxVersion: describeProducersMaxVersion, Handle: b.handleDescribeProducers},
		65: {MaxVersion: describeTransactionsMaxVersion, Handle: b.handleDescribeTransactions},
		66: {MaxVersion: listTransactionsMaxVersion, Handle: b.handleListTransactions},
		3:  {MaxVersion: metadataMaxVersion, Handle: b.handleMetadata},
		19: {MaxVersion: createTopicsMaxVersion, Handle: b.handleCreateTopics},
		20: {MaxVersion: deleteTopicsMaxVersion, Handle: b.handleDeleteTopics},
		32: {MaxVersion: describeConfigsMaxVersion, Handle: b.handleDescribeConfigs},
		33: {MaxVersion: alterConfigsMaxVersion, Handle: b.handleAlterConfigs},
		35: {MaxVersion: describeLogDirsMaxVersion, Handle: b.handleDescribeLogDirs},
		37: {MaxVersion: createPartitionsMaxVersion, Handle: b.handleCreatePartitions},
		44: {MaxVersion: incrementalAlterConfigsMaxVersion, Handle: b.handleIncrementalAlterConfigs},
		60: {MaxVersion: describeClusterMaxVersion, Handle: b.handleDescribeCluster},
		75: {MaxVersion: describeTopicPartitionsMaxVersion, Handle: b.handleDescribeTopicPartitions},
		29: {MaxVersion: aclAPIsMaxVersion, Handle: b.handleDescribeACLs},
		30: {MaxVersion: aclAPIsMaxVersion, Handle: b.handleCreateACLs},
		31: {MaxVersion: aclAPIsMaxVersion, Handle: b.handleDeleteACLs},
		43: {MaxVersion: electLeadersMaxVersion, Handle: b.handleElectLeaders},
		45: {MaxVersion: alterPartitionReassignmentsMaxVersion, Handle: b.handleAlterPartitionReassignments},
		46: {MaxVersion: listPartitionReassignmentsMaxVersion, Handle: b.handleListPartitionReassignments},
		8:  {MaxVersion: offsetCommitMaxVersion, Handle: b.handleOffsetCommit},
		9:  {MaxVersion: offsetFetchMaxVersion, Handle: b.handleOffsetFetch},
		10: {MaxVersion: findCoordinatorMaxVersion, Handle: b.handleFindCoordinator},
		11: {MaxVersion: joinGroupMaxVersion, Handle: b.handleJoinGroup},
		12: {MaxVersion: heartbeatMaxVersion, Handle: b.handleHeartbeat},
		13: {MaxVersion: leaveGroupMaxVersion, Handle: b.handleLeaveGroup},
		14: {MaxVersion: syncGroupMaxVersion, Handle: b.handleSyncGroup},
		15: {MaxVersion: describeGroupsMaxVersion, Handle: b.handleDescribeGroups},
		16: {MaxVersion: listGroupsMaxVersion, Handle: b.handleListGroups},
		42: {MaxVersion: deleteGroupsMaxVersion, Handle: b.handleDeleteGroups},
		47: {MaxVersion: offsetDeleteMaxVersion, Handle: b.handleOffsetDelete},
		68: {MaxVersion: consumerGroupHeartbeatMaxVersion, Handle: b.handleConsumerGroupHeartbeat},
		69: {MaxVersion: consumerGroupDescribeMaxVersion, Handle: b.handleConsumerGroupDescribe},
		50: {MaxVersion: describeUserScramCredentialsMaxVersion, Handle: b.handleDescribeUserScramCredentials},
		51: {MaxVersion: alterUserScramCredentialsMaxVersion, Handle: b.handleAlterUserScramCredentials},
	}
}
