"""Rough end-to-end throughput of the hub, on the embedded default or on PostgreSQL and RabbitMQ.

    python -m bench.throughput --backend embedded --messages 500 --clients 8
    python -m bench.throughput --backend servers --messages 1000 --clients 8

The hub is wired the way the integration tests wire it (``tests/conftest.py``'s ``running_hub``):
the API and the workers in this process, a simulated directory as the only destination, a
registered CAF system as the sender. ``C`` client threads post ``N`` distinct lead-professional
messages over real HTTP. Two figures come out:

* accept rate: 202 responses per second over the sending window, with the accept latency;
* end to end: messages per second from the first post until the simulated directory holds all N.

Everything (clients, API, workers, directory) shares one process and its GIL, so the figures are
a floor for comparison between backends and commits, not a capacity statement. The stage
breakdown comes from the store's own timestamps and shows where a message spends its time.

``servers`` reads ``HUB_DATABASE_URL`` and ``HUB_BROKER_URL`` (defaults: the local test servers),
DROPS AND RECREATES the database's public schema, and uses a fresh queue prefix whose queues and
exchange are deleted afterwards. Results go to ``bench/results/throughput-<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from hub.api.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.crypto import new_key_spec
from hub.registry import register
from hub.settings import Settings
from hub.store.tables import DeadLetter, Delivery, InboxMessage
from hub.worker import Worker
from simulators.caf_system import lead_professional_changed
from simulators.directory import DirectorySimulator
from simulators.hannah import EPISODE, HANNAH, MELANIE
from simulators.server import ServerThread

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
RESULTS_DIR = Path(__file__).parent / "results"
SOURCE = "caf-national"
DESTINATION = "directory"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
POLL_SECONDS = 0.01
PROGRESS_SECONDS = 5.0

console = Console()
log = logging.getLogger("bench.throughput")


# --------------------------------------------------------------------------- the hub under test


@dataclass
class Rig:
    hub: Hub
    url: str
    caf_token: str
    directory: DirectorySimulator
    worker: Worker


def reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def make_settings(backend: str, data_dir: Path, database_url: str, broker_url: str) -> Settings:
    """The test suite's settings: a fresh key and queue prefix, short retries and relay interval."""
    values: dict[str, Any] = dict(
        data_dir=data_dir, database_url=None, broker_url=None,
        queue_prefix=f"bench-{uuid.uuid4().hex[:8]}", encryption_keys=new_key_spec("bench-1"),
        delivery_max_attempts=3, delivery_backoff_initial=0.01, delivery_backoff_max=0.05,
        relay_interval=0.2, delivery_timeout=5.0,
    )
    if backend == "servers":
        values.update(database_url=database_url, broker_url=broker_url)
    return Settings(**values)


def delete_broker_objects(hub: Hub) -> None:
    """Delete this run's queues and exchange on RabbitMQ (the embedded broker goes with its file)."""
    if hub.broker.embedded:
        return
    prefix = hub.settings.queue_prefix
    names = [f"{prefix}.{key}" for key in ("inbound", "deadletter", f"deliver.{DESTINATION}")]
    with hub.broker.connect() as connection:
        for name in names:
            try:
                connection.channel().queue_delete(name)
            except Exception as error:
                log.warning("could not delete queue %s: %s", name, error)
        try:
            connection.channel().exchange_delete(prefix)
        except Exception as error:
            log.warning("could not delete exchange %s: %s", prefix, error)


@contextmanager
def running_hub(backend: str, database_url: str, broker_url: str) -> Iterator[Rig]:
    """API and workers on ``backend``, a simulated directory, a registered CAF system; torn down
    in reverse order however the run ends."""
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-")))
        if backend == "servers":
            reset_postgres(database_url)
        settings = make_settings(backend, data_dir, database_url, broker_url)
        directory = DirectorySimulator()
        directory_server = ServerThread(directory.app).start()
        stack.callback(directory_server.stop)
        hub = bootstrap(settings, migrate=True)
        stack.callback(hub.close)
        stack.callback(delete_broker_objects, hub)
        with hub.database.transaction() as session:
            caf_token = register(session, SOURCE, "National eCAF (bench)", "caf_system").token
            register(session, DESTINATION, "Directory (bench)", "directory", directory_server.url)
        worker = Worker(hub)
        worker.start()
        stack.callback(worker.stop)
        api = ServerThread(create_app(hub)).start()
        stack.callback(api.stop)
        yield Rig(hub, api.url, caf_token, directory, worker)


