# confluent-kafka (librdkafka) commits offsets for an existing topic and a
# missing one in one synchronous commit and prints each partition's result.
# usage: librdkafka_commit_unknown.py BOOTSTRAP EXISTING_TOPIC
import sys

from confluent_kafka import Consumer, KafkaException, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "librdkafka-commit-unknown",
              "enable.auto.commit": False})
try:
    res = c.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition("no-such-topic", 0, 5)],
                   asynchronous=False)
    for tp in sorted(res, key=lambda tp: tp.topic):
        print(f"{tp.topic}/{tp.partition}: {tp.error.name() if tp.error else 'ok'}")
except KafkaException as e:
    # librdkafka raises when any partition failed; the per-partition
    # results ride along in the error's partitions when available.
    print(f"raised: {e.args[0].name()}")
c.close()
