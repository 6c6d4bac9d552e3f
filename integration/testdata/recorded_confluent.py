"""A librdkafka client's ordinary session, for recorded conformance.

usage: recorded_confluent.py BOOTSTRAP TOPIC GROUP COUNT GROUP_PROTOCOL
An idempotent producer sends COUNT keyed records (key k-i, value v-i,
header i), then a consumer in GROUP (group.protocol classic or consumer)
reads them, commits synchronously and closes. Exits non-zero on any error.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer

bootstrap, topic, group, count, protocol = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

errors = []


def on_delivery(err, msg):
    if err is not None:
        errors.append(str(err))


p = Producer({
    "bootstrap.servers": bootstrap,
    "client.id": "rec-librdkafka",
    "enable.idempotence": True,
    "acks": "all",
})
for i in range(count):
    p.produce(topic, key=b"k-%d" % i, value=b"v-%d" % i, headers=[("i", b"%d" % i)], on_delivery=on_delivery)
left = p.flush(60)
if left or errors:
    print("produce failed: %d undelivered, errors %s" % (left, errors[:5]), file=sys.stderr)
    sys.exit(1)

conf = {
    "bootstrap.servers": bootstrap,
    "client.id": "rec-librdkafka",
    "group.id": group,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
}
if protocol == "consumer":
    conf["group.protocol"] = "consumer"
c = Consumer(conf)
c.subscribe([topic])
got = 0
deadline = time.time() + 60
while got < count and time.time() < deadline:
    msg = c.poll(0.5)
    if msg is None:
        continue
    if msg.error():
        if msg.error().code() == KafkaError._PARTITION_EOF:
            continue
        print("consume error: %s" % msg.error(), file=sys.stderr)
        sys.exit(1)
    got += 1
if got < count:
    print("consumed %d of %d" % (got, count), file=sys.stderr)
    sys.exit(1)
c.commit(asynchronous=False)
c.close()
print("ok %d" % got)
