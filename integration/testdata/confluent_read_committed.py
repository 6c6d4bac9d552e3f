"""Reads a topic from the beginning under read_committed with
confluent-kafka (librdkafka) and prints one value per line.

usage: confluent_read_committed.py BOOTSTRAP TOPIC EXPECTED
Stops once EXPECTED records were read and a further two seconds bring no
more (so extra, e.g. aborted, records would show), or after 60 s.
"""
import sys
import time

from confluent_kafka import Consumer

bootstrap, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "rc-%d" % time.time_ns(),
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
})
c.subscribe([topic])
got = []
deadline = time.time() + 60
quiet_until = None
while time.time() < deadline:
    msg = c.poll(0.2)
    if msg is not None and not msg.error():
        got.append(msg.value().decode())
        quiet_until = None
        continue
    if len(got) >= expected:
        if quiet_until is None:
            quiet_until = time.time() + 2
        elif time.time() > quiet_until:
            break
c.close()
for v in got:
    print(v)
