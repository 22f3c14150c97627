"""How fast the console's busiest pages render with volume in the store.

    python -m bench.console                                  # embedded (SQLite), 100,000 messages
    python -m bench.console --backend servers --messages 100000

Fills a fresh store with ``--messages`` inbound messages (Hannah's step-up referral, sealed as
the hub seals it, five to a correlation id), each with its sharing decision and context, one
delivery with its rendered fields' provenance, one attempt and two audit entries, a dead letter
for every hundredth; then signs in and times, through the console's HTTP interface in process
(FastAPI's test client: routing, the store's queries, templates), the dashboard and the trace of
random messages. Reports the median and the 95th percentile of ``--renders`` renders each, after
a warm-up. ``servers`` uses a database of its own on ``HUB_BENCH_ADMIN_DATABASE_URL`` (default
the local server) and the local RabbitMQ for the queue depths. Results go to
``bench/results/console-<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from bench.step_up import delete_broker_objects, make_settings, own_database
from hub.api.app import create_app
from hub.audit import GENESIS
from hub.bootstrap import Hub, bootstrap
from hub.canonical import utcnow
from hub.console.users import Role, add_user
from hub.registry import register
from hub.sealing import seal_json
from hub.store.tables import (
    AuditChainHead,
    AuditEntry,
    DeadLetter,
    Decision,
    DecisionContext,
    Delivery,
    DeliveryAttempt,
    InboxMessage,
)
from mappings.layers import GOLDEN_DIR

RESULTS = Path(__file__).parent / "results"
REFERRAL = GOLDEN_DIR / "caf_system/standard/referral-to-social-care/hannah-step-up/wire.xml"
DESTINATIONS = ("lcs", "caf-national", "directory")
PASSWORD = "bench password 1"  # noqa: S105  (a throwaway store)
BATCH = 5000


def hannah_envelope(hub: Hub) -> dict:
    adapter = hub.adapters.for_kind("caf_system")
    body = REFERRAL.read_bytes()
    received = adapter.read(adapter.identify(body, "application/xml", "standard"), "caf-national")
    from hub.canonical import Envelope

    return Envelope(correlation_id="bench", source_system="caf-national",
                    source_message_id=received.source_message_id, message_type=received.message_type,
                    message_version=received.message_version, occurred_at=received.occurred_at,
                    purpose=received.purpose, payload=received.event,
                    provenance=received.provenance).model_dump(mode="json")


def fill(hub: Hub, messages: int) -> list[str]:
    """Bulk-insert the store's rows for ``messages`` messages; returns their ids."""
    envelope = hannah_envelope(hub)
    provenance = [{"wire_path": f"/referral/item[{i}]", "canonical_path": f"referral.items[{i}]",
                   "rule_id": f"rule-{i}", "spec_id": "case_system/supplier-a/referral-to-social-care",
                   "mapping_version": "1", "origin": {"system": "caf-national", "wire_path": f"/c/{i}",
                                                      "rule_id": f"caf-{i}", "spec_id": "caf",
                                                      "mapping_version": "1"}} for i in range(40)]
    start = utcnow() - timedelta(days=2)
    ids: list[str] = []
    with hub.database.read() as session:
        head = session.get(AuditChainHead, "main")
        seq = head.last_seq if head else 0
    tables = (InboxMessage, Decision, DecisionContext, Delivery, DeliveryAttempt, AuditEntry, DeadLetter)
    for first in range(0, messages, BATCH):
        rows: dict[type, list[dict]] = {table: [] for table in tables}
        for n in range(first, min(first + BATCH, messages)):
            message_id, decision_id, delivery_id = (str(uuid.uuid4()) for _ in range(3))
            at = start + timedelta(seconds=n * 172_800 / messages)
            destination = DESTINATIONS[n % 3]
            sealed = seal_json(hub.keyring, {**envelope, "message_id": message_id}, f"inbox:{message_id}")
            rows[InboxMessage].append(dict(
                message_id=message_id, source_system="caf-national", source_message_id=f"bench-{n}",
                correlation_id=f"bench-corr-{n // 5}", message_type="referral-to-social-care",
                status="processed", hold_reason=None, received_at=at, processed_at=at,
                key_id=sealed.key_id, envelope_sealed=sealed.blob, raw_sealed=sealed.blob))
            rows[Decision].append(dict(
                decision_id=decision_id, message_id=message_id, destination=destination, outcome="permit",
                legal_basis="consent: referral-to-social-care", reason="bench", fields_shared=["child"],
                fields_withheld=[], decided_at=at))
            rows[DecisionContext].append(dict(
                decision_id=decision_id, stage="planning", purpose="referral-to-social-care",
                rule="referral", basis_kind="consent", basis_refs=[], categories=["identity"],
                checks=[{"check": "consent", "passed": True, "detail": None}], recipients=[],
                key_id=None, envelope_sealed=None))
            payload = seal_json(hub.keyring, {"path": "/referrals", "content_type": "application/xml",
                                              "body": "<x/>", "provenance": provenance, "skipped": []},
                                f"delivery:{delivery_id}")
            dead = n % 100 == 99
            rows[Delivery].append(dict(
                delivery_id=delivery_id, message_id=message_id, decision_id=decision_id,
                destination=destination, message_type="referral-to-social-care",
                status="dead" if dead else "delivered", attempts=1, last_error=None, created_at=at,
                completed_at=at, key_id=payload.key_id, payload_sealed=payload.blob))
            rows[DeliveryAttempt].append(dict(
                delivery_id=delivery_id, number=1, started_at=at, duration_ms=12,
                status_code=503 if dead else 201, error=None))
            if dead:
                rows[DeadLetter].append(dict(
                    dead_letter_id=str(uuid.uuid4()), delivery_id=delivery_id, message_id=message_id,
                    destination=destination, reason="gave up after 1 attempts; last: HTTP 503",
                    attempts=1, dead_at=at))
            for action in ("message.received", "disclosure"):
                seq += 1
                rows[AuditEntry].append(dict(
                    seq=seq, recorded_at=at, action=action, actor="hub", message_id=message_id,
                    detail={"destination": destination}, prev_hash=GENESIS, entry_hash=uuid.uuid4().hex * 2))
            ids.append(message_id)
        with hub.database.transaction() as session:
            for table in tables:
                if rows[table]:
                    session.execute(insert(table), rows[table])
    with hub.database.transaction() as session:
        session.get(AuditChainHead, "main").last_seq = seq  # the filler's entries are not chained
    return ids


