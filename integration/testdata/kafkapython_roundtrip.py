"""Produce N keyed records with kafka-python and read them back.

usage: kafkapython_roundtrip.py BOOTSTRAP TOPIC COUNT CODEC
CODEC is none, gzip, snappy, lz4 or zstd (kafka-python 2.0.2 needs the
codec's Python module; the test skips codecs it cannot load).
Prints one JSON line: {"produced": n, "consumed": n}.
"""
import json
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic, count, codec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

producer = KafkaProducer(
    bootstrap_servers=bootstrap,
    compression_type=None if codec == "none" else codec,
    acks="all",
    linger_ms=5,
)
futures = []
for i in range(count):
    futures.append(producer.send(topic, key=("key-%d" % (i % 7)).encode(), value=("value-%d" % i).encode()))
producer.flush(60)
acked = {}
for f in futures:
    md = f.get(timeout=60)
    acked.setdefault(md.partition, []).append(md.offset)
producer.close()

consumer = KafkaConsumer(
    bootstrap_servers=bootstrap,
    group_id=None,
    enable_auto_commit=False,
    consumer_timeout_ms=15000,
)
parts = [TopicPartition(topic, p) for p in sorted(acked)]
consumer.assign(parts)
consumer.seek_to_beginning(*parts)
seen = {}
for msg in consumer:
    seen.setdefault(msg.partition, []).append(msg.offset)
    if sum(len(v) for v in seen.values()) >= count:
        break
consumer.close()
for p, offs in acked.items():
    if sorted(offs) != seen.get(p, []):
        print("partition %d: acked %d offsets, read %d" % (p, len(offs), len(seen.get(p, []))), file=sys.stderr)
        sys.exit(1)
print(json.dumps({"produced": count, "consumed": sum(len(v) for v in seen.values())}))
