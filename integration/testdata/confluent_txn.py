"""Transactions with confluent-kafka (librdkafka): commit, abort,
send_offsets_to_transaction and fencing by a second producer.

usage: confluent_txn.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP
IN_TOPIC must already hold records (consumed in the offsets step).
Prints one JSON line:
  {"committed": [...values read_committed...], "group_offsets": {p: off},
   "in_positions": {p: off}, "fenced": {"fatal": bool, "code": str}}
Exits non-zero on any unexpected error.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

bootstrap, in_topic, out_topic, group = sys.argv[1:5]
TXN_ID = "cf-txn-" + out_topic


def producer():
    return Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": TXN_ID,
        "transaction.timeout.ms": 60000,
        "linger.ms": 5,
    })


p1 = producer()
p1.init_transactions(30)

# 1. A committed transaction.
p1.begin_transaction()
for i in range(10):
    p1.produce(out_topic, value=b"commit-%d" % i)
p1.commit_transaction(30)

# 2. An aborted one.
p1.begin_transaction()
for i in range(10):
    p1.produce(out_topic, value=b"abort-%d" % i)
p1.flush(30)
p1.abort_transaction(30)

# 3. Consume-transform-produce with the offsets in the transaction.
c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
})
c.subscribe([in_topic])
got = []
deadline = time.time() + 60
while len(got) < 5 and time.time() < deadline:
    m = c.poll(1.0)
    if m is None:
        continue
    if m.error():
        raise SystemExit("consume error: %s" % m.error())
    got.append(m)
if len(got) < 5:
    raise SystemExit("consumed only %d input records" % len(got))
p1.begin_transaction()
for m in got:
    p1.produce(out_topic, value=b"xform-" + m.value())
positions = c.position(c.assignment())
p1.send_offsets_to_transaction(positions, c.consumer_group_metadata(), 30)
p1.commit_transaction(30)
in_positions = {tp.partition: tp.offset for tp in positions}
committed = c.committed(c.assignment(), 30)
group_offsets = {tp.partition: tp.offset for tp in committed}
c.close()

# 4. Fencing: a second producer with the same transactional.id fences the
# first, whose next transactional call fails fatally.
p1.begin_transaction()
p1.produce(out_topic, value=b"zombie")
p1.flush(30)
p2 = producer()
p2.init_transactions(30)
fenced = {"fatal": False, "code": ""}
try:
    p1.produce(out_topic, value=b"zombie-2")
    p1.commit_transaction(30)
except KafkaException as e:
    err = e.args[0]
    fenced = {"fatal": err.fatal(), "code": err.name()}
p2.begin_transaction()
p2.produce(out_topic, value=b"after-fence")
p2.commit_transaction(30)

# Read back read_committed.
rc = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group + "-reader",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
    "enable.partition.eof": True,
})
rc.subscribe([out_topic])
values = []
eof = set()
deadline = time.time() + 60
parts = None
while time.time() < deadline:
    m = rc.poll(1.0)
    if m is None:
        continue
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            eof.add(m.partition())
            parts = parts or len(rc.assignment())
            if parts and len(eof) >= parts:
                break
            continue
        raise SystemExit("read error: %s" % m.error())
    values.append(m.value().decode())
rc.close()
print(json.dumps({"committed": values, "group_offsets": group_offsets,
                  "in_positions": in_positions, "fenced": fenced}))