# --------------------------------------------------------------------------- load


@dataclass
class Sent:
    statuses: list[int | str | None]
    latencies: list[float | None]
    started: float
    finished: float


@dataclass
class Delivered:
    count: int = 0
    first_at: float | None = None
    all_at: float | None = None
    progress: list[tuple[float, int, int]] = field(default_factory=list)


def message(run_id: str, index: int, version: int) -> bytes:
    """One lead professional update for a child of its own: updates about one child apply in
    version order, so from concurrent clients an older version would rightly be superseded."""
    child = replace(HANNAH, caf_child_id=f"CAF-B-{run_id}-{index:06d}", nhs_number=None,
                    directory_id=f"DIR-B-{run_id}-{index:06d}")
    return lead_professional_changed(
        child, MELANIE, EPISODE, version, message_id=f"bench-{run_id}-{index:06d}",
    )


def received(directory: DirectorySimulator) -> int:
    with directory.state.lock:
        return len(directory.state.received)


def warm_up(rig: Rig, run_id: str, timeout: float = 30.0) -> None:
    """One message through the whole path first, so connections and consumers are up."""
    body = lead_professional_changed(HANNAH, MELANIE, EPISODE, 1, message_id=f"warmup-{run_id}")
    reply = httpx.post(
        f"{rig.url}/v1/systems/{SOURCE}/messages", content=body, timeout=30,
        headers={"Authorization": f"Bearer {rig.caf_token}", "Content-Type": "application/xml"},
    )
    if reply.status_code != 202:
        raise RuntimeError(f"warm-up message refused: {reply.status_code} {reply.text[:300]}")
    deadline = time.monotonic() + timeout
    while received(rig.directory) < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up message did not reach the directory")
        time.sleep(POLL_SECONDS)


def run_load(
    rig: Rig, bodies: list[bytes], clients: int, timeout: float, stall: float,
) -> tuple[Sent, Delivered]:
    total = len(bodies)
    baseline = received(rig.directory)
    statuses: list[int | str | None] = [None] * total
    latencies: list[float | None] = [None] * total
    cursor, cursor_lock = iter(range(total)), threading.Lock()
    go = threading.Barrier(clients + 1)
    headers = {"Authorization": f"Bearer {rig.caf_token}", "Content-Type": "application/xml"}
    path = f"/v1/systems/{SOURCE}/messages"

    def client() -> None:
        with httpx.Client(base_url=rig.url, headers=headers, timeout=60) as http:
            go.wait()
            while True:
                with cursor_lock:
                    index = next(cursor, None)
                if index is None:
                    return
                started = time.perf_counter()
                try:
                    statuses[index] = http.post(path, content=bodies[index]).status_code
                except httpx.HTTPError as error:
                    statuses[index] = type(error).__name__
                latencies[index] = time.perf_counter() - started

    threads = [threading.Thread(target=client, name=f"bench-client-{n}", daemon=True)
               for n in range(clients)]
    for thread in threads:
        thread.start()
    go.wait()
    started = time.perf_counter()
    delivered = Delivered()
    finished: float | None = None
    deadline = started + timeout
    next_report = started + PROGRESS_SECONDS
    last_change = started
    while True:
        now = time.perf_counter()
        count = received(rig.directory) - baseline
        if count and delivered.first_at is None:
            delivered.first_at = now
        if count != delivered.count:
            last_change = now
        delivered.count = count
        if finished is None and not any(thread.is_alive() for thread in threads):
            finished = now
        if count >= total:
            delivered.all_at = now
        if (finished is not None and delivered.all_at is not None) or now > deadline:
            break
        if finished is not None and now - max(last_change, finished) > stall:
            console.print(f"[yellow]no delivery for {stall:.0f}s after the last answer: giving up[/]")
            break
        if now >= next_report:
            accepted = sum(1 for status in statuses if status is not None)
            delivered.progress.append((round(now - started, 1), accepted, count))
            console.print(f"  {now - started:6.1f}s  answered {accepted}/{total}  "
                          f"delivered {count}/{total}")
            next_report += PROGRESS_SECONDS
        time.sleep(POLL_SECONDS)
    if finished is None:  # the clients outlived the timeout: report what they managed
        finished = time.perf_counter()
    return Sent(statuses, latencies, started, finished), delivered