def timed(client: TestClient, path: str, renders: int) -> list[float]:
    for _ in range(3):
        assert client.get(path).status_code == 200
    took = []
    for _ in range(renders):
        started = time.perf_counter()
        reply = client.get(path)
        took.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200, reply.text[:300]
    return took


def summary(took: list[float]) -> dict[str, float]:
    ordered = sorted(took)
    return {"p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
            "max_ms": round(ordered[-1], 1)}


def run(backend: str, messages: int, renders: int) -> dict:
    admin = os.environ.get("HUB_BENCH_ADMIN_DATABASE_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    broker = os.environ.get("HUB_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-")))
        database_url = stack.enter_context(own_database(admin)) if backend == "servers" else None
        hub = bootstrap(make_settings(data_dir, database_url, broker if backend == "servers" else None),
                        migrate=True)
        stack.callback(hub.close)
        stack.callback(delete_broker_objects, hub)
        with hub.database.transaction() as session:
            for system, kind in (("caf-national", "caf_system"), ("lcs", "case_system"),
                                 ("directory", "directory")):
                register(session, system, system, kind, f"http://127.0.0.1:9/{system}")
            add_user(session, "bench", Role.OPERATOR, PASSWORD, "bench")
        hub.broker.declare(["inbound", "deadletter", *(f"deliver.{d}" for d in DESTINATIONS)])
        started = time.perf_counter()
        ids = fill(hub, messages)
        filled = time.perf_counter() - started
        if backend == "servers":
            with hub.database.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()
        client = TestClient(create_app(hub), base_url="http://127.0.0.1")
        form = client.get("/console/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        assert client.post("/console/login", data={"username": "bench", "password": PASSWORD,
                                                    "csrf_token": token}).status_code == 200
        dashboard = timed(client, "/console/", renders)
        rng = random.Random(8)  # noqa: S311  (which messages to trace)
        traces: list[float] = []
        for _ in range(renders):
            traces += timed(client, f"/console/messages/{rng.choice(ids)}", 1)
        return {"backend": backend, "messages": messages, "renders": renders,
                "fill_seconds": round(filled, 1), "dashboard": summary(dashboard),
                "trace": summary(traces)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["embedded", "servers"], default="embedded")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--renders", type=int, default=30)
    args = parser.parse_args(argv)
    result = run(args.backend, args.messages, args.renders)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"console-{args.backend}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
