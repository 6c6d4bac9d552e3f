"""A group consumer that commits after processing, for the group tests.

usage: group_consume.py CLIENT BOOTSTRAP TOPIC GROUP SECONDS OUTFILE
CLIENT is "confluent" (librdkafka) or "kafkapython". Consumes for SECONDS,
appending "partition offset value" lines to OUTFILE for every record it
processes, and commits each record's offset after writing it (at-least-once).
"""
import sys
import time

client, bootstrap, topic, group, seconds, outfile = sys.argv[1:7]
deadline = time.time() + float(seconds)
out = open(outfile, "a", buffering=1)

if client == "confluent":
    from confluent_kafka import Consumer

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    c.subscribe([topic])
    while time.time() < deadline:
        msg = c.poll(0.5)
        if msg is None or msg.error():
            continue
        out.write("%d %d %s\n" % (msg.partition(), msg.offset(), msg.value().decode()))
        c.commit(message=msg, asynchronous=False)
    c.close()
else:
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

    c = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    while time.time() < deadline:
        batches = c.poll(timeout_ms=500)
        for tp, msgs in batches.items():
            for m in msgs:
                out.write("%d %d %s\n" % (m.partition, m.offset, m.value.decode()))
                c.commit({TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(m.offset + 1, "")})
    c.close()
print("done")
