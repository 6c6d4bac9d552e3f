"""Authenticate with SASL through a Python client, then produce and consume.

usage: sasl_clients.py CLIENT BOOTSTRAP MECHANISM USER PASSWORD TOPIC EXPECT
CLIENT is kafka-python or confluent; EXPECT is "ok" (produce 5 records and
read them back) or "authfail" (the client must report an authentication
failure and deliver nothing).
Prints one JSON line: {"client": ..., "result": "ok"|"authfail", "detail": ...}.
"""
import json
import sys
import time

client, bootstrap, mech, user, password, topic, expect = sys.argv[1:8]
values = [("v%d" % i).encode() for i in range(5)]


def report(result, detail=""):
    print(json.dumps({"client": client, "result": result, "detail": str(detail)[:300]}))
    sys.exit(0 if result == expect else 1)


if client == "kafka-python":
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError
    common = dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=password,
                  api_version_auto_timeout_ms=10000, request_timeout_ms=15000)
    try:
        p = KafkaProducer(acks="all", **common)
    except KafkaError as e:
        # kafka-python reports a closed connection during SASL as
        # NoBrokersAvailable from its version probe.
        report("authfail", repr(e))
    for v in values:
        p.send(topic, v).get(timeout=30)
    p.flush()
    p.close()
    c = KafkaConsumer(auto_offset_reset="earliest", consumer_timeout_ms=20000, **common)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    for m in c:
        got.append(m.value)
        if len(got) >= len(values):
            break
    c.close()
    if got[:len(values)] != values:
        print("consumed %r" % got, file=sys.stderr)
        sys.exit(1)
    report("ok")

elif client == "confluent":
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
    common = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
              "sasl.mechanisms": mech, "sasl.username": user, "sasl.password": password}
    errs = []

    def on_error(err):
        errs.append(err)

    p = Producer(dict(common, **{"acks": "all", "error_cb": on_error, "message.timeout.ms": 15000}))
    delivered = []
    for v in values:
        p.produce(topic, value=v, on_delivery=lambda err, msg: delivered.append(err))
    deadline = time.time() + 30
    while len(delivered) < len(values) and time.time() < deadline:
        p.poll(0.2)
        auth = [e for e in errs if e.code() == KafkaError._AUTHENTICATION]
        if auth:
            report("authfail", auth[0].str())
    if len(delivered) < len(values) or any(d is not None for d in delivered):
        print("undelivered: %r errors %r" % (delivered, errs), file=sys.stderr)
        sys.exit(1)
    c = Consumer(dict(common, **{"group.id": "sasl-" + topic, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 30
    while len(got) < len(values) and time.time() < deadline:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        got.append(m.value())
    c.close()
    if got != values:
        print("consumed %r" % got, file=sys.stderr)
        sys.exit(1)
    report("ok")
else:
    print("unknown client " + client, file=sys.stderr)
    sys.exit(2)
