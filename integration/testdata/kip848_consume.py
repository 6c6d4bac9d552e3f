"""A KIP-848 group member (librdkafka, group.protocol=consumer) for the
coordinator failover test.

usage: kip848_consume.py BOOTSTRAP TOPIC GROUP
Needs confluent-kafka with librdkafka 2.12+ (integration/.venv). Writes one
line per event to standard output, flushed at once:
  member ID          the member id, every second (it must not change)
  assign P,P,...     partitions received
  revoke P,P,...     partitions given up
  rec P OFFSET       a record consumed (offsets auto-committed: at-least-once)
Runs until SIGTERM, then leaves the group and prints "closed".
"""
import signal
import sys
import time

from confluent_kafka import Consumer

bootstrap, topic, group = sys.argv[1:4]
stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parts(ps):
    return ",".join(str(p.partition) for p in ps)


c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "group.protocol": "consumer",
    "client.id": "librdkafka-848",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": True,
    "auto.commit.interval.ms": 500,
    "topic.metadata.refresh.interval.ms": 1000,
    "retry.backoff.ms": 100,
    "reconnect.backoff.max.ms": 1000,
})
c.subscribe([topic],
            on_assign=lambda cons, ps: say("assign " + parts(ps)),
            on_revoke=lambda cons, ps: say("revoke " + parts(ps)),
            on_lost=lambda cons, ps: say("lost " + parts(ps)))
last = 0.0
while not stop:
    msg = c.poll(0.2)
    now = time.time()
    if now - last >= 1:
        last = now
        member = c.memberid()
        if member:
            say("member " + member)
    if msg is None:
        continue
    if msg.error():
        say("error " + str(msg.error()))
        continue
    say("rec %d %d" % (msg.partition(), msg.offset()))
c.close()
say("closed")
