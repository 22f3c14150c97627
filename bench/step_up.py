"""End-to-end step-up benchmark: CAF referrals into social care, on the embedded default or on
PostgreSQL and RabbitMQ.

    python -m bench.step_up --backend embedded --referrals 200
    python -m bench.step_up --backend servers --referrals 200 --rate 2

The hub is wired the way the step-up integration tests wire it (``step_up_hub`` in
``tests/integration/test_step_up.py``): the API and the workers in this process, a simulated CAF
system (``caf-national``, the referrer), a simulated case system (``lcs``, profile supplier-a) and
a simulated directory. Every referral is the golden CAF referral (Hannah's step-up, its dates
moved to November 2026 so her consent is in force) made into a different child: its own message
id, referral id, CAF child id, valid NHS number, directory id, names and postcode, so identity
resolution opens a new child and the referral is never a re-referral. Each therefore owes five
deliveries: the referral to the case system; tac-member-added, responsibility-transferred and
referral-acknowledged to the CAF system; involvement-changed to the directory.

Two phases on one hub, after one warm-up referral:

* maximum: ``N`` referrals sent as fast as ``C`` client threads can; referrals per second from
  the first send until the simulators hold all ``5 N`` deliveries;
* latency: ``M`` referrals (default ``N``) offered at a constant rate, half the measured maximum
  unless ``--rate`` says otherwise; for each referral the time from its receipt (inbox
  ``received_at``) to its last delivery (the latest ``deliveries.completed_at``), read from the
  hub's store, as p50, p95 and p99.

Each phase's stage breakdown comes from the same store timestamps: the wait on the inbound queue
and the processing (up to its first audit entry, then to ``processed_at``), the wait on each
destination's queue and the HTTP attempt, processed -> delivered per delivery, the gap between
successive starts on each queue (with a backlog, what one item costs that queue's single
consumer) and when each queue finished its share. Everything (clients, API, workers, simulators)
shares one process and its GIL, so the figures are for comparison between backends and commits,
not a capacity claim.

``servers`` creates a database of its own on the PostgreSQL server named by
``HUB_BENCH_ADMIN_DATABASE_URL`` (default the local server's ``postgres`` database) and drops it
afterwards; it uses ``HUB_BROKER_URL`` (default the local RabbitMQ) under a fresh queue prefix whose
queues and exchange are deleted afterwards. Results go to ``bench/results/step-up-<backend>.json``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import logging
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from lxml import etree
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from stdnum.gb import nhs

from bench.throughput import percentile, redact
from hub.api.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.crypto import new_key_spec
from hub.registry import register
from hub.settings import Settings
from hub.store.tables import AuditEntry, DeadLetter, Delivery, DeliveryAttempt, InboxMessage
from hub.worker import Worker
from mappings.layers import GOLDEN_DIR
from simulators.caf_system import CafSystemSimulator
from simulators.case_system import CaseSystemSimulator
from simulators.directory import DirectorySimulator
from simulators.peer import PeerState
from simulators.server import ServerThread

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
RESULTS_DIR = Path(__file__).parent / "results"
REFERRAL = GOLDEN_DIR / "caf_system/standard/referral-to-social-care/hannah-step-up/wire.xml"
CAF_NS = "urn:childrens-hub:caf:1"
NS = {"c": CAF_NS}
CAF, CASE, DIRECTORY = "caf-national", "lcs", "directory"
# what one new child's referral owes each simulated system
EXPECTED = {
    (CASE, "referral-to-social-care"): 1,
    (CAF, "tac-member-added"): 1,
    (CAF, "responsibility-transferred"): 1,
    (CAF, "referral-acknowledged"): 1,
    (DIRECTORY, "involvement-changed"): 1,
}
PER_SYSTEM = {system: sum(n for (to, _), n in EXPECTED.items() if to == system)
              for system, _ in EXPECTED}
PER_REFERRAL = sum(EXPECTED.values())
GIVEN = ["Hannah", "Amira", "Bella", "Chloe", "Daisy", "Esme", "Freya", "Grace", "Isla", "Jade",
         "Keira", "Lily", "Maya", "Nia", "Olivia", "Poppy", "Rosa", "Sofia", "Tia", "Zara"]
POLL_SECONDS = 0.01
PROGRESS_SECONDS = 5.0

console = Console()
log = logging.getLogger("bench.step_up")


# --------------------------------------------------------------------------- the hub under test


@dataclass
class Rig:
    hub: Hub
    url: str
    caf_token: str
    peers: dict[str, PeerState]


def _autocommit(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@contextmanager
def own_database(admin_url: str) -> Iterator[str]:
    """A database of this run's own on the PostgreSQL server, dropped however the run ends."""
    name = f"hub_bench_{uuid.uuid4().hex[:10]}"
    _autocommit(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _autocommit(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(data_dir: Path, database_url: str | None, broker_url: str | None) -> Settings:
    """The integration tests' settings: a fresh key and queue prefix, short retries and relay
    interval, the duty team's contact for the directory."""
    return Settings(
        data_dir=data_dir, database_url=database_url, broker_url=broker_url,
        queue_prefix=f"bench-{uuid.uuid4().hex[:8]}", encryption_keys=new_key_spec("bench-1"),
        delivery_max_attempts=3, delivery_backoff_initial=0.01, delivery_backoff_max=0.05,
        relay_interval=0.2, delivery_timeout=5.0, mappings_dir=data_dir / "authority-mappings",
        duty_team_phone="01632 960500", duty_team_email="duty@csc.example",
    )


def delete_broker_objects(hub: Hub) -> None:
    """Delete this run's queues and exchange on RabbitMQ (the embedded broker goes with its file)."""
    if hub.broker.embedded:
        return
    prefix = hub.settings.queue_prefix
    keys = ["inbound", "deadletter"] + [f"deliver.{system}" for system in (CAF, CASE, DIRECTORY)]
    with hub.broker.connect() as connection:
        for key in keys:
            try:
                connection.channel().queue_delete(f"{prefix}.{key}")
            except Exception as error:
                log.warning("could not delete queue %s.%s: %s", prefix, key, error)
        try:
            connection.channel().exchange_delete(prefix)
        except Exception as error:
            log.warning("could not delete exchange %s: %s", prefix, error)


@contextmanager
def running_hub(backend: str, admin_url: str, broker_url: str) -> Iterator[Rig]:
    """API and workers on ``backend``, the three simulated systems registered; torn down in
    reverse order however the run ends."""
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-")))
        database_url = None
        if backend == "servers":
            database_url = stack.enter_context(own_database(admin_url))
        settings = make_settings(data_dir, database_url,
                                 broker_url if backend == "servers" else None)
        caf, case, directory = (CafSystemSimulator(), CaseSystemSimulator("supplier-a"),
                                DirectorySimulator())
        servers = {}
        for system, peer in ((CAF, caf), (CASE, case), (DIRECTORY, directory)):
            servers[system] = ServerThread(peer.app).start()
            stack.callback(servers[system].stop)
        hub = bootstrap(settings, migrate=True)
        stack.callback(hub.close)
        stack.callback(delete_broker_objects, hub)
        with hub.database.transaction() as session:
            caf_token = register(session, CAF, "National eCAF (bench)", "caf_system",
                                 servers[CAF].url).token
            register(session, CASE, "Children's social care (bench)", "case_system",
                     servers[CASE].url, profile="supplier-a")
            register(session, DIRECTORY, "Directory (bench)", "directory", servers[DIRECTORY].url)
        worker = Worker(hub)
        worker.start()
        stack.callback(worker.stop)
        api = ServerThread(create_app(hub)).start()
        stack.callback(api.stop)
        yield Rig(hub, api.url, caf_token,
                  {CAF: caf.state, CASE: case.state, DIRECTORY: directory.state})


# --------------------------------------------------------------------------- referrals


def nhs_numbers(count: int, seed: int) -> list[str]:
    """``count`` distinct valid NHS numbers in the 999 test range, from a run-specific start."""
    numbers: list[str] = []
    base = seed % (1_000_000 - 2 * count - 100)
    while len(numbers) < count:
        stem = f"999{base:06d}"
        base += 1
        check = -nhs.checksum(stem + "0") % 11  # weights 10..2 on the stem, 1 on the check digit
        if check == 10:  # no valid number has this stem
            continue
        number = stem + str(check)
        if nhs.is_valid(number):
            numbers.append(number)
    return numbers


def letters(index: int, width: int = 3) -> str:
    """``index`` as lower-case letters, fixed width: 0 -> 'aaa', 1 -> 'aab'."""
    out = ""
    for _ in range(width):
        index, digit = divmod(index, 26)
        out = chr(ord("a") + digit) + out
    return out


def _set(root: etree._Element, path: str, value: str) -> None:
    [node] = root.xpath(path, namespaces=NS)
    node.text = value


class Referrals:
    """Hannah's golden referral, re-dated to now, made into a new child for each number."""

    def __init__(self, run_id: str, count: int):
        body = REFERRAL.read_bytes().replace(b"2027-01-", b"2026-11-")
        self.template = etree.fromstring(body)
        self.run_id = run_id
        self.nhs = nhs_numbers(count, seed=int(run_id, 16))

    def message_id(self, phase: str, index: int) -> str:
        return f"stepup-{self.run_id}-{phase}-{index:06d}"

    def body(self, child: int, phase: str, index: int) -> bytes:
        root = copy.deepcopy(self.template)
        tag = f"{self.run_id}-{child:05d}"
        [header] = root.xpath("c:header", namespaces=NS)
        header.set("messageId", self.message_id(phase, index))
        header.set("correlationId", f"step-up-{tag}")
        _set(root, "c:child/c:cafChildId", f"CAF-C-{tag}")
        _set(root, "c:child/c:nhsNumber", self.nhs[child])
        _set(root, "c:child/c:directoryId", f"DIR-{tag}")
        _set(root, "c:child/c:name/c:given", GIVEN[child % len(GIVEN)])
        # family name and date of birth make the partial demographic key: keep them unique,
        # or the hub rightly holds the referral for an identity review
        _set(root, "c:child/c:name/c:family", f"Ex{letters(child)}")
        _set(root, "c:child/c:postcode",
                 f"NF{child % 9 + 1} {child % 10}{letters(child // 10, 2).upper()}")
        [episode] = root.xpath("c:episode", namespaces=NS)
        episode.set("id", f"EP-{tag}")
        _set(root, "c:referral/c:referralId", f"REF-CAF-{tag}")
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --------------------------------------------------------------------------- load


def delivered(rig: Rig) -> dict[str, int]:
    counts = {}
    for system, state in rig.peers.items():
        with state.lock:
            counts[system] = len(state.received)
    return counts


def post(rig: Rig, http: httpx.Client, body: bytes) -> httpx.Response:
    return http.post(f"/v1/systems/{CAF}/messages", content=body)


def client(rig: Rig) -> httpx.Client:
    return httpx.Client(base_url=rig.url, timeout=60, headers={
        "Authorization": f"Bearer {rig.caf_token}", "Content-Type": "application/xml"})


def warm_up(rig: Rig, body: bytes, timeout: float = 60.0) -> None:
    """One referral through the whole path first, so connections and consumers are up."""
    before = delivered(rig)
    with client(rig) as http:
        reply = post(rig, http, body)
    if reply.status_code != 202:
        raise RuntimeError(f"warm-up referral refused: {reply.status_code} {reply.text[:300]}")
    deadline = time.monotonic() + timeout
    while any(delivered(rig)[s] - before[s] < PER_SYSTEM[s] for s in PER_SYSTEM):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the warm-up referral's deliveries did not all arrive: "
                               f"{delivered(rig)} (before {before})")
        time.sleep(POLL_SECONDS)


@dataclass
class Phase:
    name: str
    referrals: int
    rate: float | None  # offered referrals/s, None for as fast as the clients can
    statuses: list[int | str | None]
    accept_s: list[float | None]
    lag_s: list[float | None]  # how late each send started against its schedule
    send_at: list[float | None]
    started: float = 0.0
    sent_by: float | None = None
    all_delivered_at: float | None = None
    delivered: int = 0
    progress: list[dict[str, Any]] = field(default_factory=list)


def run_phase(rig: Rig, name: str, bodies: list[bytes], clients: int, rate: float | None,
              timeout: float, stall: float, owed: dict[str, int] | None = None) -> Phase:
    """Send ``bodies`` from ``clients`` threads (at ``rate`` per second, or as fast as they go)
    and wait until the simulators hold what each body ``owed`` them (default: a step-up
    referral's five deliveries), showing progress as it goes."""
    owed = PER_SYSTEM if owed is None else owed
    total = len(bodies)
    phase = Phase(name, total, rate, [None] * total, [None] * total, [None] * total,
                  [None] * total)
    baseline = delivered(rig)
    want = total * sum(owed.values())
    cursor, cursor_lock = iter(range(total)), threading.Lock()
    go = threading.Barrier(clients + 1)

    def send() -> None:
        with client(rig) as http:
            go.wait()
            while True:
                with cursor_lock:
                    index = next(cursor, None)
                if index is None:
                    return
                if rate is not None:
                    due = phase.started + index / rate
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    phase.lag_s[index] = max(0.0, time.perf_counter() - due)
                begun = time.perf_counter()
                phase.send_at[index] = begun - phase.started
                try:
                    phase.statuses[index] = post(rig, http, bodies[index]).status_code
                except httpx.HTTPError as error:
                    phase.statuses[index] = type(error).__name__
                phase.accept_s[index] = time.perf_counter() - begun

    threads = [threading.Thread(target=send, name=f"bench-client-{n}", daemon=True)
               for n in range(clients)]
    for thread in threads:
        thread.start()
    phase.started = time.perf_counter()
    go.wait()
    deadline = phase.started + timeout
    next_report = phase.started + PROGRESS_SECONDS
    last_change, last_count = phase.started, 0
    progress = Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True)
    answering = progress.add_task(f"{name}: answered", total=total)
    delivering = progress.add_task(f"{name}: deliveries", total=want)
    progress.start()
    while True:
        now = time.perf_counter()
        counts = delivered(rig)
        count = sum(counts[s] - baseline[s] for s in owed)
        progress.update(answering, completed=sum(1 for status in phase.statuses if status is not None))
        progress.update(delivering, completed=count)
        if count != last_count:
            last_change, last_count = now, count
        phase.delivered = count
        if phase.sent_by is None and not any(thread.is_alive() for thread in threads):
            phase.sent_by = now
        if count >= want:
            phase.all_delivered_at = now
        if (phase.sent_by is not None and phase.all_delivered_at is not None) or now > deadline:
            break
        if phase.sent_by is not None and now - max(last_change, phase.sent_by) > stall:
            console.print(f"[yellow]no delivery for {stall:.0f}s after the last send: giving up[/]")
            break
        if now >= next_report:
            answered = sum(1 for status in phase.statuses if status is not None)
            phase.progress.append({"t_s": round(now - phase.started, 1), "answered": answered,
                                   "delivered": count})
            next_report += PROGRESS_SECONDS
        time.sleep(POLL_SECONDS)
    progress.stop()
    if phase.sent_by is None:
        phase.sent_by = time.perf_counter()
    return phase


