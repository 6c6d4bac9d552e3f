// Package controller keeps Runnel's cluster metadata in etcd, in the role
// ZooKeeper played for Kafka, and gives every broker an in-memory view of it.
//
// A Controller (Open) connects to etcd — or, with no endpoints, starts an
// embedded single-member etcd in DataDir/etcd that listens on unix sockets
// only — and then:
//
//   - creates the cluster id once (a transaction that only writes if the key
//     is absent) and reports it (ClusterID);
//   - registers the broker under a lease kept alive in the background, so
//     the registration vanishes when the broker dies (RegisterBroker); the
//     registration's creation revision is the broker epoch; a registration
//     left by a dead process of the same log dir (same DirectoryID) is
//     taken over at once by revoking its lease (takeover.go);
//   - runs the controller election (Campaign, IsController) with
//     concurrency.Election; the elected broker runs the controller loop that
//     moves leadership away from dead brokers and back to preferred leaders
//     (ctrlloop.go);
//   - creates and deletes topics and partitions (CreateTopic, DeleteTopic,
//     CreatePartitions) so that every watcher sees a topic appear or vanish
//     whole in one revision, in transactions that fit etcd's default
//     limits whatever the topic's size (chunks.go), assigning replicas with
//     Kafka's rack-aware round robin (assign.go);
//   - changes partition state only by compare-and-swap on the partition
//     key's mod revision, Kafka's zkVersion (UpdatePartition);
//   - stores dynamic topic and broker configs (SetTopicConfigs,
//     SetBrokerConfigs) and hands out producer-id blocks
//     (AllocateProducerIDs);
//   - mirrors every key under the prefix through one watch into an
//     immutable Snapshot replaced on every change (Snapshot, Subscribe), and
//     lets a caller wait until its own write is visible (WaitRevision).
//
// Errors that Kafka handlers return to clients wrap *kerr.Error values
// (errors.As / errors.Is); etcd and context failures are returned wrapped.
//
// # Key layout
//
// Every key lives under Options.Prefix (default "/runnel"); topic names are
// url.PathEscape'd inside keys (legal Kafka names are unchanged).
// docs/etcd-keys.md has the value formats.
//
//	/runnel/cluster_id                    cluster id (22-char base64url UUID), created once
//	/runnel/brokers/<id>                  JSON {rack, endpoints, directory_id}; under the broker's lease;
//	                                      create revision = broker epoch
//	/runnel/controller/<lease>            concurrency.Election keys, value = broker id;
//	                                      the lowest create revision is the controller
//	/runnel/topics/<name>                 JSON {id, internal, partition_count}, written last: the
//	                                      commit record of a create or extension; {…, creating}
//	                                      is a creation claim under a lease (no topic yet)
//	/runnel/partitions/<name>/<p>         JSON {replicas, isr, leader, leader_epoch,
//	                                      partition_epoch, offline}; CAS by mod revision
//	/runnel/configs/topics/<name>         JSON object of topic config overrides
//	/runnel/configs/brokers/<id>          JSON object of one broker's dynamic configs
//	/runnel/configs/brokers/              (empty id) cluster-wide dynamic defaults
//	/runnel/producer_ids                  next unallocated producer id, decimal; CAS
package controller
