"""The ceilings: what the engines under the hub manage on their own, measured in the same run.

* broker: persistent messages published (with a publisher confirm on RabbitMQ, to a quorum queue,
  as the hub publishes) and consumed with an acknowledgement, one producer and one consumer on
  their own connections, per second;
* store: durable single-row inserts per second (one commit each; SQLite with ``synchronous=FULL``
  as the hub opens it, PostgreSQL with its default ``synchronous_commit``), and rows per second
  inserted 1,000 to a commit, into a scratch table of 500-byte rows dropped afterwards;
* parse: a full CAF episode (Hannah's golden episode) through the hub's hardened lxml parser,
  per second of CPU time on one core.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from kombu import Consumer, Producer
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert

from adapters import safe_xml
from hub.store.database import Database
from mappings.layers import GOLDEN_DIR
from queues.broker import Broker

EPISODE = GOLDEN_DIR / "caf_system/standard/caf-episode-recorded/hannah-after-tac-meeting/wire.xml"
ROW_BYTES = 500
BATCH = 1000


@dataclass(frozen=True)
class Sizes:
    broker_messages: int
    single_rows: int
    batched_rows: int
    parse_seconds: float


FULL = Sizes(broker_messages=5000, single_rows=2000, batched_rows=100_000, parse_seconds=3.0)
QUICK = Sizes(broker_messages=200, single_rows=100, batched_rows=5_000, parse_seconds=0.3)


def broker_round_trips(broker: Broker, count: int) -> dict[str, Any]:
    """Published-and-consumed messages per second on a scratch queue, deleted afterwards."""
    key = f"raw-{uuid.uuid4().hex[:8]}"
    queue = broker.topology.queue(key)
    consumed = 0
    all_in = threading.Event()

    def on_message(_body: Any, message: Any) -> None:
        nonlocal consumed
        message.ack()
        consumed += 1
        if consumed >= count:
            all_in.set()

    with broker.connect() as publishing, broker.connect() as consuming:
        queue(publishing.default_channel).declare()
        producer = Producer(publishing.default_channel)

        def consume() -> None:
            with Consumer(consuming, queues=[queue], callbacks=[on_message], accept=["json"],
                          prefetch_count=100):
                while not all_in.is_set():
                    try:
                        consuming.drain_events(timeout=0.5)
                    except TimeoutError:
                        continue

        consumer = threading.Thread(target=consume, name="bench-raw-consumer", daemon=True)
        consumer.start()
        started = time.perf_counter()
        for n in range(count):
            producer.publish({"message_id": f"{key}-{n}"}, exchange=broker.topology.exchange,
                             routing_key=key, serializer="json", delivery_mode=2)
        published = time.perf_counter() - started
        all_in.wait(120)
        elapsed = time.perf_counter() - started
        consumer.join(5)
        queue(publishing.default_channel).delete()
    return {"messages": count, "consumed": consumed, "publish_per_s": round(count / published),
            "per_s": round(consumed / elapsed)}


def store_inserts(database: Database, single: int, batched: int) -> dict[str, Any]:
    """Single-row commits per second and rows per second 1,000 to a commit."""
    table = Table(f"bench_raw_{uuid.uuid4().hex[:8]}", MetaData(),
                  Column("row_id", Integer, primary_key=True, autoincrement=True),
                  Column("payload", LargeBinary, nullable=False))
    table.create(database.engine)
    payload = os.urandom(ROW_BYTES)
    try:
        started = time.perf_counter()
        for _ in range(single):
            with database.transaction() as session:
                session.execute(insert(table).values(payload=payload))
        single_s = time.perf_counter() - started
        rows = [{"payload": payload}] * BATCH
        started = time.perf_counter()
        for _ in range(batched // BATCH):
            with database.transaction() as session:
                session.execute(insert(table), rows)
        batched_s = time.perf_counter() - started
    finally:
        table.drop(database.engine)
    return {"single_rows": single, "single_per_s": round(single / single_s),
            "batched_rows": batched // BATCH * BATCH, "batch_size": BATCH,
            "batched_rows_per_s": round(batched // BATCH * BATCH / batched_s)}


def parse_rate(seconds: float) -> dict[str, Any]:
    """CAF episodes parsed per second of CPU time on one core (the hardened parser, no schema)."""
    body = EPISODE.read_bytes()
    for _ in range(50):
        safe_xml.parse(body)
    count, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        for _ in range(100):
            safe_xml.parse(body)
        count += 100
    elapsed = time.process_time() - started
    return {"bytes": len(body), "per_cpu_s": round(count / elapsed),
            "per_s_all_cores": round(count / elapsed * (os.cpu_count() or 1))}


def measure(database: Database, broker: Broker, sizes: Sizes) -> dict[str, Any]:
    return {
        "broker": broker_round_trips(broker, sizes.broker_messages),
        "store": store_inserts(database, sizes.single_rows, sizes.batched_rows),
        "parse": parse_rate(sizes.parse_seconds),
    }