# --------------------------------------------------------------------------- figures


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def spread_ms(seconds: list[float]) -> dict[str, Any]:
    return {
        "n": len(seconds),
        "p50": ms(percentile(seconds, 0.50)), "p95": ms(percentile(seconds, 0.95)),
        "p99": ms(percentile(seconds, 0.99)), "max": ms(max(seconds) if seconds else None),
        "mean": ms(sum(seconds) / len(seconds) if seconds else None),
    }


INTAKE_ACTIONS = {"message.received"}
DELIVERY_ACTIONS = ("disclosure", "delivery.")


def from_store(hub: Hub, message_ids: list[str]) -> dict[str, Any]:
    """Each referral's receipt-to-last-delivery latency and stage breakdown from the store.

    The store has no "processing started" column: the first audit entry the processing
    transaction writes for the message (the consent it observed, the child it opened) stands in
    for it, so "received -> processing" is the wait on the inbound queue and "processing" the
    flow itself up to its commit. Each delivery's first attempt splits "processed -> delivered"
    into the wait on its destination's queue, the HTTP call, and the commit after it.
    """
    with hub.database.read() as session:
        inbox = session.execute(
            select(InboxMessage.message_id, InboxMessage.status, InboxMessage.received_at,
                   InboxMessage.processed_at)
            .where(InboxMessage.source_message_id.in_(message_ids))
        ).all()
        ours = [row.message_id for row in inbox] or [""]
        deliveries = session.execute(
            select(Delivery.delivery_id, Delivery.message_id, Delivery.destination,
                   Delivery.message_type, Delivery.status, Delivery.attempts,
                   Delivery.completed_at)
            .where(Delivery.message_id.in_(ours))
        ).all()
        attempts = {row.delivery_id: row for row in session.execute(
            select(DeliveryAttempt.delivery_id, DeliveryAttempt.started_at,
                   DeliveryAttempt.duration_ms)
            .join(Delivery, Delivery.delivery_id == DeliveryAttempt.delivery_id)
            .where(Delivery.message_id.in_(ours), DeliveryAttempt.number == 1)
        ).all()}
        started: dict[str, datetime] = {}
        for message_id, action, recorded_at in session.execute(
            select(AuditEntry.message_id, AuditEntry.action, AuditEntry.recorded_at)
            .where(AuditEntry.message_id.in_(ours))
        ).all():
            if action in INTAKE_ACTIONS or action.startswith(DELIVERY_ACTIONS):
                continue
            if message_id not in started or recorded_at < started[message_id]:
                started[message_id] = recorded_at
        dead = len(session.execute(
            select(DeadLetter.dead_letter_id).where(DeadLetter.message_id.in_(ours))
        ).all())

    def gaps(times: list[datetime]) -> list[float]:
        ordered = sorted(times)
        return [(b - a).total_seconds() for a, b in itertools.pairwise(ordered)]

    def gap(begin: datetime | None, end: datetime | None) -> float | None:
        return None if begin is None or end is None else (end - begin).total_seconds()

    by_message: dict[str, list[Any]] = defaultdict(list)
    for row in deliveries:
        by_message[row.message_id].append(row)
    stage: dict[str, list[float]] = defaultdict(list)
    per_delivery: dict[str, list[float]] = defaultdict(list)

    def add(name: str, value: float | None, into: dict[str, list[float]] = stage) -> None:
        if value is not None:
            into[name].append(value)

    complete = 0
    for row in inbox:
        add("received -> processing", gap(row.received_at, started.get(row.message_id)))
        add("processing", gap(started.get(row.message_id), row.processed_at))
        add("received -> processed", gap(row.received_at, row.processed_at))
        done = [d for d in by_message.get(row.message_id, [])
                if d.status == "delivered" and d.completed_at is not None]
        for d in done:
            first = attempts.get(d.delivery_id)
            add(f"{d.destination} {d.message_type}", gap(row.processed_at, d.completed_at),
                per_delivery)
            if first is not None:
                add("processed -> attempt (delivery queue)", gap(row.processed_at, first.started_at))
                add("attempt (HTTP to the simulator)", first.duration_ms / 1000)
        if Counter((d.destination, d.message_type) for d in done) != Counter(EXPECTED):
            continue
        complete += 1
        last = max(d.completed_at for d in done)
        add("processed -> last delivered", gap(row.processed_at, last))
        add("received -> first delivered",
            gap(row.received_at, min(d.completed_at for d in done)))
        add("received -> last delivered", gap(row.received_at, last))
    # with a queue backed up, the gap between successive starts is what one item costs its
    # consumer (one thread per queue): the flow, its commit, publishing, acknowledging, fetching
    cycles = {"inbound": sorted(started.values())}
    for d in deliveries:
        if d.delivery_id in attempts:
            cycles.setdefault(d.destination, []).append(attempts[d.delivery_id].started_at)
    ends = [d.completed_at for d in deliveries if d.completed_at is not None]
    first_receipt = min((row.received_at for row in inbox), default=None)
    window = gap(first_receipt, max(ends)) if inbox and ends else None
    # when each queue finished its share, from the phase's first receipt: a destination queue
    # still draining long after the last referral was processed is the one holding things up
    finished = {"inbound (last processed)": max(
        (row.processed_at for row in inbox if row.processed_at is not None), default=None)}
    for d in deliveries:
        if d.completed_at is not None:
            name = f"{d.destination} (last delivered)"
            finished[name] = max(d.completed_at, finished.get(name) or d.completed_at)
    order = ["received -> processing", "processing", "received -> processed",
             "processed -> attempt (delivery queue)", "attempt (HTTP to the simulator)",
             "processed -> last delivered", "received -> first delivered",
             "received -> last delivered"]
    return {
        "referrals_in_store": len(inbox),
        "complete_referrals": complete,
        "inbox_status": dict(Counter(row.status for row in inbox)),
        "delivery_status": dict(Counter(d.status for d in deliveries)),
        "deliveries_retried": sum(1 for d in deliveries if d.attempts > 1),
        "dead_letters": dead,
        "store_window_s": round(window, 3) if window is not None else None,
        "store_referrals_per_s": round(complete / window, 2) if window else None,
        "latency_ms": spread_ms(stage["received -> last delivered"]),
        "stages_ms": {name: spread_ms(stage[name]) for name in order},
        "processed_to_delivered_ms": {
            name: spread_ms(values) for name, values in sorted(per_delivery.items())
        },
        "finished_s_after_first_receipt": {
            name: round(gap(first_receipt, at), 3) if at and first_receipt else None
            for name, at in finished.items()
        },
        "consumer_gap_ms": {queue: spread_ms(gaps(times)) for queue, times in sorted(cycles.items())},
    }


