"""Measures a librdkafka (confluent-kafka) client against a byte-rate quota.

usage: confluent_quota_rate.py produce|consume BOOTSTRAP TOPIC CLIENT_ID SECONDS

produce: sends 10 kB random (incompressible) records as fast as librdkafka
lets it for SECONDS and counts the bytes acknowledged.
consume: reads TOPIC from the start for SECONDS and counts record bytes.
Either prints one JSON line: {"bytes": N, "seconds": S, "max_throttle_ms": T}
where T is the largest throttle_time_ms librdkafka reported (throttle_cb).
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, Producer

mode, bootstrap, topic, client_id, seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
throttles = [0]


def on_throttle(event):
    throttles[0] = max(throttles[0], int(event.throttle_time * 1000))


common = {"bootstrap.servers": bootstrap, "client.id": client_id, "throttle_cb": on_throttle}

if mode == "produce":
    acked = [0]

    def delivered(err, msg):
        if err is None:
            acked[0] += len(msg.value())

    p = Producer(dict(common, **{"linger.ms": 5, "compression.type": "none", "queue.buffering.max.kbytes": 4096,
                              "max.in.flight.requests.per.connection": 1, "batch.size": 262144}))
    value = os.urandom(10_000)
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            p.produce(topic, value, on_delivery=delivered)
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    p.poll(0)
    counted = acked[0]  # bytes acknowledged within the period
    p.flush(120)
    print(json.dumps({"bytes": counted, "seconds": seconds, "max_throttle_ms": throttles[0]}))
else:
    c = Consumer(dict(common, **{"group.id": client_id, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    c.subscribe([topic])
    got = 0
    start = None
    deadline = None
    while True:
        m = c.poll(0.2)
        now = time.monotonic()
        if m is not None and m.error() is None:
            if start is None:
                start, deadline = now, now + seconds
            if now <= deadline:
                got += len(m.value())
        if deadline is not None and now >= deadline:
            break
    c.close()
    print(json.dumps({"bytes": got, "seconds": seconds, "max_throttle_ms": throttles[0]}))
