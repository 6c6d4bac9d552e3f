"""One member of a consume-transform-produce group with confluent-kafka
(librdkafka): a read_committed consumer in GROUP reads IN_TOPIC, and a
transactional producer writes each record as b"out-" + value to the same
partition of OUT_TOPIC, committing the consumed offsets in the same
transaction (send_offsets_to_transaction with the consumer's group
metadata, KIP-447). When the transaction has to be aborted (the group
moved on, the member was fenced), the consumer rewinds to the group's
committed offsets so that nothing is skipped.

usage: confluent_eos_member.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP TXN_ID
                               INSTANCE_ID PROTOCOL
INSTANCE_ID "" for a dynamic member; PROTOCOL "classic" (cooperative-sticky)
or "consumer" (KIP-848). SIGTERM closes the member cleanly (leaves the
group); SIGUSR1 freezes it inside its next transaction. Logs go to stderr; exit status 3 on a fatal producer error.
"""
import os
import signal
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

bootstrap, in_topic, out_topic, group, txn_id, instance, protocol = sys.argv[1:8]

stopping = False


def on_term(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)

# SIGUSR1 asks the member to freeze itself (SIGSTOP) inside its next
# transaction, after producing and before committing: the test resumes it
# (SIGCONT) once the group has moved on, making it a zombie.
freeze_in_txn = False


def on_usr1(*_):
    global freeze_in_txn
    freeze_in_txn = True


signal.signal(signal.SIGUSR1, on_usr1)


def log(msg):
    print("%.3f %s: %s" % (time.time(), txn_id, msg), file=sys.stderr, flush=True)


consumer_conf = {
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "isolation.level": "read_committed",
    "fetch.wait.max.ms": 200,
}
if protocol == "consumer":
    consumer_conf["group.protocol"] = "consumer"
else:
    consumer_conf.update({
        "session.timeout.ms": 3000,
        "heartbeat.interval.ms": 300,
        "partition.assignment.strategy": "cooperative-sticky",
    })
if instance:
    consumer_conf["group.instance.id"] = instance

producer = Producer({
    "bootstrap.servers": bootstrap,
    "transactional.id": txn_id,
    "transaction.timeout.ms": 20000,
    "linger.ms": 5,
})
consumer = Consumer(consumer_conf)


def rewind():
    """Seeks every assigned partition back to the group's committed
    offset: the records of an aborted transaction must be read again."""
    assigned = consumer.assignment()
    if not assigned:
        return
    for tp in consumer.committed(assigned, 30):
        offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        try:
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        except KafkaException as e:
            # The partition was revoked meanwhile: its next owner starts
            # from the committed offset anyway.
            log("rewind p%d: %s" % (tp.partition, e))


def abort():
    try:
        producer.abort_transaction(30)
    except KafkaException as e:
        err = e.args[0]
        log("abort: %s" % err)
        if err.fatal():
            sys.exit(3)
        producer.abort_transaction(30)
    rewind()


def commit():
    # A retriable error leaves the outcome open: commit again, as
    # librdkafka documents.
    for _ in range(5):
        try:
            producer.commit_transaction(30)
            return
        except KafkaException as e:
            err = e.args[0]
            if err.retriable() and not err.txn_requires_abort():
                log("commit, retrying: %s" % err)
                continue
            raise
    raise KafkaException("commit did not complete")


producer.init_transactions(60)
consumer.subscribe([in_topic])
log("started (%s, instance %r)" % (protocol, instance))
committed = 0
while not stopping:
    msgs = consumer.consume(500, 1.0)
    recs = []
    for m in msgs:
        if m.error():
            log("consume: %s" % m.error())
            continue
        recs.append(m)
    if not recs:
        continue
    try:
        producer.begin_transaction()
        offsets = {}
        for m in recs:
            producer.produce(out_topic, value=b"out-" + m.value(), partition=m.partition())
            offsets[(m.topic(), m.partition())] = m.offset() + 1
        if freeze_in_txn:
            freeze_in_txn = False
            producer.flush(30)
            log("freezing in a transaction")
            os.kill(os.getpid(), signal.SIGSTOP)
        producer.send_offsets_to_transaction(
            [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            consumer.consumer_group_metadata(), 30)
        commit()
        committed += len(recs)
    except KafkaException as e:
        err = e.args[0]
        if isinstance(err, str) or err.fatal():
            log("fatal: %s" % err)
            sys.exit(3)
        log("aborting %d records: %s" % (len(recs), err))
        abort()
log("closing after %d records committed" % committed)
consumer.close()
producer.flush(30)