def settled_store(hub: Hub, message_ids: list[str], timeout: float = 15.0) -> dict[str, Any]:
    """The store's figures once it records every delivery the simulators already hold (the
    courier commits "delivered" just after the destination answers)."""
    deadline = time.monotonic() + timeout
    while True:
        figures = from_store(hub, message_ids)
        if figures["complete_referrals"] >= len(message_ids) or time.monotonic() > deadline:
            return figures
        time.sleep(0.1)


def summarise_phase(rig: Rig, phase: Phase, message_ids: list[str]) -> dict[str, Any]:
    codes = Counter(str(status) for status in phase.statuses)
    accepted = codes.pop("202", 0)
    accept = [s for status, s in zip(phase.statuses, phase.accept_s, strict=True)
              if status == 202 and s is not None]
    sends = sorted(t for t in phase.send_at if t is not None)
    sending = (sends[-1] - sends[0]) if len(sends) > 1 else None
    end = phase.all_delivered_at or time.perf_counter()
    elapsed = end - phase.started
    want = phase.referrals * PER_REFERRAL
    return {
        "referrals": phase.referrals,
        "offered_rate_per_s": round(phase.rate, 2) if phase.rate else None,
        "achieved_send_rate_per_s": (round((len(sends) - 1) / sending, 2)
                                     if sending else None),
        "send_lag_ms": spread_ms([s for s in phase.lag_s if s is not None])
        if phase.rate else None,
        "accepted": accepted,
        "other_responses": dict(codes),
        "accept_latency_ms": spread_ms(accept),
        "sending_s": round(phase.sent_by - phase.started, 3) if phase.sent_by else None,
        "deliveries_at_simulators": phase.delivered,
        "deliveries_expected": want,
        "complete": phase.all_delivered_at is not None,
        "seconds_to_all_delivered": round(elapsed, 3),
        "referrals_per_s": round(phase.referrals / elapsed, 2)
        if phase.all_delivered_at else round(phase.delivered / PER_REFERRAL / elapsed, 2),
        "progress": phase.progress,
        **settled_store(rig.hub, message_ids),
    }