# --------------------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread_ms(seconds: list[float]) -> dict[str, float | None]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "p50": ms(percentile(seconds, 0.50)), "p95": ms(percentile(seconds, 0.95)),
        "max": ms(max(seconds) if seconds else None),
        "mean": ms(sum(seconds) / len(seconds) if seconds else None),
    }


def stages(hub: Hub, run_id: str) -> dict[str, Any]:
    """Where the messages spent their time, from the store's timestamps, and how they ended.

    The servers backend shares its database with the test suite, whose fixtures drop the schema:
    if this run's warm-up message is gone, someone reset the store mid-run and the run is void.
    """
    try:
        with hub.database.transaction() as session:
            intact = session.execute(
                select(func.count()).select_from(InboxMessage)
                .where(InboxMessage.source_message_id == f"warmup-{run_id}")
            ).scalar_one() == 1
    except SQLAlchemyError as error:
        return {"store_intact": False, "store_error": type(error).__name__}
    ours = InboxMessage.source_message_id.like(f"bench-{run_id}-%")
    with hub.database.transaction() as session:
        rows = session.execute(
            select(InboxMessage.received_at, InboxMessage.processed_at,
                   Delivery.created_at, Delivery.completed_at)
            .join(Delivery, Delivery.message_id == InboxMessage.message_id)
            .where(ours, Delivery.status == "delivered")
        ).all()
        inbox = dict(session.execute(
            select(InboxMessage.status, func.count()).where(ours).group_by(InboxMessage.status)
        ).all())
        deliveries = dict(session.execute(
            select(Delivery.status, func.count())
            .join(InboxMessage, Delivery.message_id == InboxMessage.message_id)
            .where(ours).group_by(Delivery.status)
        ).all())
        retried = session.execute(
            select(func.count()).select_from(Delivery)
            .join(InboxMessage, Delivery.message_id == InboxMessage.message_id)
            .where(ours, Delivery.attempts > 1)
        ).scalar_one()
        dead = session.execute(
            select(func.count()).select_from(DeadLetter)
            .join(InboxMessage, DeadLetter.message_id == InboxMessage.message_id).where(ours)
        ).scalar_one()

    def seconds(pairs: list[tuple[datetime | None, datetime | None]]) -> list[float]:
        return [(end - begin).total_seconds() for begin, end in pairs if begin and end]

    return {
        "store_intact": intact,
        "stages_ms": {
            "accepted -> processed": spread_ms(seconds([(r[0], r[1]) for r in rows])),
            "processed -> delivered": spread_ms(seconds([(r[2], r[3]) for r in rows])),
            "accepted -> delivered": spread_ms(seconds([(r[0], r[3]) for r in rows])),
        },
        "inbox_status": inbox,
        "delivery_status": deliveries,
        "deliveries_retried": retried,
        "dead_letters": dead,
    }


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def summarise(args: argparse.Namespace, rig: Rig, run_id: str, sent: Sent,
              delivered: Delivered) -> dict[str, Any]:
    total = args.messages
    codes = Counter(str(status) for status in sent.statuses)
    accepted = codes.pop("202", 0)
    ok_latencies = [latency for status, latency in zip(sent.statuses, sent.latencies, strict=True)
                    if status == 202 and latency is not None]
    window = sent.finished - sent.started
    e2e_end = delivered.all_at or time.perf_counter()
    e2e = e2e_end - sent.started
    settings = rig.hub.settings
    with rig.directory.state.lock:
        distinct = {item.message_id for item in rig.directory.state.received}
    return {
        "backend": args.backend,
        "messages": total,
        "clients": args.clients,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "store": redact(settings.resolved_database_url),
        "broker": redact(settings.resolved_broker_url),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "accept": {
            "accepted": accepted,
            "other_responses": dict(codes),
            "seconds": round(window, 3),
            "rate_per_s": round(accepted / window, 1) if window > 0 else None,
            "latency_ms": spread_ms(ok_latencies),
        },
        "end_to_end": {
            "delivered": delivered.count,
            "complete": delivered.all_at is not None,
            "seconds": round(e2e, 3),
            "rate_per_s": round(delivered.count / e2e, 1) if e2e > 0 else None,
            "first_delivery_s": (round(delivered.first_at - sent.started, 3)
                                 if delivered.first_at else None),
            "distinct_messages_at_directory": len(distinct) - 1,  # less the warm-up message
        },
        "progress": [
            {"t_s": t, "answered": answered, "delivered": count}
            for t, answered, count in delivered.progress
        ],
        **stages(rig.hub, run_id),
    }


