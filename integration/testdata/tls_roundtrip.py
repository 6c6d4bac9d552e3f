"""Produce N records over TLS and read them back, with kafka-python or
confluent-kafka-python.

usage: tls_roundtrip.py LIB BOOTSTRAP TOPIC COUNT CAFILE [CERTFILE KEYFILE]
LIB is kafka-python or confluent. CERTFILE/KEYFILE (PEM) are the client's
certificate and key for brokers that require one.
Prints one JSON line: {"produced": n, "consumed": n}; exits 1 when the
records read back differ from those written.
"""
import json
import sys

lib, bootstrap, topic, count, cafile = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
cert, key = (sys.argv[6], sys.argv[7]) if len(sys.argv) > 7 else (None, None)
values = ["%s-value-%d" % (lib, i) for i in range(count)]


def mine(got):
    """The records this run wrote (the topic may hold other clients')."""
    return [v for v in got if v.startswith(lib + "-")]


def kafka_python():
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    ssl = dict(security_protocol="SSL", ssl_cafile=cafile, ssl_certfile=cert, ssl_keyfile=key)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **ssl)
    futures = [producer.send(topic, value=v.encode()) for v in values]
    producer.flush(60)
    for f in futures:
        f.get(timeout=60)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=15000, **ssl)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    for msg in consumer:
        got.append(msg.value.decode())
        if len(mine(got)) >= count:
            break
    consumer.close()
    return got


def confluent():
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    ssl = {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": cafile}
    if cert:
        ssl["ssl.certificate.location"], ssl["ssl.key.location"] = cert, key
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))

    producer = Producer(dict(ssl, acks="all"))
    for v in values:
        producer.produce(topic, value=v.encode(), on_delivery=report)
    if producer.flush(60) != 0 or errors:
        print("produce failed: %s" % errors[:3], file=sys.stderr)
        sys.exit(1)
    consumer = Consumer(dict(ssl, **{"group.id": "tls-roundtrip", "auto.offset.reset": "earliest",
                                     "enable.auto.commit": False}))
    # assign, not subscribe: a single broker cannot host the default
    # three-replica __consumer_offsets that a group would need.
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    idle = 0
    while len(mine(got)) < count and idle < 30:
        msg = consumer.poll(1.0)
        if msg is None:
            idle += 1
            continue
        if msg.error():
            print("consume error: %s" % msg.error(), file=sys.stderr)
            sys.exit(1)
        got.append(msg.value().decode())
    consumer.close()
    return got


got = kafka_python() if lib == "kafka-python" else confluent()
ours = mine(got)
if ours != values:
    print("read %d of %d records back, first differing: %s" % (len(ours), count,
          next((a, b) for a, b in zip(ours + [None] * count, values) if a != b)), file=sys.stderr)
    sys.exit(1)
print(json.dumps({"produced": count, "consumed": len(ours)}))