def show(result: dict[str, Any]) -> None:
    top, paced = result["maximum"], result["latency"]
    table = Table(title=f"step-up end to end: {result['backend']} backend, "
                        f"{result['clients']} clients")
    table.add_column("measure")
    table.add_column("maximum", justify="right")
    table.add_column("fixed load", justify="right")

    def both(label: str, key: Any) -> None:
        table.add_row(label, str(key(top)), str(key(paced)))

    both("referrals", lambda p: p["referrals"])
    both("offered rate", lambda p: "as fast as possible" if p["offered_rate_per_s"] is None
         else f"{p['offered_rate_per_s']} /s")
    both("achieved send rate", lambda p: f"{p['achieved_send_rate_per_s']} /s")
    both("accepted (202)", lambda p: f"{p['accepted']} / {p['referrals']}"
         + (f" ({p['other_responses']})" if p["other_responses"] else ""))
    both("accept latency p50 / p95", lambda p: f"{p['accept_latency_ms']['p50']} / "
                                               f"{p['accept_latency_ms']['p95']} ms")
    both("deliveries at simulators", lambda p: f"{p['deliveries_at_simulators']} / "
         f"{p['deliveries_expected']}" + ("" if p["complete"] else " (INCOMPLETE)"))
    both("first send -> all delivered", lambda p: f"{p['seconds_to_all_delivered']:.2f} s")
    both("referrals per second", lambda p: f"{p['referrals_per_s']}")
    both("complete referrals (store)", lambda p: f"{p['complete_referrals']} / {p['referrals']}")
    both("receipt -> last delivery p50", lambda p: f"{p['latency_ms']['p50']} ms")
    both("receipt -> last delivery p95", lambda p: f"{p['latency_ms']['p95']} ms")
    both("receipt -> last delivery p99", lambda p: f"{p['latency_ms']['p99']} ms")
    both("dead letters / retried", lambda p: f"{p['dead_letters']} / {p['deliveries_retried']}")
    console.print(table)

    for label, phase in (("maximum", top), ("fixed load", paced)):
        breakdown = Table(title=f"where a referral's time goes, {label} phase (store timestamps)")
        for column in ("stage", "p50 ms", "p95 ms", "p99 ms"):
            breakdown.add_column(column, justify="left" if column == "stage" else "right")
        for stage, figures in phase["stages_ms"].items():
            breakdown.add_row(stage, *(str(figures[k]) for k in ("p50", "p95", "p99")))
        breakdown.add_row("processed -> delivered, by delivery:", "", "", "")
        for name, figures in phase["processed_to_delivered_ms"].items():
            breakdown.add_row(f"  {name}", *(str(figures[k]) for k in ("p50", "p95", "p99")))
        breakdown.add_row("gap between successive starts, by queue:", "", "", "")
        for name, figures in phase["consumer_gap_ms"].items():
            breakdown.add_row(f"  {name}", *(str(figures[k]) for k in ("p50", "p95", "p99")))
        console.print(breakdown)
        console.print("  finished, seconds after the phase's first receipt: " + ", ".join(
            f"{name} {at}" for name, at in phase["finished_s_after_first_receipt"].items()),
            soft_wrap=True)