def show(result: dict[str, Any]) -> None:
    accept, e2e = result["accept"], result["end_to_end"]
    table = Table(title=f"hub throughput: {result['backend']} backend, "
                        f"{result['messages']} messages, {result['clients']} clients")
    table.add_column("measure")
    table.add_column("value", justify="right")
    others = ", ".join(f"{k}: {v}" for k, v in accept["other_responses"].items()) or "none"
    table.add_row("accepted (202)", f"{accept['accepted']} / {result['messages']}")
    table.add_row("other responses", others)
    table.add_row("accept window", f"{accept['seconds']:.2f} s")
    table.add_row("accept rate", f"{accept['rate_per_s']} msg/s")
    lat = accept["latency_ms"]
    table.add_row("accept latency p50 / p95 / max",
                  f"{lat['p50']} / {lat['p95']} / {lat['max']} ms")
    table.add_row("delivered to directory", f"{e2e['delivered']} / {result['messages']}"
                  + ("" if e2e["complete"] else " (INCOMPLETE)"))
    table.add_row("first delivery after", f"{e2e['first_delivery_s']} s")
    table.add_row("end-to-end time", f"{e2e['seconds']:.2f} s")
    table.add_row("end-to-end rate", f"{e2e['rate_per_s']} msg/s")
    if not result["store_intact"]:
        console.print(table)
        console.print("[red]the store was reset or lost during the run (another process using the "
                      "same database?): these figures are void[/]")
        return
    table.add_row("dead letters / retried deliveries",
                  f"{result['dead_letters']} / {result['deliveries_retried']}")
    console.print(table)

    breakdown = Table(title="time per message in the hub (store timestamps)")
    for column in ("stage", "p50 ms", "p95 ms", "max ms"):
        breakdown.add_column(column, justify="left" if column == "stage" else "right")
    for stage, figures in result["stages_ms"].items():
        breakdown.add_row(stage, *(str(figures[k]) for k in ("p50", "p95", "max")))
    console.print(breakdown)


# --------------------------------------------------------------------------- command line


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput", description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--backend", choices=["embedded", "servers"], default="embedded")
    parser.add_argument("--messages", type=int, default=500, help="messages to send (N)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (C)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for every message to reach the directory")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="give up after this many seconds without a delivery once all are sent")
    parser.add_argument("--allow-reset", action="store_true",
                        help="reset the schema even if HUB_DATABASE_URL is not on this machine")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.clients < 1:
        parser.error("--messages and --clients must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    database_url = os.environ.get("HUB_DATABASE_URL", DEFAULT_DATABASE_URL)
    broker_url = os.environ.get("HUB_BROKER_URL", DEFAULT_BROKER_URL)
    if args.backend == "servers" and not args.allow_reset:
        host = urlsplit(database_url).hostname
        if host not in LOOPBACK:
            console.print(f"[red]refusing:[/] the servers backend drops the public schema of "
                          f"{redact(database_url)}; pass --allow-reset if that is intended")
            return 2

    run_id = uuid.uuid4().hex[:8]
    bodies = [message(run_id, index, version=index + 2) for index in range(args.messages)]
    console.print(f"[bold]{args.backend}[/]: starting the hub, workers and simulated directory")
    with running_hub(args.backend, database_url, broker_url) as rig:
        settings = rig.hub.settings
        console.print(f"store {redact(settings.resolved_database_url)}, "
                      f"broker {redact(settings.resolved_broker_url)}, "
                      f"queue prefix {settings.queue_prefix}", soft_wrap=True)
        warm_up(rig, run_id)
        console.print(f"sending {args.messages} messages from {args.clients} clients")
        sent, delivered = run_load(rig, bodies, args.clients, args.timeout, args.stall)
        result = summarise(args, rig, run_id, sent, delivered)
    show(result)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"throughput-{args.backend}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"results written to {out}")
    complete = (result["store_intact"] and result["end_to_end"]["complete"]
                and result["accept"]["accepted"] == args.messages)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
