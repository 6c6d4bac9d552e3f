"""Produce N keyed records with confluent-kafka (librdkafka) and read them back.

usage: confluent_roundtrip.py BOOTSTRAP TOPIC COUNT CODEC [IDEMPOTENT]
Prints one JSON line: {"produced": n, "consumed": n, "partitions": {...}}.
Exits non-zero on any delivery error, duplicate, gap or reordering.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

bootstrap, topic, count, codec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
idempotent = len(sys.argv) > 5 and sys.argv[5] == "true"

errors = []
acked = {}


def on_delivery(err, msg):
    if err is not None:
        errors.append(str(err))
        return
    acked.setdefault(msg.partition(), []).append((msg.offset(), msg.key(), msg.value()))


p = Producer({
    "bootstrap.servers": bootstrap,
    "compression.codec": codec,
    "enable.idempotence": idempotent,
    "acks": "all",
    "linger.ms": 5,
})
for i in range(count):
    key = ("key-%d" % (i % 7)).encode()
    p.produce(topic, key=key, value=("value-%d" % i).encode(), on_delivery=on_delivery)
    p.poll(0)
left = p.flush(60)
if left or errors:
    print("produce failed: %d undelivered, errors %s" % (left, errors[:5]), file=sys.stderr)
    sys.exit(1)

c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "roundtrip-%s" % topic,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
})
parts = sorted(acked)
c.assign([TopicPartition(topic, part, 0) for part in parts])
seen = {}
deadline = time.time() + 60
total = 0
while total < count and time.time() < deadline:
    msg = c.poll(1.0)
    if msg is None:
        continue
    if msg.error():
        if msg.error().code() == KafkaError._PARTITION_EOF:
            continue
        print("consume error: %s" % msg.error(), file=sys.stderr)
        sys.exit(1)
    seen.setdefault(msg.partition(), []).append((msg.offset(), msg.key(), msg.value()))
    total += 1
c.close()

for part in parts:
    want = sorted(acked[part])
    got = seen.get(part, [])
    if got != want:
        print("partition %d: got %d records, want %d; first mismatch near %s" % (
            part, len(got), len(want), next(((a, b) for a, b in zip(got, want) if a != b), None)), file=sys.stderr)
        sys.exit(1)
print(json.dumps({"produced": count, "consumed": total, "partitions": {str(k): len(v) for k, v in seen.items()}}))