# --------------------------------------------------------------------------- command line


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.step_up", description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--backend", choices=["embedded", "servers"], default="embedded")
    parser.add_argument("--referrals", type=int, default=80,
                        help="referrals in the maximum-throughput phase (N)")
    parser.add_argument("--latency-referrals", type=int, default=None,
                        help="referrals in the fixed-load phase (M, default N)")
    parser.add_argument("--rate", type=float, default=None,
                        help="offered referrals/s in the fixed-load phase "
                             "(default half the measured maximum)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (C)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for each phase's deliveries")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="give up a phase after this many seconds without a delivery "
                             "once all are sent")
    args = parser.parse_args(argv)
    if args.latency_referrals is None:
        args.latency_referrals = args.referrals
    if args.referrals < 1 or args.latency_referrals < 1 or args.clients < 1:
        parser.error("--referrals, --latency-referrals and --clients must be at least 1")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    admin_url = os.environ.get("HUB_BENCH_ADMIN_DATABASE_URL", DEFAULT_ADMIN_URL)
    broker_url = os.environ.get("HUB_BROKER_URL", DEFAULT_BROKER_URL)

    run_id = uuid.uuid4().hex[:8]
    n, m = args.referrals, args.latency_referrals
    referrals = Referrals(run_id, 1 + n + m)
    warm = referrals.body(0, "warmup", 0)
    top_bodies = [referrals.body(1 + i, "max", i) for i in range(n)]
    paced_bodies = [referrals.body(1 + n + i, "rate", i) for i in range(m)]
    console.print(f"[bold]{args.backend}[/]: starting the hub, workers and simulated CAF system, "
                  f"case system and directory")
    load_before = os.getloadavg()
    with running_hub(args.backend, admin_url, broker_url) as rig:
        settings = rig.hub.settings
        console.print(f"store {redact(settings.resolved_database_url)}, "
                      f"broker {redact(settings.resolved_broker_url)}, "
                      f"queue prefix {settings.queue_prefix}", soft_wrap=True)
        warm_up(rig, warm)

        console.print(f"maximum: {n} referrals from {args.clients} clients, as fast as they go")
        top = run_phase(rig, "maximum", top_bodies, args.clients, None, args.timeout, args.stall)
        maximum = summarise_phase(rig, top, [referrals.message_id("max", i) for i in range(n)])
        rate = args.rate or max(maximum["referrals_per_s"] / 2, 0.1)
        console.print(f"  maximum {maximum['referrals_per_s']} referrals/s")

        console.print(f"fixed load: {m} referrals at {rate:.2f}/s"
                      + ("" if args.rate else " (half the maximum)"))
        paced = run_phase(rig, "latency", paced_bodies, args.clients, rate, args.timeout,
                          args.stall)
        latency = summarise_phase(rig, paced, [referrals.message_id("rate", i) for i in range(m)])
        result = {
            "backend": args.backend,
            "clients": args.clients,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "store": redact(settings.resolved_database_url),
            "broker": redact(settings.resolved_broker_url),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "platform": platform.platform(),
                        # other work on the machine skews every figure: look here first
                        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
                        "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]},
            "deliveries_per_referral": {f"{s} {t}": c for (s, t), c in EXPECTED.items()},
            "maximum": maximum,
            "latency": latency,
        }
    show(result)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"step-up-{args.backend}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"results written to {out}")
    ok = all(phase["complete"] and phase["complete_referrals"] == phase["referrals"]
             and phase["accepted"] == phase["referrals"] for phase in (maximum, latency))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
