"""Big topics and a delete / re-create loop with confluent-kafka's AdminClient.

usage: confluent_scale.py BOOTSTRAP create TOPIC PARTITIONS
       confluent_scale.py BOOTSTRAP grow TOPIC PARTITIONS
       confluent_scale.py BOOTSTRAP cap TOPIC PARTITIONS     (expects POLICY_VIOLATION)
       confluent_scale.py BOOTSTRAP loop TOPIC PARTITIONS ROUNDS
Each change waits for its future; right after it, Metadata from the same
broker must show the topic whole (or gone after a delete). Prints one JSON
line with what was seen; exits non-zero on any failure.
"""
import json
import sys
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

bootstrap, mode, topic, parts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# A 10,000-partition CreateTopics is answered once the broker has made its
# 10,000 local logs: allow it up to librdkafka's largest socket timeout (300 s).
admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 300000})


def partitions_of(name):
    md = admin.list_topics(timeout=30)
    t = md.topics.get(name)
    if t is None or t.error is not None:
        return None
    return len(t.partitions)


def wait(futures):
    # The broker answers once its own metadata shows the change and its
    # local logs exist: thousands of new logs take a while.
    for f in futures.values():
        f.result(timeout=600)


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


out = {"mode": mode}
start = time.time()
if mode == "create":
    wait(admin.create_topics([NewTopic(topic, parts, 1)], operation_timeout=60, request_timeout=300))
    out["partitions"] = partitions_of(topic)
    if out["partitions"] != parts:
        fail("created %s with %d partitions, metadata shows %s" % (topic, parts, out["partitions"]))
elif mode == "grow":
    wait(admin.create_partitions([NewPartitions(topic, parts)], operation_timeout=60, request_timeout=300))
    out["partitions"] = partitions_of(topic)
    if out["partitions"] != parts:
        fail("grew %s to %d partitions, metadata shows %s" % (topic, parts, out["partitions"]))
elif mode == "cap":
    try:
        wait(admin.create_topics([NewTopic(topic, parts, 1)], validate_only=True))
        fail("%d partitions accepted" % parts)
    except KafkaException as e:
        err = e.args[0]
        out["code"], out["message"] = err.name(), err.str()
        if err.code() != KafkaError.POLICY_VIOLATION:
            fail("cap: %s" % err)
elif mode == "loop":
    rounds = int(sys.argv[5])
    for i in range(rounds):
        wait(admin.create_topics([NewTopic(topic, parts, 1)], operation_timeout=30))
        n = partitions_of(topic)
        if n != parts:
            fail("round %d: after create, metadata shows %s partitions" % (i, n))
        wait(admin.delete_topics([topic], operation_timeout=30))
        n = partitions_of(topic)
        if n is not None:
            fail("round %d: after delete, metadata still shows the topic (%s partitions)" % (i, n))
    out["rounds"] = rounds
out["seconds"] = round(time.time() - start, 2)
print(json.dumps(out))
