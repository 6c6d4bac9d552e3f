package broker

// handlers is the table of every API the broker serves, by key, with the
// highest version its handler implements (the floor is Kafka 4's, from
// protocol). One file per API family holds each handler, named for its key.
// ApiVersions (18) is answered by the Server itself from this table.
func (b *Broker) handlers() map[int16]Handler {
	return map[int16]Handler{
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
	}
}
