// Package config knows Kafka's configuration keys and speaks them: it
// loads a broker's configuration the way Kafka and its container images
// do, validates topic configs the way Kafka 4 does, and answers
// DescribeConfigs with Kafka's values, sources, synonyms, types and
// documentation. It talks to nothing; the broker and controller call it.
//
// # Definitions
//
// Every key is a Def: name, Kafka's type (the DescribeConfigs type codes,
// kmsg.ConfigType), default printed as Kafka prints it (or null),
// documentation, validator, and whether it is sensitive or dynamic.
// TopicDefs lists every Kafka 4 topic key; each names its broker synonyms
// in precedence order (retention.ms ← log.retention.ms, log.retention.minutes,
// log.retention.hours). BrokerDefs lists the broker keys Runnel reads, plus
// Runnel's own: etcd.endpoints (empty: embedded etcd), runnel.admin.listener
// (HTTP metrics and health, default 127.0.0.1:9644) and runnel.log.durable
// (fsync before acknowledging, default false).
//
// Reference: Kafka 4.x (LogConfig, ServerLogConfigs, ServerConfigs,
// ReplicationConfigs, SocketServerConfigs, GroupCoordinatorConfig,
// TransactionLogConfig). Kafka 4 changes honoured here: segment.bytes and
// log.segment.bytes are at least 1 MiB; message.timestamp.after.max.ms
// defaults to one hour; num.recovery.threads.per.data.dir defaults to 2;
// message.format.version, message.downconversion.enable and
// message.timestamp.difference.max.ms are no longer topic keys.
//
// # Loading
//
// Load layers built-in defaults < server.properties (Java .properties
// syntax, see ParseProperties) < environment < --override key=value.
// Environment variables follow the Confluent/Apache image rule (EnvKey):
// KAFKA_ADVERTISED_LISTENERS → advertised.listeners, with "___" → "-",
// "__" → "_", "_" → "."; Bitnami's KAFKA_CFG_ prefix works the same way.
// Variables the images use for the JVM and themselves (KAFKA_HEAP_OPTS,
// KAFKA_OPTS, KAFKA_JMX_*, KAFKA_LOG4J_*, …) are skipped; CLUSTER_ID and
// KAFKA_CLUSTER_ID become Broker.ClusterIDHint.
//
// Every key given is kept in Broker.Raw. Known keys are validated and
// typed into Broker's fields; a bad value is an error naming the key and
// where it came from. Kafka keys Runnel does not need (process.roles,
// controller.quorum.voters, controller.listener.names, zookeeper.connect,
// log4j keys, …) are accepted with an info note in Broker.Notes; listeners
// named in controller.listener.names are not opened. Unknown keys, removed
// keys and topic keys set at broker level are returned as warnings.
//
// Listeners follow Kafka's rules: NAME://host:port, an empty host binds
// every interface, names must be in listener.security.protocol.map, and
// when advertised.listeners is unset the listeners are advertised with an
// empty or wildcard host replaced by the machine's hostname (Kafka uses
// the canonical host name there; Kafka would reject a 0.0.0.0 listener
// without advertised.listeners, Runnel advertises the hostname and notes
// it). The inter-broker listener must be advertised.
//
// # DescribeConfigs
//
// DescribeTopic and DescribeBroker return Entries in Kafka's shape. A
// topic key's value is its override (DYNAMIC_TOPIC_CONFIG), else its first
// broker synonym set dynamically for this broker (DYNAMIC_BROKER_CONFIG),
// dynamically for the cluster (DYNAMIC_DEFAULT_BROKER_CONFIG), statically
// (STATIC_BROKER_CONFIG), else the broker default (DEFAULT_CONFIG), scaled
// to the topic key's unit; synonyms are listed in that order.
// EffectiveTopic gives the same resolution as typed fields for storage.
// ValidateTopicConfigs checks CreateTopics/AlterConfigs input; its errors
// name the key and map to INVALID_CONFIG.
package config
